# Shared helpers for Herald's end-to-end tests. Source it; do not run it.
#
# Every validator wrapper (v_openssl, v_gnutls, v_nss, v_pyca) returns
#   0 = the validator accepted the chain,
#   1 = the validator rejected it (its verdict text was seen),
#   2 = the validator could not run (usage/IO error: a test bug, never a verdict),
# and leaves the validator's output in $V_OUT.

set -euo pipefail

HERALD="${HERALD_BIN:?HERALD_BIN must point at the herald binary}"
[[ -x $HERALD ]] || { echo "FAIL: HERALD_BIN=$HERALD is not an executable file" >&2; exit 1; }

IT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYCA_VERIFY="$IT_DIR/pyca_verify.py"

T="$(mktemp -d "${TMPDIR:-/tmp}/herald-it.XXXXXX")"
IT_SKIPPING=0
_cleanup() {
  local rc=$?
  # CTest reads 77 as SKIP. Herald never exits 77 (base/error.cc), but guard
  # anyway: only need_tool may skip, any other 77 is a failure.
  if [[ $rc == 77 && $IT_SKIPPING != 1 ]]; then
    echo "FAIL: a command exited 77 (not a skip)" >&2
    rc=1
  fi
  if [[ ${HERALD_KEEP_TMP:-0} == 1 ]]; then
    echo "(kept temp dir $T)"
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap _cleanup EXIT
# Name the command that stopped a script under set -e.
trap 'echo "FAIL: line $LINENO: \`$BASH_COMMAND\` exited with status $?" >&2' ERR

# Test-harness settings, read before the environment is cleaned below:
#   HERALD_REQUIRE_TOOLS=1  a missing tool fails the test (set by the `dev`
#                           test preset, i.e. the README's `make test`);
#                           unset, need_tool skips (exit 77) for a developer
#                           running one script by hand.
#   HERALD_COVERAGE_DIR     where must_accept/must_reject record what each
#                           validator checked (set by CMake for ctest runs);
#                           unset: a file in the temp dir, still summarised.
IT_REQUIRE_TOOLS=${HERALD_REQUIRE_TOOLS:-0}
IT_COVERAGE_DIR=${HERALD_COVERAGE_DIR:-}
# The test's name: the script, plus its first argument if any (sourced without
# arguments, this file sees the script's own "$@").
IT_NAME="$(basename "$0" .sh)${1:+.$1}"

# Isolate from the caller's environment: no inherited data dir, no ~/.pki or
# ~/.java state, and a relative default ./herald-data never lands in the tree.
while read -r v; do
  [[ $v == HERALD_BIN || $v == HERALD_KEEP_TMP ]] || unset "$v"
done < <(compgen -e | grep '^HERALD_' || true)
export HOME="$T/home"
mkdir -p "$HOME"
export TZ=UTC
cd "$T"

V_OUT=""
ERR=""

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
skip() { printf '   SKIP %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# need_tool TOOL...: every TOOL is on the PATH. A missing one fails the test
# under HERALD_REQUIRE_TOOLS=1 (the README's `make test` installs them all
# first); otherwise the script is skipped (exit 77, CTest's "skipped").
need_tool() {
  local t
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      if [[ $IT_REQUIRE_TOOLS == 1 ]]; then
        fail "required tool '$t' is not installed (HERALD_REQUIRE_TOOLS=1: a missing tool is a failure; scripts/install-deps.sh installs it)"
      fi
      echo "SKIP: required tool '$t' is not installed (set HERALD_REQUIRE_TOOLS=1 to make this a failure)"
      IT_SKIPPING=1
      exit 77
    fi
  done
}

# expect_fail CMD...: CMD must exit non-zero (1..125, not a crash) and write
# exactly one non-empty line, "herald: error: ...", on stderr. The line is
# left in $ERR.
expect_fail() {
  local rc=0
  "$@" >"$T/.expect.out" 2>"$T/.expect.err" || rc=$?
  ERR="$(cat "$T/.expect.err")"
  if [[ $rc == 0 ]]; then
    fail "expected failure, got exit 0: $*$(printf '\n  stdout: %s' "$(head -c 2000 "$T/.expect.out")")"
  fi
  if ((rc > 125)); then
    fail "command died (exit $rc) instead of failing cleanly: $*$(printf '\n  stderr: %s' "$ERR")"
  fi
  [[ -n $ERR ]] || fail "failed (exit $rc) with empty stderr: $*"
  local lines
  lines=$(grep -c '' <<<"$ERR")
  if [[ $lines != 1 ]]; then
    fail "error message is not one line ($lines lines) for: $*$(printf '\n---\n%s\n---' "$ERR")"
  fi
  [[ $ERR == "herald: error: "* ]] || fail "error line does not start with 'herald: error: ': $ERR"
  printf '   failed as expected (exit %s): %s\n' "$rc" "$ERR"
}

# err_mentions REGEX WHAT: the last expect_fail error names the problem
# (case-insensitive extended regex).
err_mentions() {
  grep -qiE -- "$1" <<<"$ERR" || fail "error does not name the problem ($2): '$ERR' !~ /$1/"
}

row_count() { sqlite3 "$1/herald.db" 'select count(*) from certificates'; }

# Normalized serial: upper-case hex, no colons, no leading zeros.
norm_serial() {
  local s
  s="$(tr -d ':[:space:]' <<<"$1" | tr '[:lower:]' '[:upper:]' | sed 's/^0*//')"
  echo "${s:-0}"
}
cert_serial() { norm_serial "$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')"; }

# json_get FILE PYEXPR: evaluate a Python expression over the JSON document `d`.
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1" "$2"
}

# herald_issue OUTJSON ARGS...: run `herald issue ARGS --json`, save stdout,
# print the serial.
herald_issue() {
  local out=$1
  shift
  "$HERALD" issue "$@" --json >"$out" || fail "herald issue $* failed"
  local s
  s="$(json_get "$out" 'd["serial"]')" || fail "issue --json output has no serial: $(cat "$out")"
  [[ -n $s ]] || fail "issue --json printed an empty serial"
  echo "$s"
}

count_certs() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1" || true; }

# split_pem FILE PREFIX: PREFIX.1.pem, PREFIX.2.pem, ... one certificate each.
split_pem() {
  awk -v p="$2" '/-----BEGIN CERTIFICATE-----/{n++; f=p "." n ".pem"} f{print > f} /-----END CERTIFICATE-----/{close(f); f=""}' "$1"
}

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'; }

# assert_key_type CERT KEYTYPE: the certificate's public key is KEYTYPE.
assert_key_type() {
  local txt
  txt="$(openssl x509 -in "$1" -noout -text)"
  case $2 in
    ec-p256) grep -q 'ASN1 OID: prime256v1' <<<"$txt" ;;
    ec-p384) grep -q 'ASN1 OID: secp384r1' <<<"$txt" ;;
    ed25519) grep -q 'Public Key Algorithm: ED25519' <<<"$txt" ;;
    rsa-*) grep -q 'Public Key Algorithm: rsaEncryption' <<<"$txt" &&
      grep -q "Public-Key: (${2#rsa-} bit)" <<<"$txt" ;;
    *) fail "unknown key type $2" ;;
  esac || fail "$1 does not carry a $2 public key"
}

# ---------------------------------------------------------------------------
# Validators

_is_ip() { [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $1 == *:* ]]; }

# _verdict NAME RC ACCEPT_RE REJECT_RE: turn a validator run into 0/1/2.
_verdict() {
  local name=$1 rc=$2 acc=$3 rej=$4
  if [[ $rc == 0 ]] && grep -qE -- "$acc" <<<"$V_OUT"; then return 0; fi
  if [[ $rc != 0 ]] && grep -qE -- "$rej" <<<"$V_OUT"; then return 1; fi
  printf '   %s could not run (exit %s):\n%s\n' "$name" "$rc" "$(sed 's/^/     | /' <<<"$V_OUT")" >&2
  return 2
}

# v_openssl ROOT CHAIN LEAF sslserver|sslclient [HOST|-] [extra openssl verify args...]
v_openssl() {
  local root=$1 chain=$2 leaf=$3 purpose=$4 host=${5:--}
  V_NAME=openssl V_LEAF=$leaf
  shift 4
  (($# > 0)) && shift
  local args=(-x509_strict -CAfile "$root" -purpose "$purpose")
  [[ -s $chain ]] && args+=(-untrusted "$chain")
  if [[ $host != - ]]; then
    if _is_ip "$host"; then args+=(-verify_ip "$host"); else args+=(-verify_hostname "$host"); fi
  fi
  local rc=0
  V_OUT="$(openssl verify "${args[@]}" "$@" "$leaf" 2>&1)" || rc=$?
  _verdict openssl "$rc" ': OK$' 'verification failed'
}

# v_gnutls ROOT LEAF_PLUS_CHAIN PURPOSE_OID [HOST|-] [--at EPOCH] [other certtool args, e.g. --load-crl F]
# --at runs certtool under faketime (certtool has no time option).
v_gnutls() {
  local root=$1 infile=$2 oid=$3 host=${4:--}
  V_NAME=gnutls V_LEAF=$infile
  shift 3
  (($# > 0)) && shift
  local pre=() args=(--verify --verify-profile medium --load-ca-certificate "$root" --infile "$infile" --verify-purpose "$oid")
  [[ $host != - ]] && args+=(--verify-hostname "$host")
  while (($# > 0)); do
    if [[ $1 == --at ]]; then
      pre=(env TZ=UTC faketime "$(date -u -d "@$2" '+%Y-%m-%d %H:%M:%S')")
      shift 2
    else
      args+=("$1")
      shift
    fi
  done
  local rc=0
  V_OUT="$("${pre[@]}" certtool "${args[@]}" 2>&1)" || rc=$?
  _verdict gnutls "$rc" 'Chain verification output: Verified\.' 'Chain verification output: Not verified\.'
}

# v_nss USAGE(1 server|0 client) ROOT ISSUING INTERMEDIATE LEAF [YYMMDDHHMMZ|-] [CRL_DB [leaf|chain]]
# With CRL_DB (an NSS sql: database holding the CRLs) revocation is checked
# for the leaf (default) or for the whole chain.
v_nss() {
  local usage=$1 root=$2 issuing=$3 inter=$4 leaf=$5 when=${6:--} db=${7:-} scope=${8:-leaf}
  V_NAME=nss V_LEAF=$leaf
  local args=(-pp -u "$usage")
  [[ $when != - ]] && args+=(-b "$when")
  [[ -n $db ]] && args+=(-d "sql:$db" -g "$scope" -m crl -s requireInfo -s failIfNoInfo)
  args+=(-a "$leaf")
  [[ -n $issuing && $issuing != - ]] && args+=(-a "$issuing")
  [[ -n $inter && $inter != - ]] && args+=(-a "$inter")
  args+=(-t -a "$root")
  local rc=0
  V_OUT="$(vfychain "${args[@]}" 2>&1)" || rc=$?
  _verdict nss "$rc" '^Chain is good!' '^Chain is bad!'
}

# nss_crl_db DIR CRL.pem...: a fresh NSS database holding these CRLs.
nss_crl_db() {
  local db=$1
  shift
  rm -rf "$db" && mkdir -p "$db"
  certutil -N -d "sql:$db" --empty-password >/dev/null
  local c
  for c in "$@"; do
    openssl crl -in "$c" -outform DER -out "$db/import.der"
    # -B: import without the issuer in the db; vfychain checks the signature.
    crlutil -I -d "sql:$db" -i "$db/import.der" -B >/dev/null 2>&1 || true
  done
  local n
  n=$(crlutil -L -d "sql:$db" 2>/dev/null | grep -c ' CRL *$' || true)
  [[ $n == "$#" ]] || fail "NSS imported $n of $# CRLs into $db"
}

# NSS's -b wants YYMMDDHHMMZ.
nss_time() { date -u -d "@$1" '+%y%m%d%H%MZ'; }

# v_pyca ROOT CHAIN LEAF server|client [HOST|-] [EPOCH]
# pyca_verify.py exits 1 only for the library's VerificationError; 2 (usage or
# input) and 3 (any other exception) are test errors, never a rejection.
v_pyca() {
  local rc=0
  V_NAME=pyca V_LEAF=$3
  V_OUT="$(python3 "$PYCA_VERIFY" "$1" "$2" "$3" "$4" "${5:--}" "${6:-}" 2>&1)" || rc=$?
  if [[ $rc != 0 && $rc != 1 ]]; then
    printf '   pyca could not run (exit %s):\n%s\n' "$rc" "$(sed 's/^/     | /' <<<"$V_OUT")" >&2
    return 2
  fi
  _verdict pyca "$rc" '^pyca: OK' '^pyca rejected: VerificationError: '
}

# must_accept WHAT VALIDATOR_CMD...
must_accept() {
  local what=$1 rc=0
  shift
  V_NAME="" V_LEAF=""
  "$@" || rc=$?
  case $rc in
    0)
      coverage_record accept "$what"
      ok "accepted: $what"
      ;;
    1) fail "$what: REJECTED by $1, expected acceptance:$(printf '\n%s' "$V_OUT")" ;;
    *) fail "$what: $1 could not run" ;;
  esac
}

# must_reject WHAT REASON_REGEX VALIDATOR_CMD...: the validator rejects, and
# (unless REASON_REGEX is empty) for the expected reason.
must_reject() {
  local what=$1 reason=$2 rc=0
  shift 2
  V_NAME="" V_LEAF=""
  "$@" || rc=$?
  case $rc in
    0) fail "$what: ACCEPTED by $1, expected rejection:$(printf '\n%s' "$V_OUT")" ;;
    1)
      if [[ -n $reason ]] && ! grep -qiE -- "$reason" <<<"$V_OUT"; then
        fail "$what: $1 rejected, but not for the expected reason /$reason/:$(printf '\n%s' "$V_OUT")"
      fi
      coverage_record reject "$what"
      ok "rejected: $what"
      ;;
    *) fail "$what: $1 could not run" ;;
  esac
}

# ---------------------------------------------------------------------------
# Reference chains made by openssl itself, to tell "this validator cannot
# handle this key type" apart from "Herald made a bad certificate".

_ref_genkey() {
  case $1 in
    ec-p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
    ec-p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$2" ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$2" ;;
    rsa-*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa-}" -out "$2" ;;
    *) fail "unknown key type $1" ;;
  esac 2>/dev/null
}

# reference_chain KEYTYPE DIR: DIR/{root,server,server+chain}.pem, a root and a
# serverAuth leaf for ref.internal, both of KEYTYPE, made by openssl.
reference_chain() {
  local kt=$1 d=$2 md=(-sha256)
  [[ $kt == ed25519 ]] && md=()
  mkdir -p "$d"
  _ref_genkey "$kt" "$d/root.key"
  _ref_genkey "$kt" "$d/server.key"
  local ku=digitalSignature
  [[ $kt == rsa-* ]] && ku=digitalSignature,keyEncipherment
  cat >"$d/ext.cnf" <<EOF
[root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[server]
basicConstraints=critical,CA:FALSE
keyUsage=critical,$ku
extendedKeyUsage=serverAuth
subjectAltName=DNS:ref.internal
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
  openssl req -x509 -new -key "$d/root.key" "${md[@]}" -subj "/O=Reference/CN=Reference Root" \
    -days 30 -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n'; cat "$d/ext.cnf") \
    -extensions root -out "$d/root.pem" 2>/dev/null
  openssl req -new -key "$d/server.key" "${md[@]}" -subj "/CN=ref.internal" \
    -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n') -out "$d/server.csr" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/root.pem" -CAkey "$d/root.key" -set_serial 0x4d2 \
    "${md[@]}" -days 10 -extfile "$d/ext.cnf" -extensions server -out "$d/server.pem" 2>/dev/null
  cat "$d/server.pem" >"$d/server+chain.pem"
  : >"$d/empty.pem"
}

# ---------------------------------------------------------------------------
# Which validators check which key type: pinned, never probed at run time
# (issue #16). A validator in neither list for a key type fails the test.

# pinned_validators KEYTYPE: the validators that must accept Herald's chains.
pinned_validators() {
  case $1 in
    ed25519) echo "openssl gnutls" ;;
    ec-p256 | ec-p384 | ec-p521 | rsa-2048 | rsa-3072 | rsa-4096) echo "openssl gnutls nss pyca" ;;
    *) fail "no pinned validator set for key type '$1'" ;;
  esac
}
# unsupported_validators KEYTYPE: the validators known not to implement it;
# each must refuse Herald's chain (and an openssl-made one) for exactly that
# reason (must_refuse_unsupported), so a new version that does implement it,
# or a refusal for another reason, fails the test.
unsupported_validators() {
  case $1 in
    ed25519) echo "nss pyca" ;;
    *) echo "" ;;
  esac
}
# The specific "does not implement this algorithm" refusals:
#  NSS 3.87: the Ed25519 key/signature OID is unknown to it, reported when it
#   checks a CA signature as SEC_ERROR_UNRECOGNIZED_OID. (Checking a leaf for
#   TLS it stops earlier with -8102 "key usage inadequate", which is also its
#   error for a real key-usage defect, so that is never taken as the reason.)
#  pyca/cryptography: its verifier's policy refuses the key algorithm.
UNSUPPORTED_NSS_RE='ERROR -8049: Unrecognized Object Identifier'
UNSUPPORTED_PYCA_RE='^pyca rejected: VerificationError: .*Forbidden public key algorithm.*Ed25519'

# v_nss_ca ROOT CA_CERT [CA_CERT...]: NSS verifies the CA chain up to ROOT
# (usage "any CA"), so that it must check a CA signature.
v_nss_ca() {
  local root=$1
  shift
  V_NAME=nss V_LEAF=$1
  local args=(-pp -u 11) c rc=0
  for c in "$@"; do args+=(-a "$c"); done
  args+=(-t -a "$root")
  V_OUT="$(vfychain "${args[@]}" 2>&1)" || rc=$?
  _verdict nss "$rc" '^Chain is good!' '^Chain is bad!'
}

# must_refuse_unsupported WHAT VALIDATOR KEYTYPE ROOT CHAIN_FILE CA_CERT... -- LEAF HOST:
# VALIDATOR, known not to implement KEYTYPE, refuses this chain for exactly
# that reason. NSS is asked about the CA certificates (CA_CERT..., issuing
# first), pyca about LEAF for serverAuth + HOST with CHAIN_FILE.
must_refuse_unsupported() {
  local what=$1 v=$2 kt=$3 root=$4 chainf=$5
  shift 5
  local cas=()
  while [[ $1 != -- ]]; do cas+=("$1"); shift; done
  shift
  local leaf=$1 host=$2 rc=0 re
  [[ " $(unsupported_validators "$kt") " == *" $v "* ]] || fail "$v is not pinned as unsupported for $kt"
  case $v in
    nss) re=$UNSUPPORTED_NSS_RE; v_nss_ca "$root" "${cas[@]}" || rc=$? ;;
    pyca) re=$UNSUPPORTED_PYCA_RE; v_pyca "$root" "$chainf" "$leaf" server "$host" || rc=$? ;;
    *) fail "no unsupported-algorithm check for $v" ;;
  esac
  case $rc in
    0) fail "$what: $v ACCEPTED a $kt chain; it is pinned as not implementing $kt: update the pinned sets in lib.sh:$(printf '\n%s' "$V_OUT")" ;;
    1)
      grep -qE -- "$re" <<<"$V_OUT" ||
        fail "$what: $v refused the $kt chain, but not as an unsupported algorithm (/$re/):$(printf '\n%s' "$V_OUT")"
      coverage_record unsupported "$what"
      ok "$v refuses $what as an unsupported algorithm: $(grep -E -- "$re" <<<"$V_OUT" | head -1 | cut -c1-160)"
      ;;
    *) fail "$what: $v could not run" ;;
  esac
}

# reference_accepted VALIDATOR KEYTYPE REFDIR: VALIDATOR, pinned for KEYTYPE,
# accepts the openssl-made reference chain (a sanity check of the tool and of
# the wrapper, before Herald's chains are judged).
reference_accepted() {
  local v=$1 kt=$2 d=$3
  IT_NO_COVERAGE=1
  case $v in
    openssl) must_accept "$v: openssl-made $kt reference chain" v_openssl "$d/root.pem" "$d/empty.pem" "$d/server.pem" sslserver ref.internal ;;
    gnutls) must_accept "$v: openssl-made $kt reference chain" v_gnutls "$d/root.pem" "$d/server+chain.pem" 1.3.6.1.5.5.7.3.1 ref.internal ;;
    nss) must_accept "$v: openssl-made $kt reference chain" v_nss 1 "$d/root.pem" - - "$d/server.pem" ;;
    pyca) must_accept "$v: openssl-made $kt reference chain" v_pyca "$d/root.pem" "$d/empty.pem" "$d/server.pem" server ref.internal ;;
    *) fail "unknown validator $v" ;;
  esac
  IT_NO_COVERAGE=0
}

# ---------------------------------------------------------------------------
# Coverage: what each validator checked, one line per passed must_accept,
# must_reject or must_refuse_unsupported, in $COVERAGE_FILE:
#   VALIDATOR  KEYTYPE  LEAF_SHA256  accept|reject|unsupported  WHAT
# Reference chains (made by openssl, not Herald) are not counted.
# coverage_summary.py prints and checks them (`make test` runs it at the end).

IT_NO_COVERAGE=0
if [[ -n $IT_COVERAGE_DIR ]]; then
  mkdir -p "$IT_COVERAGE_DIR"
  COVERAGE_FILE="$IT_COVERAGE_DIR/$IT_NAME.tsv"
else
  COVERAGE_FILE="$T/.coverage/$IT_NAME.tsv"
  mkdir -p "$T/.coverage"
fi
: >"$COVERAGE_FILE"

# cert_key_type FILE: ec-p256|ec-p384|ec-p521|ed25519|rsa-BITS|other-... of the first certificate.
cert_key_type() {
  local txt
  txt="$(openssl x509 -in "$1" -noout -text 2>/dev/null)" || {
    echo unreadable
    return 0
  }
  if grep -q 'ASN1 OID: prime256v1' <<<"$txt"; then
    echo ec-p256
  elif grep -q 'ASN1 OID: secp384r1' <<<"$txt"; then
    echo ec-p384
  elif grep -q 'ASN1 OID: secp521r1' <<<"$txt"; then
    echo ec-p521
  elif grep -q 'Public Key Algorithm: ED25519' <<<"$txt"; then
    echo ed25519
  elif grep -q 'Public Key Algorithm: rsaEncryption' <<<"$txt"; then
    echo "rsa-$(sed -n 's/^ *Public-Key: (\([0-9]*\) bit)$/\1/p' <<<"$txt" | head -1)"
  else
    echo "other-$(sed -n 's/^ *Public Key Algorithm: //p' <<<"$txt" | head -1)"
  fi
}

# coverage_record accept|reject|unsupported WHAT: after a validator wrapper
# (which set V_NAME and V_LEAF) gave the expected verdict.
coverage_record() {
  [[ -n ${V_NAME:-} && -n ${V_LEAF:-} && $IT_NO_COVERAGE != 1 ]] || return 0
  local kt fp
  kt=$(cert_key_type "$V_LEAF")
  fp=$(openssl x509 -in "$V_LEAF" -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//;s/://g')
  printf '%s\t%s\t%s\t%s\t%s\n' "$V_NAME" "$kt" "${fp:-unreadable}" "$1" "${2//$'\t'/ }" >>"$COVERAGE_FILE"
}

# coverage_report: print what each validator checked in this script.
coverage_report() {
  python3 "$IT_DIR/coverage_summary.py" "$COVERAGE_FILE"
}

# validate_issued WHAT ROOT CHAIN LEAF [HOST...]: every validator pinned for
# the key types of LEAF, its CAs (CHAIN: the intermediates, issuing CA first)
# and ROOT accepts LEAF for its purpose: with HOSTs, serverAuth for each HOST
# (NSS has no host name check: once); without, the purpose its extended key
# usage names (serverAuth for its first SAN, else clientAuth). Used for
# certificates issued through the REST API and ACME, so that they are checked
# by the same validators as the CLI-issued ones in cross_validate.sh.
validate_issued() {
  local what=$1 root=$2 chain=$3 leaf=$4
  shift 4
  local hosts=("$@")
  need_tool openssl certtool vfychain python3
  [[ -s $leaf ]] || fail "$what: no certificate file $leaf"
  [[ -s $chain ]] || fail "$what: no chain file $chain"
  local d
  d=$(mktemp -d "$T/.validate.XXXXXX")
  split_pem "$chain" "$d/ca"
  local cas=() i=1
  while [[ -s $d/ca.$i.pem ]]; do cas+=("$d/ca.$i.pem"); i=$((i + 1)); done
  ((${#cas[@]} >= 1 && ${#cas[@]} <= 2)) || fail "$what: the chain holds ${#cas[@]} certificates, expected 1 or 2 (issuing, intermediate)"
  cat "$leaf" "${cas[@]}" >"$d/leaf+chain.pem"
  # Ed25519 anywhere in the chain limits the set to the validators pinned for it.
  local kt c set="" k
  kt=$(cert_key_type "$leaf")
  set=$(pinned_validators "$kt")
  for c in "${cas[@]}" "$root"; do
    k=$(cert_key_type "$c")
    pinned_validators "$k" >/dev/null
    [[ $k == ed25519 ]] && set=$(pinned_validators ed25519)
  done
  local eku purpose
  eku=$(openssl x509 -in "$leaf" -noout -ext extendedKeyUsage 2>/dev/null || true)
  if ((${#hosts[@]} > 0)); then
    purpose=server
  elif grep -q 'TLS Web Server Authentication' <<<"$eku"; then
    purpose=server
    local san
    san=$(openssl x509 -in "$leaf" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr , '\n' |
      sed -n 's/^DNS://p;s/^IPAddress://p' | head -1)
    [[ -n $san ]] || fail "$what: a serverAuth certificate without a DNS or IP SAN"
    hosts=("$san")
  elif grep -q 'TLS Web Client Authentication' <<<"$eku"; then
    purpose=client
  else
    fail "$what: no serverAuth or clientAuth in the extended key usage: '$eku'"
  fi
  local inter=- v h
  ((${#cas[@]} == 2)) && inter=${cas[1]}
  for v in $set; do
    case $v:$purpose in
      openssl:server) for h in "${hosts[@]}"; do must_accept "$what (openssl, serverAuth $h)" v_openssl "$root" "$chain" "$leaf" sslserver "$h"; done ;;
      openssl:client) must_accept "$what (openssl, clientAuth)" v_openssl "$root" "$chain" "$leaf" sslclient ;;
      gnutls:server) for h in "${hosts[@]}"; do must_accept "$what (gnutls, serverAuth $h)" v_gnutls "$root" "$d/leaf+chain.pem" 1.3.6.1.5.5.7.3.1 "$h"; done ;;
      gnutls:client) must_accept "$what (gnutls, clientAuth)" v_gnutls "$root" "$d/leaf+chain.pem" 1.3.6.1.5.5.7.3.2 ;;
      nss:server) must_accept "$what (nss, SSL server)" v_nss 1 "$root" "${cas[0]}" "$inter" "$leaf" ;;
      nss:client) must_accept "$what (nss, SSL client)" v_nss 0 "$root" "${cas[0]}" "$inter" "$leaf" ;;
      pyca:server) for h in "${hosts[@]}"; do must_accept "$what (pyca, serverAuth $h)" v_pyca "$root" "$chain" "$leaf" server "$h"; done ;;
      pyca:client) must_accept "$what (pyca, clientAuth)" v_pyca "$root" "$chain" "$leaf" client ;;
    esac
  done
}

# hv NAME EXPECTED_EXIT [args...]: herald verify, text then --json; $OUT is
# the text, $CODE the first finding's code ("valid" when none).
hv() {
  local name=$1 want=$2 rc=0
  shift 2
  "$HERALD" verify "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  OUT=$(cat "$T/$name.out")
  [[ $rc == "$want" ]] || fail "$name: herald verify exited $rc, expected $want:$(printf '\n%s\n%s' "$OUT" "$(cat "$T/$name.err")")"
  rc=0
  "$HERALD" verify "$@" --json >"$T/$name.json" 2>/dev/null || rc=$?
  [[ $rc == "$want" ]] || fail "$name --json: exit $rc, expected $want"
  CODE=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["findings"][0]["code"] if d["findings"] else ("valid" if d["valid"] else "none"))' "$T/$name.json")
  printf '   %s: exit %s, %s\n' "$name" "$rc" "$CODE"
}
