// The ACME client's building blocks: RFC examples (RFC 7638 thumbprint, RFC
// 9773 certID), the EAB binding as Herald's server checks it, the parsers'
// refusals, the signed requests (checked by the server's JWS parser), the
// badNonce retry, and the three challenge solvers.
#include "acme_client/client.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "acme/eab.h"
#include "acme/jws.h"
#include "keys/private_key.h"
#include "net/client.h"
#include "x509/csr.h"

namespace herald::acme_client {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// RFC 7638 §3.1.
const json kRfc7638Jwk = {{"kty", "RSA"},
                          {"n",
                           "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7a"
                           "PFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst"
                           "n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
                           "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
                           "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
                           "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
                          {"e", "AQAB"},
                          {"alg", "RS256"},
                          {"kid", "2011-04-29"}};

TEST(KeyAuthorization, Rfc7638ThumbprintAndKeyAuthorization) {
  auto t = acme::jwk_thumbprint(kRfc7638Jwk);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  const std::string ka = key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", *t);
  EXPECT_EQ(
      ka,
      "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // dns-01: base64url(SHA-256(key authorization)), computed independently.
  EXPECT_EQ(*dns01_txt_value(ka), "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8");
}

TEST(KeyAuthorization, AccountThumbprintIsTheJwkThumbprint) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  auto jwk = acme::key_to_jwk(**key);
  ASSERT_TRUE(jwk);
  EXPECT_EQ(*account_thumbprint(**key), *acme::jwk_thumbprint(*jwk));
}

// RFC 9773 §4.1: AKI keyIdentifier 69:88:5B:...:C8:D4, serial 00:87:65:43:21.
TEST(AriCertId, Rfc9773Example) {
  const Bytes aki = *from_hex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
  const Bytes serial = *from_hex("0087654321");
  EXPECT_EQ(ari_cert_id(aki, serial), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

// The same from a certificate with that AKI and serial 0x87654321 (whose DER
// content carries a leading zero octet).
TEST(AriCertId, FromACertificate) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  ossl::X509Ptr x(X509_new());
  ASSERT_TRUE(x);
  X509_set_version(x.get(), 2);
  ASSERT_EQ(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), 0x87654321u), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("t"), -1, -1, 0);
  X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
  X509_set_pubkey(x.get(), key->get());
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  const Bytes kid = *from_hex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
  akid->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(akid->keyid, kid.data(), static_cast<int>(kid.size()));
  ASSERT_EQ(X509_add1_ext_i2d(x.get(), NID_authority_key_identifier, akid, 0, 0), 1);
  AUTHORITY_KEYID_free(akid);
  ASSERT_GT(X509_sign(x.get(), key->get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int n = i2d_X509(x.get(), &der);
  ASSERT_GT(n, 0);
  Bytes bytes(der, der + n);
  OPENSSL_free(der);
  auto id = ari_cert_id_of(bytes);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_FALSE(ari_cert_id_of(Bytes{0x30, 0x00}));
}

// RFC 8555 §7.3.4, checked by Herald's server-side parser and verifier.
TEST(Eab, BindingIsWhatTheServerVerifies) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  auto jwk = acme::key_to_jwk(**key);
  ASSERT_TRUE(jwk);
  const Bytes hmac(32, 0x5a);
  const std::string url = "https://ca.test/acme/p/new-account";
  auto b = eab_binding("kid-1", hmac, *jwk, url);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(b->is_object());
  EXPECT_EQ(b->size(), 3u);
  const Bytes protected_bytes = *base64url_decode((*b)["protected"].get<std::string>());
  auto header = json::parse(std::string(protected_bytes.begin(), protected_bytes.end()));
  EXPECT_EQ(header, (json{{"alg", "HS256"}, {"kid", "kid-1"}, {"url", url}}));
  auto parsed = acme::parse_eab(*b);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->kid, "kid-1");
  EXPECT_EQ(parsed->alg, "HS256");
  EXPECT_TRUE(acme::verify_eab(*parsed, url, *jwk, hmac));
  EXPECT_FALSE(acme::verify_eab(*parsed, url, *jwk, Bytes(32, 0x5b)));
  EXPECT_FALSE(acme::verify_eab(*parsed, url + "x", *jwk, hmac));
  EXPECT_FALSE(eab_binding("", hmac, *jwk, url));
  EXPECT_FALSE(eab_binding("k", {}, *jwk, url));
}

// ---------------------------------------------------------------- parsers

const char* kDirectoryEab =
    R"({"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct",
  "newOrder":"https://ca.test/order","revokeCert":"https://ca.test/revoke","keyChange":"https://ca.test/kc",
  "renewalInfo":"https://ca.test/ari","meta":{"termsOfService":"data:text/plain,tos","externalAccountRequired":true}})";
const char* kDirectory = R"({"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct",
  "newOrder":"https://ca.test/order","renewalInfo":"https://ca.test/ari/"})";

TEST(Parsers, Directory) {
  auto d = parse_directory(kDirectoryEab);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->new_order, "https://ca.test/order");
  EXPECT_EQ(*d->renewal_info, "https://ca.test/ari");
  EXPECT_TRUE(d->external_account_required);
  auto no_ari = parse_directory(
      R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o"})");
  ASSERT_TRUE(no_ari);
  EXPECT_FALSE(no_ari->renewal_info);
  for (
      const char* bad :
      {R"({"newNonce":"http://a/n","newAccount":"https://a/a","newOrder":"https://a/o"})",  // http
       R"({"newNonce":"https://a/n","newAccount":"https://a/a"})",               // no newOrder
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":7})",  // type
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/ o"})",  // space
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://u@a/o"})",  // userinfo
       R"({"newNonce":"https://a/n","newNonce":"https://b/n","newAccount":"https://a/a","newOrder":"https://a/o"})",
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o","meta":[]})",
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o","meta":{"externalAccountRequired":"yes"}})",
       R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o","renewalInfo":"ftp://a/r"})",
       "[]", "", "{", "null"}) {
    EXPECT_FALSE(parse_directory(bad)) << bad;
  }
  EXPECT_FALSE(parse_directory(std::string(40, '[') + std::string(40, ']')));
  EXPECT_FALSE(parse_directory("{\"x\":\"" + std::string(kMaxBodySize, 'a') + "\"}"));
}

TEST(Parsers, Order) {
  auto o = parse_order(R"({"status":"pending","expires":"2026-12-07T00:00:00Z",
    "identifiers":[{"type":"dns","value":"web.internal"},{"type":"ip","value":"10.0.0.5"}],
    "authorizations":["https://ca.test/authz/1","https://ca.test/authz/2"],"finalize":"https://ca.test/fin"})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->status, AcmeStatus::kPending);
  ASSERT_EQ(o->identifiers.size(), 2u);
  EXPECT_EQ(o->identifiers[1].describe(), "ip:10.0.0.5");
  EXPECT_FALSE(o->certificate);
  auto invalid = parse_order(
      R"({"status":"invalid","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],
    "finalize":"https://c/f","error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused\nINJECTED"}})");
  ASSERT_TRUE(invalid) << invalid.error().message;
  EXPECT_EQ(invalid->error->describe(), "urn:ietf:params:acme:error:connection: refused?INJECTED");
  for (
      const char* bad :
      {R"({"status":"weird","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],"finalize":"https://c/f"})",
       R"({"status":"deactivated","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[],"authorizations":[],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a b"}],"authorizations":[],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a"}],"authorizations":["http://c/a"],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a"}],"authorizations":[1],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a"}],"authorizations":[]})",
       R"({"status":"valid","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],"finalize":"https://c/f"})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],"finalize":"https://c/f","error":{"status":"400"}})",
       R"({"status":"pending","identifiers":[{"type":"dns","value":"a"}],"authorizations":[],"finalize":"https://c/f","error":{"status":9999}})"}) {
    EXPECT_FALSE(parse_order(bad)) << bad;
  }
}

TEST(Parsers, AuthorizationAndChallenge) {
  auto a =
      parse_authorization(R"({"identifier":{"type":"dns","value":"web.internal"},"status":"pending",
    "challenges":[{"type":"http-01","url":"https://c/ch/1","status":"pending","token":"DGyRejmCefe7v4NfDGDKfA-aaaa"},
                  {"type":"dns-01","url":"https://c/ch/2","status":"pending","token":"DGyRejmCefe7v4NfDGDKfA-bbbb"},
                  {"type":"future-01","url":"https://c/ch/3","status":"pending"}]})");
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->challenges.size(), 3u);
  EXPECT_EQ(a->challenges[1].type, "dns-01");
  EXPECT_FALSE(a->wildcard);
  for (
      const char* bad :
      {// a token that could climb out of the webroot
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":[{"type":"http-01","url":"https://c/1","status":"pending","token":"../../../../etc/passwd-aaaaaaaaaa"}]})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":[{"type":"http-01","url":"https://c/1","status":"pending","token":"short"}]})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":[{"type":"http-01","url":"https://c/1","status":"pending"}]})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":[{"type":"http-01","url":"https://c/1","status":"ready","token":"DGyRejmCefe7v4NfDGDKfA"}]})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"ready","challenges":[]})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":{}})",
       R"({"identifier":{"type":"dns","value":"a"},"status":"pending","challenges":[],"wildcard":"no"})",
       R"({"status":"pending","challenges":[]})"}) {
    EXPECT_FALSE(parse_authorization(bad)) << bad;
  }
  auto c = parse_challenge(
      R"({"type":"http-01","url":"https://c/1","status":"invalid","token":"DGyRejmCefe7v4NfDGDKfA",
    "error":{"type":"urn:ietf:params:acme:error:connection","detail":"no","status":400}})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->error->acme_type(), "connection");
  EXPECT_EQ(c->error->status, 400);
}

TEST(Parsers, Problem) {
  auto p = parse_problem(
      R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"not this one","status":400,
    "subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no","identifier":{"type":"dns","value":"bad.test"}}]})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->describe(),
            "urn:ietf:params:acme:error:rejectedIdentifier: not this one [dns:bad.test: "
            "urn:ietf:params:acme:error:rejectedIdentifier: no]");
  auto blank = parse_problem("{}");
  ASSERT_TRUE(blank);
  EXPECT_EQ(blank->type, "about:blank");
  EXPECT_EQ(parse_problem(R"({"detail":")" + std::string(5000, 'x') + R"("})")->detail.size(),
            303u);
  for (const char* bad :
       {R"({"type":1})", R"({"detail":[]})", R"({"subproblems":{}})", R"({"subproblems":[1]})",
        R"({"subproblems":[{"identifier":{"type":"dns"}}]})", "\"x\""}) {
    EXPECT_FALSE(parse_problem(bad)) << bad;
  }
}

TEST(Parsers, RenewalInfoAndTimes) {
  auto r = parse_renewal_info(
      R"({"suggestedWindow":{"start":"2026-12-06T10:00:00Z","end":"2026-12-06T10:00:30.5+00:00"},
    "explanationURL":"https://ca.test/why"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(format_time(r->start), "2026-12-06T10:00:00Z");
  EXPECT_EQ(format_time(r->end), "2026-12-06T10:00:30Z");
  EXPECT_EQ(*r->explanation_url, "https://ca.test/why");
  for (const char* bad :
       {R"({"suggestedWindow":{"start":"2026-12-06T10:00:00Z","end":"2026-12-06T09:00:00Z"}})",
        R"({"suggestedWindow":{"start":"2026-12-06T10:00:00Z","end":"2026-12-06T10:00:00Z"}})",
        R"({"suggestedWindow":{"start":"2026-12-06 10:00:00","end":"2026-12-07T10:00:00Z"}})",
        R"({"suggestedWindow":{"start":"2026-13-06T10:00:00Z","end":"2026-12-07T10:00:00Z"}})",
        R"({"suggestedWindow":{"start":1,"end":"2026-12-07T10:00:00Z"}})",
        R"({"suggestedWindow":[]})", R"({})"}) {
    EXPECT_FALSE(parse_renewal_info(bad)) << bad;
  }
  EXPECT_EQ(format_time(*parse_rfc3339("2026-12-06T12:00:00+02:00")), "2026-12-06T10:00:00Z");
  EXPECT_EQ(format_time(*parse_rfc3339("2026-12-06T08:00:00-02:00")), "2026-12-06T10:00:00Z");
  const TimePoint now = *parse_rfc3339("2026-12-06T10:00:00Z");
  EXPECT_EQ(*parse_retry_after("120", now), 120s);
  EXPECT_EQ(*parse_retry_after("Sun, 06 Dec 2026 10:01:00 GMT", now), 60s);
  EXPECT_EQ(*parse_retry_after("Sun, 06 Dec 2026 09:00:00 GMT", now), 0s);
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
}

TEST(Parsers, IdentifiersOfCsr) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  auto csr = x509::make_csr(**key, "web.internal",
                            {*x509::parse_san("dns:web.internal"), *x509::parse_san("ip:10.0.0.5"),
                             *x509::parse_san("dns:www.web.internal")});
  ASSERT_TRUE(csr);
  auto ids = identifiers_of_csr(*csr);
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[0].describe(), "dns:web.internal");
  EXPECT_EQ((*ids)[1].describe(), "ip:10.0.0.5");
  EXPECT_EQ((*ids)[2].describe(), "dns:www.web.internal");
  auto ip_cn = identifiers_of_csr(*x509::make_csr(**key, "127.0.0.1", {}));
  ASSERT_TRUE(ip_cn);
  EXPECT_EQ((*ip_cn)[0].describe(), "ip:127.0.0.1");
  EXPECT_FALSE(
      identifiers_of_csr(*x509::make_csr(**key, "a.test", {*x509::parse_san("uri:spiffe://a/b")})));
}

// ---------------------------------------------------------------- the protocol over a fake
// transport

struct Fake {
  struct Call {
    std::string method, url, body;
  };
  std::vector<Call> calls;
  std::deque<net::Response> replies;
  Transport transport() {
    return [this](const std::string& m, const std::string& u,
                  const std::vector<std::pair<std::string, std::string>>&, const std::string& b,
                  std::chrono::seconds) -> Result<net::Response> {
      calls.push_back({m, u, b});
      if (replies.empty()) return make_error(ErrorCode::kIo, "no more replies");
      auto r = replies.front();
      replies.pop_front();
      return r;
    };
  }
};

net::Response reply(int status, std::string body,
                    std::vector<std::pair<std::string, std::string>> h = {}) {
  net::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(h);
  return r;
}

TEST(Client, NewAccountSignedWithJwkAndBadNonceRetriedOnce) {
  FakeClock clock(*parse_rfc3339("2026-12-06T10:00:00Z"));
  Fake f;
  f.replies.push_back(reply(200, kDirectory));
  f.replies.push_back(reply(204, "", {{"Replay-Nonce", "nonce1"}}));
  f.replies.push_back(
      reply(400, R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"})",
            {{"replay-nonce", "nonce2"}, {"Content-Type", "application/problem+json"}}));
  f.replies.push_back(reply(201, R"({"status":"valid"})",
                            {{"Location", "https://ca.test/acct/1"}, {"Replay-Nonce", "nonce3"}}));
  Client c(
      "https://ca.test/dir", f.transport(), [](std::chrono::milliseconds) {}, clock);
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  const Bytes hmac(32, 1);
  auto url = c.account(**key, AccountOptions{"ops@example.com", std::nullopt, {}});
  ASSERT_TRUE(url) << url.error().error.message;
  EXPECT_EQ(*url, "https://ca.test/acct/1");
  ASSERT_EQ(f.calls.size(), 4u);
  EXPECT_EQ(f.calls[1].method, "GET");  // newNonce
  for (int i : {2, 3}) {
    auto jws = acme::parse_jws_request(f.calls[i].body);
    ASSERT_TRUE(jws) << jws.error().message;
    EXPECT_EQ(jws->nonce, i == 2 ? "nonce1" : "nonce2");
    EXPECT_EQ(jws->url, "https://ca.test/acct");
    EXPECT_EQ(jws->alg, "ES256");
    ASSERT_TRUE(jws->jwk);
    EXPECT_FALSE(jws->kid);
    EXPECT_TRUE(acme::verify_jws_request(*jws, **key));
    EXPECT_EQ(jws->payload["contact"], json::array({"mailto:ops@example.com"}));
    EXPECT_EQ(jws->payload["termsOfServiceAgreed"], true);
  }
  // The same key again: no request.
  ASSERT_TRUE(c.account(**key, {}));
  EXPECT_EQ(f.calls.size(), 4u);
}

TEST(Client, SecondBadNonceIsAnErrorAndRefusalsAreClassified) {
  FakeClock clock(*parse_rfc3339("2026-12-06T10:00:00Z"));
  Fake f;
  f.replies.push_back(reply(200, kDirectoryEab));
  f.replies.push_back(reply(204, "", {{"Replay-Nonce", "n1"}}));
  const std::string bad_nonce = R"({"type":"urn:ietf:params:acme:error:badNonce"})";
  f.replies.push_back(reply(400, bad_nonce, {{"Replay-Nonce", "n2"}}));
  f.replies.push_back(reply(400, bad_nonce, {{"Replay-Nonce", "n3"}}));
  Client c(
      "https://ca.test/dir", f.transport(), [](std::chrono::milliseconds) {}, clock);
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(key);
  const AccountOptions eab{std::nullopt, "kid", Bytes(32, 1)};  // the directory requires EAB
  auto r = c.account(**key, eab);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().refused);  // badNonce: a retry may work
  EXPECT_NE(r.error().error.message.find("badNonce"), std::string::npos) << r.error().error.message;

  // The directory requires EAB and none is configured: refused, with what to set.
  Fake g;
  g.replies.push_back(reply(200, kDirectoryEab));
  Client c2(
      "https://ca.test/dir", g.transport(), [](std::chrono::milliseconds) {}, clock);
  auto r2 = c2.account(**key, {});
  ASSERT_FALSE(r2);
  EXPECT_TRUE(r2.error().refused);
  EXPECT_NE(r2.error().error.message.find("eab_kid"), std::string::npos);

  // An http:// directory is refused without a request.
  Fake h;
  Client c3(
      "http://ca.test/dir", h.transport(), [](std::chrono::milliseconds) {}, clock);
  EXPECT_FALSE(c3.directory());
  EXPECT_TRUE(h.calls.empty());
}

TEST(Client, RenewalInfoCachedUntilRetryAfter) {
  FakeClock clock(*parse_rfc3339("2026-12-06T10:00:00Z"));
  Fake f;
  f.replies.push_back(reply(200, kDirectory));
  const std::string win =
      R"({"suggestedWindow":{"start":"2026-12-06T11:00:00Z","end":"2026-12-06T12:00:00Z"}})";
  f.replies.push_back(reply(200, win, {{"Retry-After", "300"}}));
  f.replies.push_back(reply(200, win, {{"Retry-After", "300"}}));
  Client c(
      "https://ca.test/dir", f.transport(), [](std::chrono::milliseconds) {}, clock);
  // A certificate with an AKI: the one of AriCertId.FromACertificate would do;
  // build the smallest with openssl's API.
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  ossl::X509Ptr x(X509_new());
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), 0x87654321u);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_set_pubkey(x.get(), key->get());
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  akid->keyid = ASN1_OCTET_STRING_new();
  const Bytes kid = *from_hex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
  ASN1_OCTET_STRING_set(akid->keyid, kid.data(), static_cast<int>(kid.size()));
  X509_add1_ext_i2d(x.get(), NID_authority_key_identifier, akid, 0, 0);
  AUTHORITY_KEYID_free(akid);
  ASSERT_GT(X509_sign(x.get(), key->get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int n = i2d_X509(x.get(), &der);
  Bytes bytes(der, der + n);
  OPENSSL_free(der);
  auto a = c.renewal_info(bytes);
  ASSERT_TRUE(a) << a.error().error.message;
  ASSERT_TRUE(*a);
  EXPECT_EQ(format_time((*a)->start), "2026-12-06T11:00:00Z");
  EXPECT_EQ(f.calls.back().url, "https://ca.test/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_EQ(f.calls.back().method, "GET");
  clock.advance(299s);
  ASSERT_TRUE(c.renewal_info(bytes));
  EXPECT_EQ(f.calls.size(), 2u);  // from the cache
  clock.advance(1s);
  ASSERT_TRUE(c.renewal_info(bytes));
  EXPECT_EQ(f.calls.size(), 3u);  // asked again
}

// A CA that cannot be reached is asked again only after a minute (the
// agent asks at every pass); a directory without renewalInfo: no opinion.
TEST(Client, RenewalInfoOfAnUnreachableCaIsNotAskedAtEveryPass) {
  FakeClock clock(*parse_rfc3339("2026-12-06T10:00:00Z"));
  Fake f;  // no replies: every request fails to connect
  Client c(
      "https://ca.test/dir", f.transport(), [](std::chrono::milliseconds) {}, clock);
  const Bytes any{0x30};
  EXPECT_FALSE(c.renewal_info(any));
  EXPECT_FALSE(c.renewal_info(any));
  EXPECT_EQ(f.calls.size(), 1u);
  clock.advance(60s);
  f.replies.push_back(reply(
      200, R"({"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o"})"));
  auto none = c.renewal_info(any);
  ASSERT_TRUE(none) << none.error().error.message;
  EXPECT_FALSE(*none);
  EXPECT_EQ(f.calls.size(), 2u);
}

// A scripted ACME server: every request is checked (JWS signature with the
// account key, kid after newAccount, POST-as-GET for fetches), every answer
// carries a fresh nonce. `outcome` decides what validation gives.
struct FakeAcme {
  enum class Outcome { kValid, kInvalid, kNever };
  Outcome outcome = Outcome::kValid;
  EVP_PKEY* key = nullptr;
  std::vector<std::string> problems;  // what the fake found wrong with a request
  std::vector<std::string> log;       // "POST https://ca.test/authz/1 (post-as-get)"
  std::vector<Identifier> ids;
  std::map<std::string, int> polls;  // per authorization, after its challenge was answered
  std::set<std::string> answered;
  bool finalized = false;
  int nonce = 0;
  std::string csr_b64;

  net::Response answer(int status, json body,
                       std::vector<std::pair<std::string, std::string>> h = {}) {
    net::Response r;
    r.status = status;
    r.body = body.is_null() ? "" : body.dump();
    r.headers = std::move(h);
    r.headers.emplace_back("Replay-Nonce", "n" + std::to_string(++nonce));
    return r;
  }
  json order_json() {
    json authz = json::array(), idents = json::array();
    for (size_t i = 0; i < ids.size(); ++i) {
      authz.push_back("https://ca.test/authz/" + std::to_string(i));
      idents.push_back({{"type", ids[i].type}, {"value", ids[i].value}});
    }
    json o = {
        {"identifiers", idents}, {"authorizations", authz}, {"finalize", "https://ca.test/fin"}};
    bool all_valid = answered.size() == ids.size();
    for (const auto& [u, n] : polls) all_valid = all_valid && n >= 2;
    o["status"] = finalized ? "valid" : all_valid ? "ready" : "pending";
    if (finalized) o["certificate"] = "https://ca.test/cert/1";
    return o;
  }
  Transport transport() {
    return [this](const std::string& m, const std::string& u,
                  const std::vector<std::pair<std::string, std::string>>&, const std::string& b,
                  std::chrono::seconds) -> Result<net::Response> {
      if (m == "GET" && u == "https://ca.test/dir") return answer(200, json::parse(kDirectory));
      if (m == "GET" && u == "https://ca.test/nonce") return answer(204, nullptr);
      auto jws = acme::parse_jws_request(b);
      if (!jws || !acme::verify_jws_request(*jws, *key) || jws->url != u) {
        problems.push_back("bad JWS for " + u);
        return answer(400, {{"type", "urn:ietf:params:acme:error:malformed"}});
      }
      log.push_back(m + " " + u + (jws->post_as_get ? " (post-as-get)" : ""));
      if (u == "https://ca.test/acct") {
        if (!jws->jwk) problems.push_back("newAccount without jwk");
        return answer(201, {{"status", "valid"}}, {{"Location", "https://ca.test/acct/1"}});
      }
      if (jws->kid != "https://ca.test/acct/1") problems.push_back("no kid for " + u);
      if (u == "https://ca.test/order") {
        for (const auto& i : jws->payload["identifiers"]) ids.push_back({i["type"], i["value"]});
        return answer(201, order_json(), {{"Location", "https://ca.test/order/1"}});
      }
      if (u.starts_with("https://ca.test/authz/")) {
        if (!jws->post_as_get) problems.push_back("authorization fetch is not POST-as-GET");
        const size_t i = std::stoul(u.substr(22));
        std::string status = "pending";
        json chall = {{"type", "http-01"},
                      {"url", "https://ca.test/chall/" + std::to_string(i)},
                      {"token", "token" + std::to_string(i) + "AAAAAAAAAAAAAAAAAAAAAAA"},
                      {"status", "pending"}};
        if (answered.count(u)) {
          int n = ++polls[u];
          if (n >= 2 && outcome == Outcome::kValid) status = "valid";
          if (n >= 2 && outcome == Outcome::kInvalid) {
            status = "invalid";
            chall["status"] = "invalid";
            chall["error"] = {{"type", "urn:ietf:params:acme:error:connection"},
                              {"detail", "connecting to 127.0.0.1:80: connection refused"}};
          }
        }
        chall["status"] = status == "pending" && answered.count(u) ? "processing" : chall["status"];
        return answer(200,
                      {{"identifier", {{"type", ids[i].type}, {"value", ids[i].value}}},
                       {"status", status},
                       {"challenges", json::array({chall,
                                                   {{"type", "dns-01"},
                                                    {"url", "https://ca.test/other"},
                                                    {"token", "tokenBBBBBBBBBBBBBBBBBBBBBBBB"},
                                                    {"status", "pending"}}})}},
                      {{"Retry-After", "1"}});
      }
      if (u.starts_with("https://ca.test/chall/")) {
        if (jws->payload != json::object()) problems.push_back("challenge answered without {}");
        answered.insert("https://ca.test/authz/" + u.substr(22));
        return answer(200, {{"type", "http-01"},
                            {"url", u},
                            {"status", "processing"},
                            {"token", "tokenCCCCCCCCCCCCCCCCCCCCCCCC"}});
      }
      if (u == "https://ca.test/order/1") return answer(200, order_json());
      if (u == "https://ca.test/fin") {
        csr_b64 = jws->payload.value("csr", "");
        finalized = true;
        json o = order_json();
        o["status"] = "processing";
        o.erase("certificate");
        return answer(200, o, {{"Retry-After", "1"}});
      }
      if (u == "https://ca.test/cert/1") {
        if (!jws->post_as_get) problems.push_back("certificate download is not POST-as-GET");
        auto r = answer(200, nullptr, {{"Content-Type", "application/pem-certificate-chain"}});
        r.body = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        return r;
      }
      problems.push_back("unexpected " + m + " " + u);
      return answer(404, {{"type", "urn:ietf:params:acme:error:malformed"}});
    };
  }
};

// Records what the client asks of it.
struct RecordingSolver final : Solver {
  std::vector<ChallengeTask> presented;
  int cleanups = 0;
  std::string type() const override { return "http-01"; }
  std::string describe() const override { return "http-01 (test)"; }
  Status present(const std::vector<ChallengeTask>& t) override {
    presented = t;
    return {};
  }
  Status cleanup() override {
    ++cleanups;
    return {};
  }
};

struct OrderSetup {
  FakeClock clock{*parse_rfc3339("2026-12-06T10:00:00Z")};
  ossl::EvpPkeyPtr account = std::move(*keys::generate_key(keys::KeyType::kEcP256));
  ossl::EvpPkeyPtr leaf = std::move(*keys::generate_key(keys::KeyType::kEcP256));
  Bytes csr = *x509::make_csr(*leaf, "web.internal", {*x509::parse_san("ip:10.0.0.5")});
  FakeAcme fake;
  RecordingSolver solver;
  std::vector<std::chrono::milliseconds> sleeps;
  std::vector<std::string> lines;
  OrderSetup() { fake.key = account.get(); }
  AcmeResult<std::string> run(std::chrono::seconds timeout = 300s, bool real_sleep = false) {
    Client c(
        "https://ca.test/dir", fake.transport(),
        [this, real_sleep](std::chrono::milliseconds ms) {
          sleeps.push_back(ms);
          if (real_sleep) std::this_thread::sleep_for(ms);
        },
        clock);
    return c.obtain(*account, {}, csr, solver, timeout,
                    [this](const std::string& l) { lines.push_back(l); });
  }
};

TEST(Client, AWholeOrder) {
  OrderSetup o;
  auto pem = o.run();
  ASSERT_TRUE(pem) << pem.error().error.message;
  EXPECT_TRUE(o.fake.problems.empty()) << o.fake.problems.front();
  ASSERT_EQ(o.fake.ids.size(), 2u);
  EXPECT_EQ(o.fake.ids[0].describe(), "dns:web.internal");
  EXPECT_EQ(o.fake.ids[1].describe(), "ip:10.0.0.5");
  ASSERT_EQ(o.solver.presented.size(), 2u);
  const std::string thumb = *account_thumbprint(*o.account);
  EXPECT_EQ(o.solver.presented[0].key_authorization, "token0AAAAAAAAAAAAAAAAAAAAAAA." + thumb);
  EXPECT_EQ(o.solver.presented[1].identifier.describe(), "ip:10.0.0.5");
  EXPECT_GE(o.solver.cleanups, 1);
  EXPECT_EQ(o.fake.csr_b64, base64url_encode(o.csr));
  // Retry-After: 1 was honoured between polls.
  ASSERT_FALSE(o.sleeps.empty());
  for (auto s : o.sleeps) EXPECT_EQ(s, 1000ms);
  EXPECT_TRUE(o.lines.back().find("valid, certificate https://ca.test/cert/1") != std::string::npos)
      << o.lines.back();
}

TEST(Client, InvalidAuthorizationNamesTheIdentifierAndTheProblemAndCleansUp) {
  OrderSetup o;
  o.fake.outcome = FakeAcme::Outcome::kInvalid;
  auto r = o.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.message,
            "authorization for dns:web.internal is invalid: urn:ietf:params:acme:error:connection: "
            "connecting to 127.0.0.1:80: connection refused");
  EXPECT_FALSE(r.error().refused);
  EXPECT_EQ(o.solver.cleanups, 1);
  EXPECT_FALSE(o.fake.finalized);
}

TEST(Client, AnOrderThatNeverValidatesTimesOutAndCleansUp) {
  OrderSetup o;
  o.fake.outcome = FakeAcme::Outcome::kNever;
  auto r = o.run(2s, true);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().error.message.find("dns:web.internal"), std::string::npos)
      << r.error().error.message;
  EXPECT_TRUE(r.error().error.message.find("timed out") != std::string::npos ||
              r.error().error.message.find("time is up") != std::string::npos)
      << r.error().error.message;
  EXPECT_EQ(o.solver.cleanups, 1);
}

// ---------------------------------------------------------------- solvers

ChallengeTask task(const std::string& name, const std::string& token) {
  return ChallengeTask{{"dns", name}, false, token, token + ".thumb"};
}

TEST(Solvers, Http01StandaloneServesOnlyTheTokensAndOnlyWhilePresented) {
  auto s = make_http01_standalone("127.0.0.1:0");
  ASSERT_TRUE(s->present({task("a.test", "tokenAAAAAAAAAAAAAAAAAAAAAAAA")}));
  const uint16_t port = http01_standalone_port(*s);
  ASSERT_NE(port, 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto ok = net::http_request(
      "GET", base + "/.well-known/acme-challenge/tokenAAAAAAAAAAAAAAAAAAAAAAAA", {}, "", 5s, 4096);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "tokenAAAAAAAAAAAAAAAAAAAAAAAA.thumb");
  auto other =
      net::http_request("GET", base + "/.well-known/acme-challenge/other", {}, "", 5s, 4096);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  auto root = net::http_request("GET", base + "/", {}, "", 5s, 4096);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 404);
  ASSERT_TRUE(s->cleanup());
  EXPECT_FALSE(net::http_request("GET", base + "/", {}, "", 2s, 4096));  // closed
  ASSERT_TRUE(s->cleanup());                                             // idempotent
  EXPECT_FALSE(make_http01_standalone("nonsense")->present({}));
}

TEST(Solvers, Http01WebrootWritesPublicFilesAndRemovesThem) {
  auto root =
      std::filesystem::temp_directory_path() / ("acme-webroot-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  auto s = make_http01_webroot(root);
  ASSERT_TRUE(s->present({task("a.test", "tokenAAAAAAAAAAAAAAAAAAAAAAAA"),
                          task("b.test", "tokenBBBBBBBBBBBBBBBBBBBBBBBB")}));
  const auto f = root / ".well-known/acme-challenge/tokenAAAAAAAAAAAAAAAAAAAAAAAA";
  std::ifstream in(f);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(body, "tokenAAAAAAAAAAAAAAAAAAAAAAAA.thumb");
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_TRUE(s->cleanup());
  EXPECT_FALSE(std::filesystem::exists(f));
  EXPECT_TRUE(std::filesystem::is_directory(root / ".well-known/acme-challenge"));
  EXPECT_FALSE(s->present({task("a.test", "../../etc/passwd")}));
  EXPECT_FALSE(make_http01_webroot(root / "missing")
                   ->present({task("a.test", "tokenAAAAAAAAAAAAAAAAAAAAAAAA")}));
  std::filesystem::remove_all(root);
}

TEST(Solvers, Dns01HookPresentsAndAlwaysCleansUp) {
  std::vector<std::string> cmds;
  int fail_at = -1;
  auto runner = [&](const std::string& cmd, std::chrono::milliseconds) -> Result<HookOutcome> {
    cmds.push_back(cmd);
    bool ok = static_cast<int>(cmds.size()) - 1 != fail_at;
    return HookOutcome{ok, ok ? "exit 0" : "exit 3"};
  };
  auto s = make_dns01_hook("/usr/local/bin/dns-hook", 5s, runner);
  ChallengeTask wild = task("*.web.internal", "tokenAAAAAAAAAAAAAAAAAAAAAAAA");
  wild.wildcard = true;
  ASSERT_TRUE(s->present({task("web.internal", "tokenBBBBBBBBBBBBBBBBBBBBBBBB"), wild}));
  ASSERT_EQ(cmds.size(), 2u);
  const std::string v = *dns01_txt_value("tokenBBBBBBBBBBBBBBBBBBBBBBBB.thumb");
  EXPECT_EQ(cmds[0], "/usr/local/bin/dns-hook present '_acme-challenge.web.internal' '" + v + "'");
  EXPECT_TRUE(
      cmds[1].starts_with("/usr/local/bin/dns-hook present '_acme-challenge.web.internal' '"));
  ASSERT_TRUE(s->cleanup());
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_EQ(cmds[2], "/usr/local/bin/dns-hook cleanup '_acme-challenge.web.internal' '" + v + "'");
  // The second present fails: both records are cleaned up all the same.
  cmds.clear();
  fail_at = 1;
  auto p = s->present({task("a.test", "tokenAAAAAAAAAAAAAAAAAAAAAAAA"),
                       task("b.test", "tokenBBBBBBBBBBBBBBBBBBBBBBBB")});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("exit 3"), std::string::npos) << p.error().message;
  (void)s->cleanup();
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_TRUE(cmds[2].find(" cleanup '_acme-challenge.a.test'") != std::string::npos);
  EXPECT_TRUE(cmds[3].find(" cleanup '_acme-challenge.b.test'") != std::string::npos);
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace herald::acme_client
