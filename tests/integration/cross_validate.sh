#!/usr/bin/env bash
# Proves that Herald's certificates for one key type are accepted by four
# independent X.509 path validators (OpenSSL, GnuTLS, NSS, pyca/cryptography)
# for their intended use, and rejected by each of them for the wrong purpose,
# the wrong host name, a foreign trust anchor and after expiry.
# The validators are pinned per key type (lib.sh: pinned_validators): every
# type by all four, except Ed25519, which NSS 3.87 and pyca/cryptography do not
# implement; each of those must refuse Herald's Ed25519 chain for exactly that
# reason. At the end the script prints how many certificates each validator
# checked (and records it for `make test`'s summary).
# usage: HERALD_BIN=... cross_validate.sh ec-p256|ec-p384|ed25519|rsa-2048|rsa-3072|rsa-4096
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl certtool vfychain faketime python3 sqlite3

KT=${1:?usage: cross_validate.sh KEYTYPE}
case $KT in
  ec-p256 | ec-p384 | ed25519 | rsa-2048 | rsa-3072 | rsa-4096) ;;
  *) fail "unknown key type '$KT'" ;;
esac

SERVER_OID=1.3.6.1.5.5.7.3.1
CLIENT_OID=1.3.6.1.5.5.7.3.2
HOST=svc.internal
IP=10.1.2.3
CLIENT_NAME=worker.internal
# The reasons a chain to another hierarchy's root (same names, other keys) is
# refused: no path to a trusted issuer. NSS finds the same-name CA and reports
# that its key identifier does not match as -8157 (or -8179, unknown issuer);
# pyca finds it too and reports the signature mismatch.
FOREIGN_OPENSSL_RE='error 20 at [0-9] depth lookup: unable to get local issuer certificate'
FOREIGN_GNUTLS_RE='Not verified\..*The certificate issuer is unknown'
FOREIGN_NSS_RE='ERROR -8157: Certificate extension not found|ERROR -8179: '
FOREIGN_PYCA_RE='^pyca rejected: VerificationError: validation failed: candidates exhausted: signature does not match'

read -r -a VALIDATORS <<<"$(pinned_validators "$KT")"
read -r -a NOT_IMPLEMENTED <<<"$(unsupported_validators "$KT")"
uses() { [[ " ${VALIDATORS[*]} " == *" $1 "* ]]; }

step "pinned for $KT: ${VALIDATORS[*]}${NOT_IMPLEMENTED[*]:+; known not to implement it: ${NOT_IMPLEMENTED[*]}}"
reference_chain "$KT" "$T/ref"
for v in "${VALIDATORS[@]}"; do reference_accepted "$v" "$KT" "$T/ref"; done
for v in "${NOT_IMPLEMENTED[@]}"; do
  # The same refusal for an openssl-made chain: the validator's limit, not Herald's.
  IT_NO_COVERAGE=1
  must_refuse_unsupported "an openssl-made $KT chain" "$v" "$KT" "$T/ref/root.pem" "$T/ref/empty.pem" "$T/ref/root.pem" -- \
    "$T/ref/server.pem" ref.internal
  IT_NO_COVERAGE=0
done

step "herald ca init --key-type $KT"
A="$T/pki"
"$HERALD" ca init --dir "$A" --key-type "$KT" --org "Herald IT $KT"
for f in root intermediate issuing chain; do [[ -s $A/ca/$f.pem ]] || fail "ca init did not write ca/$f.pem"; done
for f in root intermediate issuing; do assert_key_type "$A/ca/$f.pem" "$KT"; done
ROOT="$A/ca/root.pem" ISSUING="$A/ca/issuing.pem" INTER="$A/ca/intermediate.pem" CHAIN="$A/ca/chain.pem"

step "issue a server and a client certificate ($KT)"
herald_issue "$T/server.json" --dir "$A" --profile server --cn "$HOST" --san "dns:$HOST,ip:$IP" \
  --key-type "$KT" --out-dir "$T/server" >/dev/null
herald_issue "$T/client.json" --dir "$A" --profile client --cn "$CLIENT_NAME" --san "dns:$CLIENT_NAME" \
  --key-type "$KT" --out-dir "$T/client" >/dev/null
for d in server client; do
  for f in cert key chain fullchain; do [[ -s $T/$d/$f.pem ]] || fail "issue did not write $d/$f.pem"; done
  assert_key_type "$T/$d/cert.pem" "$KT"
done
SRV="$T/server/cert.pem" CLI="$T/client/cert.pem"

if ((${#NOT_IMPLEMENTED[@]} > 0)); then
  step "${NOT_IMPLEMENTED[*]}: Herald's $KT chain is refused as an unsupported algorithm"
  for v in "${NOT_IMPLEMENTED[@]}"; do
    must_refuse_unsupported "Herald's $KT chain" "$v" "$KT" "$ROOT" "$CHAIN" "$ISSUING" "$INTER" -- "$SRV" "$HOST"
  done
fi
uses nss && must_accept "nss: Herald's $KT CA chain (issuing, intermediate; any CA)" v_nss_ca "$ROOT" "$ISSUING" "$INTER"

step "the server certificate verifies for serverAuth + host name"
uses openssl && must_accept "openssl server $HOST" v_openssl "$ROOT" "$CHAIN" "$SRV" sslserver "$HOST"
uses openssl && must_accept "openssl server $IP" v_openssl "$ROOT" "$CHAIN" "$SRV" sslserver "$IP"
uses gnutls && must_accept "gnutls server $HOST" v_gnutls "$ROOT" "$T/server/chain.pem" $SERVER_OID "$HOST"
uses gnutls && must_accept "gnutls server $IP" v_gnutls "$ROOT" "$T/server/chain.pem" $SERVER_OID "$IP"
uses nss && must_accept "nss server" v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$SRV"
uses pyca && must_accept "pyca server $HOST" v_pyca "$ROOT" "$CHAIN" "$SRV" server "$HOST"
uses pyca && must_accept "pyca server $IP" v_pyca "$ROOT" "$CHAIN" "$SRV" server "$IP"

step "the client certificate verifies for clientAuth"
uses openssl && must_accept "openssl client" v_openssl "$ROOT" "$CHAIN" "$CLI" sslclient
uses gnutls && must_accept "gnutls client" v_gnutls "$ROOT" "$T/client/chain.pem" $CLIENT_OID
uses nss && must_accept "nss client" v_nss 0 "$ROOT" "$ISSUING" "$INTER" "$CLI"
uses pyca && must_accept "pyca client" v_pyca "$ROOT" "$CHAIN" "$CLI" client

step "negative: the client certificate used as a server certificate"
uses openssl && must_reject "openssl client-as-server" 'unsuitable certificate purpose' \
  v_openssl "$ROOT" "$CHAIN" "$CLI" sslserver "$CLIENT_NAME"
uses gnutls && must_reject "gnutls client-as-server" 'intended purpose' \
  v_gnutls "$ROOT" "$T/client/chain.pem" $SERVER_OID "$CLIENT_NAME"
uses nss && must_reject "nss client-as-server" '-8101|-8102' \
  v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$CLI"
uses pyca && must_reject "pyca client-as-server" 'EKU' \
  v_pyca "$ROOT" "$CHAIN" "$CLI" server "$CLIENT_NAME"

step "negative: a host name that is not in the SANs (NSS has no host name check)"
uses openssl && must_reject "openssl wrong host" 'hostname mismatch' \
  v_openssl "$ROOT" "$CHAIN" "$SRV" sslserver other.internal
uses openssl && must_reject "openssl wrong IP" 'IP address mismatch' \
  v_openssl "$ROOT" "$CHAIN" "$SRV" sslserver 10.9.9.9
uses gnutls && must_reject "gnutls wrong host" 'name in the certificate does not match' \
  v_gnutls "$ROOT" "$T/server/chain.pem" $SERVER_OID other.internal
uses gnutls && must_reject "gnutls wrong IP" 'name in the certificate does not match' \
  v_gnutls "$ROOT" "$T/server/chain.pem" $SERVER_OID 10.9.9.9
uses pyca && must_reject "pyca wrong host" 'no matching subjectAltName' \
  v_pyca "$ROOT" "$CHAIN" "$SRV" server other.internal
uses pyca && must_reject "pyca wrong IP" 'no matching subjectAltName' \
  v_pyca "$ROOT" "$CHAIN" "$SRV" server 10.9.9.9

step "negative: a certificate from another hierarchy"
B="$T/other"
"$HERALD" ca init --dir "$B" --key-type "$KT" --org "Herald IT $KT"
OROOT="$B/ca/root.pem"
cmp -s "$OROOT" "$ROOT" && fail "two ca init runs produced the same root"
# A's leaf with A's own intermediates, but B's root as the only trust anchor;
# and A's leaf offered with B's intermediates (same names, other keys). Each
# validator must say that no path reaches a trusted issuer (or that a
# signature does not verify), nothing else.
uses openssl && must_reject "openssl foreign root" "$FOREIGN_OPENSSL_RE" v_openssl "$OROOT" "$CHAIN" "$SRV" sslserver "$HOST"
uses openssl && must_reject "openssl foreign chain" "$FOREIGN_OPENSSL_RE" v_openssl "$OROOT" "$B/ca/chain.pem" "$SRV" sslserver "$HOST"
uses gnutls && must_reject "gnutls foreign root" "$FOREIGN_GNUTLS_RE" v_gnutls "$OROOT" "$T/server/chain.pem" $SERVER_OID "$HOST"
cat "$SRV" "$B/ca/chain.pem" >"$T/server+otherchain.pem"
uses gnutls && must_reject "gnutls foreign chain" "$FOREIGN_GNUTLS_RE" v_gnutls "$OROOT" "$T/server+otherchain.pem" $SERVER_OID "$HOST"
uses nss && must_reject "nss foreign root" "$FOREIGN_NSS_RE" v_nss 1 "$OROOT" "$ISSUING" "$INTER" "$SRV"
uses nss && must_reject "nss foreign chain" "$FOREIGN_NSS_RE" v_nss 1 "$OROOT" "$B/ca/issuing.pem" "$B/ca/intermediate.pem" "$SRV"
uses pyca && must_reject "pyca foreign root" "$FOREIGN_PYCA_RE" v_pyca "$OROOT" "$CHAIN" "$SRV" server "$HOST"
uses pyca && must_reject "pyca foreign chain" "$FOREIGN_PYCA_RE" v_pyca "$OROOT" "$B/ca/chain.pem" "$SRV" server "$HOST"

step "negative: a --ttl 1h certificate is valid now and expired two hours later"
herald_issue "$T/short.json" --dir "$A" --profile server --cn "$HOST" --san "dns:$HOST" \
  --key-type "$KT" --ttl 1h --out-dir "$T/short" >/dev/null
SHORT="$T/short/cert.pem"
na="$(date -u -d "$(openssl x509 -in "$SHORT" -noout -enddate | sed 's/^notAfter=//')" +%s)"
now=$(date -u +%s)
((na > now && na <= now + 3600 + 60)) || fail "--ttl 1h gave notAfter $(date -u -d "@$na"), now is $(date -u -d "@$now")"
later=$((now + 2 * 3600))
uses openssl && must_accept "openssl short-lived now" v_openssl "$ROOT" "$CHAIN" "$SHORT" sslserver "$HOST"
uses openssl && must_reject "openssl expired at now+2h" 'certificate has expired' \
  v_openssl "$ROOT" "$CHAIN" "$SHORT" sslserver "$HOST" -attime "$later"
uses gnutls && must_accept "gnutls short-lived now" v_gnutls "$ROOT" "$T/short/chain.pem" $SERVER_OID "$HOST"
uses gnutls && must_reject "gnutls expired at now+2h" 'expired' \
  v_gnutls "$ROOT" "$T/short/chain.pem" $SERVER_OID "$HOST" --at "$later"
uses nss && must_accept "nss short-lived now" v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$SHORT"
uses nss && must_reject "nss expired at now+2h" '-8181|expired' \
  v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$SHORT" "$(nss_time "$later")"
uses pyca && must_accept "pyca short-lived now" v_pyca "$ROOT" "$CHAIN" "$SHORT" server "$HOST"
uses pyca && must_reject "pyca expired at now+2h" 'not valid at validation time' \
  v_pyca "$ROOT" "$CHAIN" "$SHORT" server "$HOST" "$later"

step "what each validator checked ($KT)"
coverage_report
step "PASS cross_validate $KT (validators: ${VALIDATORS[*]}${NOT_IMPLEMENTED[*]:+; refused as not implementing $KT: ${NOT_IMPLEMENTED[*]}})"
