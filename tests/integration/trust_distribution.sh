#!/usr/bin/env bash
# Trust between organisations, end to end:
#  - `herald trust export` writes the trust package (the same archive as
#    GET /v1/ca/trust-package) with a manifest.json whose fingerprints, URLs
#    and file hashes agree with the files;
#  - `herald trust import` refuses a wrong fingerprint (naming both values), a
#    leaf, an expired and a not-yet-valid root, an RSA-1024 root, an EC root
#    with explicit curve parameters, our own root, an invalid and a reused name,
#    and records a good partner root (audit log, `trust list`);
#  - `herald serve` publishes own + partner roots at /v1/trust/bundle with an
#    ETag (If-None-Match -> 304) and Cache-Control, follows imports and
#    removals while running, and the SPIFFE bundle at /v1/spiffe/bundle;
#  - partner side: with the bundle as the only trust, `openssl verify` accepts
#    a certificate of the partner CA (its intermediates untrusted) and refuses
#    one of a third, unimported CA.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 tar faketime

step "three CAs: ours (served), a partner's, and a third one nobody imports"
serve_init "$T/pki"
"$HERALD" ca init --dir "$T/partner" --org "Partner Corp" >/dev/null 2>&1 || fail "partner ca init"
"$HERALD" ca init --dir "$T/third" --org "Third Party" >/dev/null 2>&1 || fail "third ca init"
PROOT="$T/partner/ca/root.pem" PCHAIN="$T/partner/ca/chain.pem"
TROOT="$T/third/ca/root.pem" TCHAIN="$T/third/ca/chain.pem"
herald_issue "$T/p.json" --dir "$T/partner" --profile server --cn svc.partner.internal --out-dir "$T/pleaf" >/dev/null
herald_issue "$T/t.json" --dir "$T/third" --profile server --cn svc.third.internal --out-dir "$T/tleaf" >/dev/null
herald_issue "$T/o.json" --dir "$D" --profile server --cn web.own.internal --out-dir "$T/oleaf" >/dev/null
ok "partner root $(fingerprint "$PROOT")"

step "trust export: the package with its manifest"
"$HERALD" trust export --dir "$D" --out "$T/pkg.tar" >"$T/export.log" || fail "trust export failed"
grep -q "$(fingerprint "$ROOT")" "$T/export.log" || fail "export did not print the root's SHA-256: $(cat "$T/export.log")"
mkdir "$T/pkg"
tar -xf "$T/pkg.tar" -C "$T/pkg" || fail "the export is not a tar archive"
for f in root.pem intermediate.pem ca-bundle.pem endpoints.json fingerprints.txt README.txt manifest.json root.crl; do
  [[ -s $T/pkg/herald-trust/$f ]] || fail "the package lacks $f: $(tar -tf "$T/pkg.tar" | tr '\n' ' ')"
done
cmp -s "$T/pkg/herald-trust/root.pem" "$ROOT" || fail "the package's root.pem is not ca/root.pem"
M="$T/pkg/herald-trust/manifest.json"
python3 - "$M" "$T/pkg/herald-trust" "$(fingerprint "$ROOT")" "$(fingerprint "$INTER")" "$PUB" <<'PY' || fail "manifest.json disagrees with the package"
import hashlib, json, os, sys
m, d, root_fp, inter_fp, pub = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
assert m["format"] == "herald-trust-package" and m["version"] == 1, m
assert [r["fingerprint_sha256"] for r in m["roots"]] == [root_fp], m["roots"]
assert m["roots"][0]["file"] == "root.pem", m["roots"]
assert [r["fingerprint_sha256"] for r in m["intermediates"]] == [inter_fp], m["intermediates"]
assert m["ocsp_urls"] == [pub + "/ocsp"], m["ocsp_urls"]
assert m["crl_urls"]["issuing"] == pub + "/crl/issuing.crl", m["crl_urls"]
names = sorted(os.listdir(d))
assert sorted(f["name"] for f in m["files"]) == sorted(n for n in names if n != "manifest.json"), (m["files"], names)
for f in m["files"]:
    data = open(os.path.join(d, f["name"]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f
print("   manifest: %d roots, %d intermediates, %d files hashed" % (len(m["roots"]), len(m["intermediates"]), len(m["files"])))
PY
grep -q manifest.json "$T/pkg/herald-trust/README.txt" || fail "README.txt does not mention manifest.json"
ok "package: root, intermediate, CRLs, URLs, fingerprints, README and a manifest that matches"
expect_fail "$HERALD" trust export --dir "$D" --out "$T/pkg.tar"
err_mentions 'overwrite' "an existing --out is not overwritten without --force"
"$HERALD" trust export --dir "$D" --out "$T/pkg.tar" --force >/dev/null || fail "export --force failed"
"$HERALD" trust export --dir "$D" --out - >"$T/stdout.tar" || fail "export to stdout failed"
tar -tf "$T/stdout.tar" >"$T/stdout.list" || fail "export to stdout is not a tar archive"
grep -qx 'herald-trust/manifest.json' "$T/stdout.list" || fail "export to stdout is not the archive"

step "trust import refuses what it must"
PFP=$(fingerprint "$PROOT")
WRONG=$(fingerprint "$TROOT")
expect_fail "$HERALD" trust import "$PROOT" --dir "$D" --name partner --fingerprint "$WRONG"
err_mentions 'mismatch' "a wrong fingerprint"
err_mentions "$PFP" "the certificate's real fingerprint"
err_mentions "$WRONG" "the fingerprint given"
expect_fail "$HERALD" trust import "$T/pleaf/cert.pem" --dir "$D" --name partner --fingerprint "$(fingerprint "$T/pleaf/cert.pem")"
err_mentions 'not a CA' "a leaf certificate"
# An expired root: made a year ago with a one-day lifetime.
cat >"$T/ca.cnf" <<'CNF'
[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
CNF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/old.key" 2>/dev/null
faketime "$(date -u -d '-1 year' '+%Y-%m-%d %H:%M:%S')" openssl req -x509 -new -key "$T/old.key" -sha256 \
  -subj "/O=Old/CN=Expired Root" -days 1 -config "$T/ca.cnf" -extensions ca -out "$T/expired.pem" 2>/dev/null ||
  fail "cannot make an expired root with faketime"
expect_fail "$HERALD" trust import "$T/expired.pem" --dir "$D" --name old --fingerprint "$(fingerprint "$T/expired.pem")"
err_mentions 'expired' "an expired root"
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$T/weak.key" -sha256 -subj "/CN=Weak Root" -days 30 \
  -config "$T/ca.cnf" -extensions ca -out "$T/weak.pem" 2>/dev/null || fail "cannot make an RSA-1024 root"
expect_fail "$HERALD" trust import "$T/weak.pem" --dir "$D" --name weak --fingerprint "$(fingerprint "$T/weak.pem")"
err_mentions 'weak key: RSA 1024' "an RSA-1024 root"
faketime "$(date -u -d '+2 days' '+%Y-%m-%d %H:%M:%S')" openssl req -x509 -new -key "$T/old.key" -sha256 \
  -subj "/O=Future/CN=Future Root" -days 30 -config "$T/ca.cnf" -extensions ca -out "$T/future.pem" 2>/dev/null ||
  fail "cannot make a not-yet-valid root with faketime"
expect_fail "$HERALD" trust import "$T/future.pem" --dir "$D" --name future --fingerprint "$(fingerprint "$T/future.pem")"
err_mentions 'not yet valid' "a root valid from the day after tomorrow"
openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout -out "$T/explicit.key" 2>/dev/null
openssl req -x509 -new -key "$T/explicit.key" -sha256 -subj "/CN=Explicit Curve Root" -days 30 \
  -config "$T/ca.cnf" -extensions ca -out "$T/explicit.pem" 2>/dev/null || fail "cannot make an explicit-curve root"
openssl x509 -in "$T/explicit.pem" -noout -text | grep -q 'Field Type: prime-field' || fail "the explicit-curve root has a named curve"
expect_fail "$HERALD" trust import "$T/explicit.pem" --dir "$D" --name explicit --fingerprint "$(fingerprint "$T/explicit.pem")"
err_mentions 'explicit curve parameters' "an EC root with explicit curve parameters"
expect_fail "$HERALD" trust import "$PROOT" --dir "$D" --name ../evil --fingerprint "$PFP"
err_mentions 'invalid partner name' "a name that is a path"
expect_fail "$HERALD" trust import "$ROOT" --dir "$D" --name self --fingerprint "$(fingerprint "$ROOT")"
err_mentions 'own root' "our own root"
[[ ! -e $D/partners/partners.json ]] || fail "a refused import wrote the manifest"

step "trust import records a good partner root"
"$HERALD" trust import "$PROOT" --dir "$D" --name partner --fingerprint "$PFP" >"$T/import.log" 2>&1 ||
  fail "import of the partner root failed: $(cat "$T/import.log")"
cmp -s "$D/partners/partner.pem" "$PROOT" || fail "partners/partner.pem is not the partner root"
[[ $(json_get "$D/partners/partners.json" 'd["partners"][0]["fingerprint_sha256"]') == "$PFP" ]] || fail "manifest fingerprint"
[[ $(sqlite3 "$D/herald.db" "select count(*) from audit_log where action='trust_import' and detail like '%$PFP%'") == 1 ]] ||
  fail "the import is not in the audit log"
# Lower case without colons is the same fingerprint; the name is taken now.
LOWER=$(tr -d ':' <<<"$WRONG" | tr '[:upper:]' '[:lower:]')
expect_fail "$HERALD" trust import "$TROOT" --dir "$D" --name partner --fingerprint "$LOWER"
err_mentions 'already exists' "a name in use"
"$HERALD" trust list --dir "$D" --json >"$T/list.json" || fail "trust list --json failed"
[[ $(json_get "$T/list.json" 'd["own"][0]["fingerprint_sha256"]') == "$(fingerprint "$ROOT")" ]] || fail "list: own root"
[[ $(json_get "$T/list.json" '[p["name"] for p in d["partners"]]') == '["partner"]' ]] || fail "list: partners $(cat "$T/list.json")"
[[ $(json_get "$T/list.json" 'd["partners"][0]["fingerprint_sha256"]') == "$PFP" ]] || fail "list: partner fingerprint"
[[ $(json_get "$T/list.json" 'd["partners"][0]["status"]') == valid ]] || fail "list: partner status"
"$HERALD" trust list --dir "$D" | grep -q "^partner .*valid" || fail "trust list (text) does not show the partner"
ok "partner recorded: file, manifest, audit log, trust list"

step "herald serve: /v1/trust/bundle with ETag, Cache-Control and 304"
serve_start "$D"
curl -sS --fail -D "$T/h1" -o "$T/bundle.pem" "$PUB/v1/trust/bundle" || fail "GET /v1/trust/bundle failed"
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/h1" | tr -d '\r')
[[ $ETAG == \"*\" ]] || fail "no quoted ETag: $(cat "$T/h1")"
grep -qi '^cache-control: .*max-age=[1-9]' "$T/h1" || fail "no Cache-Control max-age: $(cat "$T/h1")"
[[ $(count_certs "$T/bundle.pem") == 2 ]] || fail "the bundle holds $(count_certs "$T/bundle.pem") certificates, expected 2"
split_pem "$T/bundle.pem" "$T/b"
[[ $(fingerprint "$T/b.1.pem") == "$(fingerprint "$ROOT")" ]] || fail "the bundle's first certificate is not our root"
[[ $(fingerprint "$T/b.2.pem") == "$PFP" ]] || fail "the bundle's second certificate is not the partner root"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$PUB/v1/trust/bundle")
[[ $code == 304 ]] || fail "If-None-Match with the ETag gave $code, expected 304"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'If-None-Match: "stale"' "$PUB/v1/trust/bundle")
[[ $code == 200 ]] || fail "If-None-Match with another tag gave $code, expected 200"
curl -sS --fail --cacert "$ROOT" -o "$T/bundle.https.pem" "$API/v1/trust/bundle" || fail "GET over HTTPS failed"
cmp -s "$T/bundle.pem" "$T/bundle.https.pem" || fail "HTTP and HTTPS bundles differ"
curl -sS --fail -o "$T/metrics.txt" "$PUB/metrics" || fail "GET /metrics failed"
PNA=$(date -u -d "$(openssl x509 -in "$PROOT" -noout -enddate | cut -d= -f2)" +%s)
grep -E "^herald_trust_anchor_not_after_seconds\{kind=\"partner\",name=\"partner\"\} $PNA(\.0+)?$" "$T/metrics.txt" >/dev/null ||
  fail "no expiry metric for the partner root (expected $PNA): $(grep herald_trust_anchor "$T/metrics.txt" || true)"
grep -q '^herald_trust_anchor_not_after_seconds{kind="own",' "$T/metrics.txt" || fail "no expiry metric for our root"
ok "ETag $ETAG, 304 on If-None-Match, same over HTTPS"

step "partner side: the bundle verifies the partner's certificates, not a third CA's"
must_accept "partner leaf with the bundle (partner intermediates untrusted)" \
  v_openssl "$T/bundle.pem" "$PCHAIN" "$T/pleaf/cert.pem" sslserver svc.partner.internal
must_accept "our own leaf with the bundle" \
  v_openssl "$T/bundle.pem" "$CHAIN" "$T/oleaf/cert.pem" sslserver web.own.internal
must_reject "third-CA leaf with the bundle" 'unable to get (local )?issuer certificate' \
  v_openssl "$T/bundle.pem" "$TCHAIN" "$T/tleaf/cert.pem" sslserver svc.third.internal

step "imports and removals reach the running server"
"$HERALD" trust import "$TROOT" --dir "$D" --name third --fingerprint "$LOWER" >/dev/null 2>&1 || fail "import third"
for _ in $(seq 50); do
  curl -sS -D "$T/h2" -o "$T/bundle2.pem" "$PUB/v1/trust/bundle"
  [[ $(count_certs "$T/bundle2.pem") == 3 ]] && break
  sleep 0.1
done
[[ $(count_certs "$T/bundle2.pem") == 3 ]] || fail "the server did not publish the new partner within 5 s"
ETAG2=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/h2" | tr -d '\r')
[[ $ETAG2 != "$ETAG" ]] || fail "new content, same ETag"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$PUB/v1/trust/bundle")
[[ $code == 200 ]] || fail "the old ETag still gave $code after the change"
must_accept "third-CA leaf once the third CA is imported" \
  v_openssl "$T/bundle2.pem" "$TCHAIN" "$T/tleaf/cert.pem" sslserver svc.third.internal
"$HERALD" trust remove --dir "$D" third >/dev/null || fail "trust remove third"
[[ ! -e $D/partners/third.pem ]] || fail "remove left partners/third.pem"
[[ $(sqlite3 "$D/herald.db" "select count(*) from audit_log where action='trust_remove'") == 1 ]] || fail "remove not audited"
for _ in $(seq 50); do
  curl -sS -D "$T/h3" -o "$T/bundle3.pem" "$PUB/v1/trust/bundle"
  [[ $(count_certs "$T/bundle3.pem") == 2 ]] && break
  sleep 0.1
done
cmp -s "$T/bundle3.pem" "$T/bundle.pem" || fail "after the removal the bundle is not the one before the import"
[[ $(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/h3" | tr -d '\r') == "$ETAG" ]] || fail "same content, different ETag"
expect_fail "$HERALD" trust remove --dir "$D" third
err_mentions 'no partner' "removing an unknown partner"
ok "import published within a second, removal withdrawn, ETag follows the content"

step "a partner file replaced by hand: the server keeps the last good bundle and says why"
cp "$D/partners/partner.pem" "$T/partner.saved.pem"
cp "$TROOT" "$D/partners/partner.pem"
kill -HUP "$SERVE_PID"
for _ in $(seq 50); do grep -q 'cannot rebuild the trust bundles' "$SERVE_LOG" && break; sleep 0.1; done
grep -q 'cannot rebuild the trust bundles.*SHA-256' "$SERVE_LOG" || fail "no log line for the tampered partner file: $(tail -5 "$SERVE_LOG")"
curl -sS --fail -o "$T/bundle4.pem" "$PUB/v1/trust/bundle" || fail "bundle after tampering"
cmp -s "$T/bundle4.pem" "$T/bundle.pem" || fail "a tampered partner file changed the served bundle"
expect_fail "$HERALD" trust list --dir "$D"
err_mentions 'manifest records' "trust list reports the tampered file"
cp "$T/partner.saved.pem" "$D/partners/partner.pem"
kill -HUP "$SERVE_PID"
sleep 0.5
assert_healthy "SIGHUP after repair"
"$HERALD" trust list --dir "$D" >/dev/null || fail "trust list after the repair"
ok "tampering refused by server and CLI alike, the last good bundle kept"

step "/v1/spiffe/bundle: a SPIFFE trust bundle (JWKS) of our root"
curl -sS --fail -D "$T/hs" -o "$T/spiffe.json" "$PUB/v1/spiffe/bundle" || fail "GET /v1/spiffe/bundle failed"
grep -qi '^content-type: application/json' "$T/hs" || fail "SPIFFE bundle content type: $(cat "$T/hs")"
openssl x509 -in "$ROOT" -outform DER -out "$T/root.der"
python3 - "$T/spiffe.json" "$T/root.der" <<'PY' || fail "the SPIFFE bundle is wrong"
import base64, json, sys
b = json.load(open(sys.argv[1]))
root = open(sys.argv[2], "rb").read()
assert isinstance(b.get("spiffe_refresh_hint"), int) and b["spiffe_refresh_hint"] > 0, b
assert len(b["keys"]) == 1, "one key: our root only (partners are other trust domains)"
k = b["keys"][0]
assert k["use"] == "x509-svid", k
assert k["kty"] == "EC" and k["crv"] == "P-256", k
def b64url(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
assert len(b64url(k["x"])) == 32 and len(b64url(k["y"])) == 32, k
assert len(k["x5c"]) == 1, k
assert base64.b64decode(k["x5c"][0], validate=True) == root, "x5c[0] is not ca/root.pem"
print("   x5c[0] == ca/root.pem (%d bytes), refresh hint %d s" % (len(root), b["spiffe_refresh_hint"]))
PY
# The key in the JWK is the root's key, as pyca/cryptography reads it from the certificate.
python3 - "$T/spiffe.json" "$ROOT" <<'PY' || fail "JWK x/y are not the root's public key"
import base64, json, sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
k = json.load(open(sys.argv[1]))["keys"][0]
d = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pub = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read()).public_key()
assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1", pub
n = pub.public_numbers()
assert (d(k["x"]), d(k["y"])) == (n.x, n.y), "x/y differ from the root's key"
PY
SETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$T/hs" | tr -d '\r')
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $SETAG" "$PUB/v1/spiffe/bundle")
[[ $code == 304 ]] || fail "SPIFFE bundle If-None-Match gave $code, expected 304"
ok "SPIFFE bundle: x509-svid EC key = our root's, x5c = root DER, refresh hint, 304"

step "the trust package endpoint is the export"
curl -sS --fail -o "$T/ep.tar" "$PUB/v1/ca/trust-package" || fail "GET /v1/ca/trust-package failed"
diff <(tar -tf "$T/ep.tar") <(tar -tf "$T/pkg.tar") || fail "endpoint and export list different files"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC"
ok "all done"
