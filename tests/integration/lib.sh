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

need_tool() {
  local t
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      echo "SKIP: required tool '$t' is not installed"
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
v_pyca() {
  local rc=0
  V_OUT="$(python3 "$PYCA_VERIFY" "$1" "$2" "$3" "$4" "${5:--}" "${6:-}" 2>&1)" || rc=$?
  if [[ $rc == 2 ]]; then
    printf '   pyca could not run:\n%s\n' "$(sed 's/^/     | /' <<<"$V_OUT")" >&2
    return 2
  fi
  _verdict pyca "$rc" '^pyca: OK' '^pyca rejected:'
}

# must_accept WHAT VALIDATOR_CMD...
must_accept() {
  local what=$1 rc=0
  shift
  "$@" || rc=$?
  case $rc in
    0) ok "accepted: $what" ;;
    1) fail "$what: REJECTED by $1, expected acceptance:$(printf '\n%s' "$V_OUT")" ;;
    *) fail "$what: $1 could not run" ;;
  esac
}

# must_reject WHAT REASON_REGEX VALIDATOR_CMD...: the validator rejects, and
# (unless REASON_REGEX is empty) for the expected reason.
must_reject() {
  local what=$1 reason=$2 rc=0
  shift 2
  "$@" || rc=$?
  case $rc in
    0) fail "$what: ACCEPTED by $1, expected rejection:$(printf '\n%s' "$V_OUT")" ;;
    1)
      if [[ -n $reason ]] && ! grep -qiE -- "$reason" <<<"$V_OUT"; then
        fail "$what: $1 rejected, but not for the expected reason /$reason/:$(printf '\n%s' "$V_OUT")"
      fi
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

# Error texts by which a validator says it does not implement an algorithm.
UNSUPPORTED_RE='Forbidden public key algorithm|[Uu]nsupported|not supported|-8049|Unrecognized Object Identifier|-8102|inadequate|insecure algorithm'

# validator_supports VALIDATOR KEYTYPE REFDIR: 0 if VALIDATOR accepts the
# openssl-made reference chain of KEYTYPE. 1 (and a SKIP line) if it rejects
# it with an "unsupported algorithm" error. Anything else fails the test.
validator_supports() {
  local v=$1 kt=$2 d=$3 rc=0
  case $v in
    openssl) v_openssl "$d/root.pem" "$d/empty.pem" "$d/server.pem" sslserver ref.internal || rc=$? ;;
    gnutls) v_gnutls "$d/root.pem" "$d/server+chain.pem" 1.3.6.1.5.5.7.3.1 ref.internal || rc=$? ;;
    nss) v_nss 1 "$d/root.pem" - - "$d/server.pem" || rc=$? ;;
    pyca) v_pyca "$d/root.pem" "$d/empty.pem" "$d/server.pem" server ref.internal || rc=$? ;;
  esac
  case $rc in
    0) return 0 ;;
    1)
      if grep -qE -- "$UNSUPPORTED_RE" <<<"$V_OUT"; then
        local reason
        reason="$(grep -E -- "$UNSUPPORTED_RE" <<<"$V_OUT" | head -1 | sed 's/^[[:space:]]*//')"
        skip "$v $kt: $v rejects even an openssl-made $kt chain: $reason"
        return 1
      fi
      fail "$v rejected the openssl-made $kt reference chain for an unexpected reason (test bug?):$(printf '\n%s' "$V_OUT")"
      ;;
    *) fail "$v could not run on the $kt reference chain" ;;
  esac
}
