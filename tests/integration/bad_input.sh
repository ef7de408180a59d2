#!/usr/bin/env bash
# Proves that Herald refuses bad input cleanly: every bad request exits
# non-zero with one `herald: error:` line naming the problem and stores
# nothing; `ca init` never overwrites a hierarchy; and the data directory
# keeps its secrets private (modes, encrypted CA keys).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl python3 sqlite3

D="$T/pki"

step "ca init and one good certificate"
"$HERALD" ca init --dir "$D"
herald_issue "$T/first.json" --dir "$D" --profile server --cn first.internal --san dns:first.internal --out-dir "$T/first" >/dev/null
ROWS=$(row_count "$D")
[[ $ROWS -ge 1 ]] || fail "row_count is $ROWS after one issue"
echo "   certificates in the store: $ROWS"

# unchanged: the store still holds $ROWS certificates and OUT was not written.
unchanged() {
  local n
  n=$(row_count "$D")
  [[ $n == "$ROWS" ]] || fail "certificate count changed from $ROWS to $n after a failed command"
  [[ ! -e $T/never.pem ]] || fail "a failed command wrote its --out file"
}

step "make CSRs: good (PEM, DER), malformed PEM, truncated DER, bad signature, disallowed name, RSA-1024"
mkcsr() { # mkcsr OUT PEM|DER CN SAN [-newkey spec and -pkeyopt args; default EC P-256]
  local out=$1 form=$2 cn=$3 san=$4
  shift 4
  (($# > 0)) || set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256
  openssl req -new "$@" -nodes -keyout "$T/csr.key" -subj "/CN=$cn" -addext "subjectAltName=$san" \
    -outform "$form" -out "$out" 2>/dev/null || fail "openssl req could not make $out"
}
mkcsr "$T/good.pem" PEM csr.internal DNS:csr.internal
mkcsr "$T/good.der" DER csr.internal DNS:csr.internal
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nThis is not base64 at all!!\n-----END CERTIFICATE REQUEST-----\n' >"$T/malformed.pem"
head -c 100 "$T/good.der" >"$T/truncated.der"
python3 - "$T/good.der" "$T/badsig.der" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-1] ^= 0x01  # last byte of the signature value
open(sys.argv[2], "wb").write(b)
EOF
python3 - "$T/badsig.der" <<'EOF' || fail "the bad-signature CSR is not what this test needs (test bug)"
import sys
from cryptography import x509
csr = x509.load_der_x509_csr(open(sys.argv[1], "rb").read())  # still parses
assert not csr.is_signature_valid, "signature still valid"
EOF
mkcsr "$T/google.pem" PEM www.google.com DNS:www.google.com
mkcsr "$T/rsa1024.pem" PEM weak.internal DNS:weak.internal -newkey rsa:1024

step "the good CSRs are accepted (PEM and DER), so the rejections below are about the flaw"
"$HERALD" sign --dir "$D" --csr "$T/good.pem" --profile server --out "$T/signed-pem.pem"
"$HERALD" sign --dir "$D" --csr "$T/good.der" --profile server --out "$T/signed-der.pem"
openssl x509 -in "$T/signed-der.pem" -noout || fail "sign --csr DER did not write a certificate"
ROWS=$(row_count "$D")

step "sign --csr with malformed PEM"
expect_fail "$HERALD" sign --dir "$D" --csr "$T/malformed.pem" --profile server --out "$T/never.pem"
err_mentions 'csr|pem|base64|decode|parse|malformed|invalid' "malformed PEM"
unchanged

step "sign --csr with truncated DER"
expect_fail "$HERALD" sign --dir "$D" --csr "$T/truncated.der" --profile server --out "$T/never.pem"
err_mentions 'csr|der|truncat|decode|parse|malformed|invalid' "truncated DER"
unchanged

step "sign --csr with a bad signature"
expect_fail "$HERALD" sign --dir "$D" --csr "$T/badsig.der" --profile server --out "$T/never.pem"
err_mentions 'signature' "bad CSR signature"
unchanged

step "sign --csr for a name the policy does not allow (www.google.com)"
expect_fail "$HERALD" sign --dir "$D" --csr "$T/google.pem" --profile server --out "$T/never.pem"
err_mentions 'www\.google\.com|polic|not allowed|disallowed|not permitted' "disallowed name"
unchanged

step "issue --san for a name the policy does not allow"
expect_fail "$HERALD" issue --dir "$D" --profile server --cn www.google.com --san dns:www.google.com --out-dir "$T/never"
err_mentions 'www\.google\.com|polic|not allowed|disallowed|not permitted' "disallowed name"
[[ ! -e $T/never ]] || fail "a failed issue created its --out-dir"
unchanged

step "issue --ttl 5000d (over the server cap)"
expect_fail "$HERALD" issue --dir "$D" --profile server --cn long.internal --san dns:long.internal --ttl 5000d --out-dir "$T/never"
err_mentions 'ttl|5000|397|exceed|maximum|max|cap|too long' "TTL over the cap"
[[ ! -e $T/never ]] || fail "a failed issue created its --out-dir"
unchanged

step "sign an RSA-1024 CSR"
expect_fail "$HERALD" sign --dir "$D" --csr "$T/rsa1024.pem" --profile server --out "$T/never.pem"
err_mentions 'rsa|1024|key size|bits|weak|too small|too short' "RSA-1024 key"
unchanged

step "--profile bogus"
expect_fail "$HERALD" issue --dir "$D" --profile bogus --cn bogus.internal --san dns:bogus.internal --out-dir "$T/never"
err_mentions 'bogus|profile' "unknown profile"
unchanged
expect_fail "$HERALD" sign --dir "$D" --csr "$T/good.pem" --profile bogus --out "$T/never.pem"
err_mentions 'bogus|profile' "unknown profile"
unchanged

step "wrong issuing passphrase"
echo "definitely not the passphrase" >"$T/wrong.pass"
expect_fail "$HERALD" issue --dir "$D" --profile server --cn pw.internal --san dns:pw.internal \
  --issuing-passphrase-file "$T/wrong.pass" --out-dir "$T/never"
err_mentions 'passphrase|password|decrypt' "wrong passphrase"
[[ ! -e $T/never ]] || fail "a failed issue created its --out-dir"
unchanged
expect_fail "$HERALD" issue --dir "$D" --profile server --cn pw.internal --san dns:pw.internal \
  --issuing-passphrase-file "$T/no-such.pass" --out-dir "$T/never"
err_mentions 'no-such\.pass|not found|no such|cannot|could not|unable' "missing passphrase file"
unchanged

step "missing data dir"
expect_fail "$HERALD" issue --dir /nonexistent/x --profile server --cn x.internal --san dns:x.internal --out-dir "$T/never"
err_mentions '/nonexistent/x|not found|no such|does not exist|not initiali|ca init' "missing data dir"
[[ ! -e /nonexistent/x ]] || fail "herald created /nonexistent/x"
expect_fail "$HERALD" list --dir "$T/empty-dir-that-does-not-exist"
err_mentions 'empty-dir-that-does-not-exist|not found|no such|does not exist|not initiali|ca init' "missing data dir"
[[ ! -e $T/empty-dir-that-does-not-exist ]] || fail "herald list created the missing data dir"
unchanged

step "ca init on an existing hierarchy refuses and changes nothing"
snapshot() { (cd "$D" && find . -type f | sort | xargs sha256sum); }
snapshot >"$T/before.sha"
expect_fail "$HERALD" ca init --dir "$D"
err_mentions 'exist|already|initiali' "existing hierarchy"
expect_fail "$HERALD" ca init --dir "$D" --key-type rsa-2048 --org Other
err_mentions 'exist|already|initiali' "existing hierarchy"
snapshot >"$T/after.sha"
diff "$T/before.sha" "$T/after.sha" || fail "ca init on an existing hierarchy changed files"
ok "no file changed"

step "modes of secrets and keys"
mode() { stat -c %a "$1"; }
[[ $(mode "$D/secrets") == 700 ]] || fail "secrets/ has mode $(mode "$D/secrets"), want 700"
[[ $(mode "$D/keys") == 700 ]] || fail "keys/ has mode $(mode "$D/keys"), want 700"
shopt -s nullglob
keys=("$D"/keys/*.pem) passes=("$D"/secrets/*.pass)
shopt -u nullglob
((${#keys[@]} >= 3)) || fail "keys/ holds ${#keys[@]} .pem files, want root, intermediate, issuing"
((${#passes[@]} >= 3)) || fail "secrets/ holds ${#passes[@]} .pass files, want root, intermediate, issuing"
for f in "${keys[@]}" "${passes[@]}"; do
  [[ $(mode "$f") == 600 ]] || fail "$f has mode $(mode "$f"), want 600"
done
for f in "${passes[@]}"; do [[ -s $f ]] || fail "$f is empty"; done
ok "secrets/ keys/ 700; ${#keys[@]} keys and ${#passes[@]} passphrase files 600"

step "CA private keys are encrypted, no plaintext key anywhere in the data dir"
for f in "${keys[@]}"; do
  [[ "$(head -n1 "$f")" == "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]] || fail "$f begins with '$(head -n1 "$f")'"
done
# Issued leaves' keys (issued/<serial>/key.pem) are the caller's; all else must hold no plaintext key.
# find_keys REGEX: files under $D (outside issued/) whose text matches REGEX.
find_keys() {
  local rc=0
  grep -rlaE --exclude-dir=issued -e "$1" "$D" || rc=$?
  ((rc <= 1)) || fail "grep failed (exit $rc)"
}
plain="$(find_keys '-----BEGIN (RSA |EC |)PRIVATE KEY-----')"
[[ -z $plain ]] || fail "plaintext private key in: $plain"
while IFS= read -r f; do
  [[ -z $f || "$(head -n1 "$f")" == "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]] ||
    fail "private key file $f does not begin with an ENCRYPTED PRIVATE KEY header"
done <<<"$(find_keys '-----BEGIN [A-Z ]*PRIVATE KEY-----' | grep -v '/herald\.db' || true)"
for k in root intermediate issuing; do
  openssl pkey -in "$D/keys/$k.key.pem" -passin "file:$D/secrets/$k.pass" -noout ||
    fail "keys/$k.key.pem does not open with secrets/$k.pass"
done
ok "encrypted, and each opens with its passphrase file"

step "PASS bad_input"
