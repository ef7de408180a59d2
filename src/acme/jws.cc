#include "acme/jws.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <bit>
#include <iterator>
#include <set>
#include <vector>

#include "keys/jws.h"
#include "keys/public_key.h"

namespace herald::acme {

namespace {

constexpr std::string_view kMalformed = "malformed";
constexpr std::string_view kBadAlg = "badSignatureAlgorithm";
constexpr std::string_view kBadKey = "badPublicKey";
constexpr std::string_view kUnauthorized = "unauthorized";
constexpr std::string_view kInternal = "serverInternal";
constexpr int kMaxJsonDepth = 32;

tl::unexpected<Error> fail(ErrorCode code, std::string_view type, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message), {{"acme", std::string(type)}}});
}
tl::unexpected<Error> malformed(std::string message) {
  return fail(ErrorCode::kMalformedInput, kMalformed, std::move(message));
}
tl::unexpected<Error> bad_key(std::string message) {
  return fail(ErrorCode::kMalformedInput, kBadKey, "invalid JWK: " + std::move(message));
}
tl::unexpected<Error> refused_key(std::string message) {
  return fail(ErrorCode::kPolicyViolation, kBadKey, std::move(message));
}
// An error from elsewhere (OpenSSL, or a helper tagging it otherwise) with
// `type` as its one problem type.
tl::unexpected<Error> tagged(Error e, std::string_view type) {
  std::erase_if(e.context, [](const auto& kv) { return kv.first == "acme"; });
  e.with("acme", std::string(type));
  return tl::unexpected<Error>(std::move(e));
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string b64(std::string_view s) { return base64url_encode(bytes_of(s)); }

// Client-chosen text (member names, alg values) for a message: at most 32
// printable ASCII characters, quoted.
std::string shown(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 32)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  return out + (s.size() > 32 ? "...\"" : "\"");
}

// Base64url without padding, of member `what`.
Result<Bytes> decode(std::string_view text, const std::string& what) {
  if (text.find('=') != text.npos)
    return malformed(what + " has base64 padding ('='), which JWS forbids");
  auto bytes = base64url_decode(text);
  if (!bytes) return malformed(what + " is not base64url (" + bytes.error().message + ")");
  return std::move(*bytes);
}

// JSON as RFC 8555 wants it read: strictly, refusing duplicate member names
// (RFC 7515 §4 allows either that or last-wins; refusing is safer) and
// nesting deeper than kMaxJsonDepth.
Result<nlohmann::json> parse_json(std::span<const uint8_t> text, const std::string& what) {
  std::vector<std::set<std::string>> open;  // member names of each open object
  bool duplicate = false, too_deep = false;
  using Event = nlohmann::json::parse_event_t;
  auto callback = [&](int depth, Event event, nlohmann::json& parsed) {
    if (depth > kMaxJsonDepth) too_deep = true;
    if (event == Event::object_start) {
      open.emplace_back();
    } else if (event == Event::object_end && !open.empty()) {
      open.pop_back();
    } else if (event == Event::key && !open.empty() && parsed.is_string()) {
      if (!open.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  auto json = nlohmann::json::parse(text.begin(), text.end(), callback, false);
  if (json.is_discarded()) return malformed(what + " is not valid JSON");
  if (too_deep) return malformed(what + " is nested too deeply");
  if (duplicate) return malformed(what + " has a duplicate member name");
  if (!json.is_object()) return malformed(what + " is not a JSON object");
  return json;
}

// A string member of `obj`; nullopt if absent; an error if not a string or empty.
Result<std::optional<std::string>> string_member(const nlohmann::json& obj, const char* name,
                                                 const std::string& where) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_string()) return malformed(where + " " + name + " is not a string");
  if (it->get_ref<const std::string&>().empty()) return malformed(where + " " + name + " is empty");
  return it->get<std::string>();
}

// ---- Algorithms ----

struct Alg {
  std::string_view name;
  int key_id;        // EVP_PKEY_RSA, EVP_PKEY_EC, EVP_PKEY_ED25519
  int curve_nid;     // for EC
  size_t sig_bytes;  // 0: the RSA modulus size
  const EVP_MD* (*md)();
};
constexpr Alg kAlgTable[] = {
    {"RS256", EVP_PKEY_RSA, NID_undef, 0, EVP_sha256},
    {"ES256", EVP_PKEY_EC, NID_X9_62_prime256v1, 64, EVP_sha256},
    {"ES384", EVP_PKEY_EC, NID_secp384r1, 96, EVP_sha384},
    {"EdDSA", EVP_PKEY_ED25519, NID_undef, 64, nullptr},
};
static_assert(std::size(kAlgTable) == kAlgorithms.size());

const EVP_MD* md_of(const Alg& alg) { return alg.md ? alg.md() : nullptr; }

const Alg* find_alg(std::string_view name) {
  for (const Alg& a : kAlgTable)
    if (a.name == name) return &a;
  return nullptr;
}

int ec_curve_nid(EVP_PKEY& key) {
  char name[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
      1)
    return NID_undef;
  int nid = EC_curve_nist2nid(name);
  return nid != NID_undef ? nid : OBJ_sn2nid(name);
}

bool fits(const Alg& alg, EVP_PKEY& key) {
  if (EVP_PKEY_get_base_id(&key) != alg.key_id) return false;
  return alg.key_id != EVP_PKEY_EC || ec_curve_nid(key) == alg.curve_nid;
}

// The alg a key signs with by default; null for other keys.
const Alg* alg_for(EVP_PKEY& key) {
  for (const Alg& a : kAlgTable)
    if (fits(a, key)) return &a;
  return nullptr;
}

// "RSA-2048", "EC P-384", "Ed25519": for messages.
std::string describe_key(EVP_PKEY& key) {
  switch (EVP_PKEY_get_base_id(&key)) {
    case EVP_PKEY_RSA:
      return "RSA-" + std::to_string(EVP_PKEY_get_bits(&key));
    case EVP_PKEY_EC: {
      const char* curve = EC_curve_nid2nist(ec_curve_nid(key));
      return std::string("EC ") + (curve ? curve : "(other curve)");
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    default:
      return "unsupported";
  }
}

// ---- JWK ----

struct Curve {
  std::string_view crv;
  const char* group;
  size_t octets;
};
constexpr Curve kCurves[] = {{"P-256", "P-256", 32}, {"P-384", "P-384", 48}};

// A JWK's decoded members, checked (except that an EC point is on its curve).
struct Jwk {
  std::string kty;
  const Curve* curve = nullptr;     // EC
  Bytes n, e;                       // RSA
  Bytes x, y;                       // EC (x, y), OKP (x)
  nlohmann::json required_members;  // RFC 7638 §3.2, as sent
};

Result<Bytes> jwk_member(const nlohmann::json& jwk, const char* name, Jwk& out) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return bad_key(std::string("missing member \"") + name + "\"");
  if (!it->is_string()) return bad_key(std::string("member \"") + name + "\" is not a string");
  const auto& text = it->get_ref<const std::string&>();
  auto bytes = decode(text, std::string("JWK member \"") + name + "\"");
  if (!bytes) return tagged(std::move(bytes).error(), kBadKey);
  if (bytes->empty()) return bad_key(std::string("member \"") + name + "\" is empty");
  out.required_members[name] = text;
  return std::move(*bytes);
}

// An RSA integer (n or e): minimal big-endian (RFC 7518 §6.3.1.1).
Result<Bytes> jwk_integer(const nlohmann::json& jwk, const char* name, Jwk& out) {
  HERALD_TRY(auto bytes, jwk_member(jwk, name, out));
  if (bytes[0] == 0)
    return bad_key(std::string("RSA \"") + name + "\" has a leading zero octet (not minimal)");
  return bytes;
}

Result<Jwk> read_jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return bad_key("not a JSON object");
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(secret))
      return bad_key(std::string("has the private member \"") + secret +
                     "\"; send the public key only");
  }
  Jwk out;
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return bad_key("no string member \"kty\"");
  out.kty = kty->get<std::string>();
  out.required_members["kty"] = out.kty;
  if (out.kty == "RSA") {
    HERALD_TRY(out.n, jwk_integer(jwk, "n", out));
    HERALD_TRY(out.e, jwk_integer(jwk, "e", out));
    const size_t bits = out.n.size() * 8 - static_cast<size_t>(std::countl_zero(out.n[0]));
    if (bits < 2048 || bits > 8192) {
      return refused_key("RSA modulus of " + std::to_string(bits) +
                         " bits; 2048 to 8192 are accepted");
    }
    if ((out.n.back() & 1) == 0) return bad_key("RSA modulus is even");
    if (out.e.size() > 4 || (out.e.back() & 1) == 0 || (out.e.size() == 1 && out.e[0] < 3))
      return refused_key("RSA public exponent must be odd, from 3 to 2^32-1");
    return out;
  }
  if (out.kty != "EC" && out.kty != "OKP")
    return refused_key("unsupported JWK kty " + shown(out.kty) + " (RSA, EC or OKP)");
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) return bad_key("no string member \"crv\"");
  const auto& crv_name = crv->get_ref<const std::string&>();
  out.required_members["crv"] = crv_name;
  if (out.kty == "OKP") {
    if (crv_name != "Ed25519")
      return refused_key("unsupported OKP curve " + shown(crv_name) + " (Ed25519)");
    HERALD_TRY(out.x, jwk_member(jwk, "x", out));
    if (out.x.size() != 32)
      return bad_key("Ed25519 \"x\" must be 32 octets, got " + std::to_string(out.x.size()));
    return out;
  }
  for (const Curve& c : kCurves) {
    if (c.crv == crv_name) out.curve = &c;
  }
  if (!out.curve) return refused_key("unsupported EC curve " + shown(crv_name) + " (P-256, P-384)");
  HERALD_TRY(out.x, jwk_member(jwk, "x", out));
  HERALD_TRY(out.y, jwk_member(jwk, "y", out));
  for (const auto& [name, v] : {std::pair{"x", &out.x}, std::pair{"y", &out.y}}) {
    if (v->size() != out.curve->octets) {
      return bad_key(std::string(crv_name) + " \"" + name + "\" must be " +
                     std::to_string(out.curve->octets) + " octets, got " +
                     std::to_string(v->size()));
    }
  }
  return out;
}

Result<ossl::EvpPkeyPtr> rsa_key(const Bytes& n, const Bytes& e) {
  auto internal = [](const char* what) {
    return tagged(ossl::error(ErrorCode::kCrypto, what).value(), kInternal);
  };
  std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn_n(
      BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn_e(
      BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return internal("cannot build the RSA key parameters");
  }
  std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(bld.get()));
  // One context per thread, as in keys::import_ec_point: fetching the key manager is the slow part.
  thread_local ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return internal("cannot make an RSA key of the JWK");
  }
  return ossl::EvpPkeyPtr(key);
}

// Big-endian magnitude of a BIGNUM parameter, at least `pad` octets.
Result<std::string> bn_param_b64(EVP_PKEY& key, const char* name, int pad = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(&key, name, &raw) != 1)
    return ossl::error(ErrorCode::kCrypto, std::string("cannot read the key's ") + name);
  std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn(raw);
  Bytes out(static_cast<size_t>(std::max(pad, BN_num_bytes(bn.get()))));
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(out.size())) < 0)
    return ossl::error(ErrorCode::kCrypto, std::string("cannot encode the key's ") + name);
  return base64url_encode(out);
}

}  // namespace

std::string error_type(const Error& error) {
  for (const auto& [k, v] : error.context)
    if (k == "acme") return v;
  return "";
}

Result<JwsRequest> parse_jws_request(std::string_view body, bool require_nonce) {
  if (body.size() > kMaxJwsRequestSize) {
    return malformed("request body of " + std::to_string(body.size()) + " bytes; at most " +
                     std::to_string(kMaxJwsRequestSize) + " are accepted");
  }
  HERALD_TRY(auto outer, parse_json(bytes_of(body), "request body"));
  for (const auto& [name, value] : outer.items()) {
    if (name != "protected" && name != "payload" && name != "signature") {
      return malformed("request body has the member " + shown(name) +
                       " (only protected, payload and signature: flattened JWS, no unprotected "
                       "header)");
    }
  }
  for (const char* name : {"protected", "payload", "signature"}) {
    if (!outer.contains(name))
      return malformed(std::string("request body has no \"") + name + "\"");
    if (!outer[name].is_string())
      return malformed(std::string("request body \"") + name + "\" is not a string");
  }
  const auto& protected_b64 = outer["protected"].get_ref<const std::string&>();
  const auto& payload_b64 = outer["payload"].get_ref<const std::string&>();
  const auto& signature_b64 = outer["signature"].get_ref<const std::string&>();
  if (protected_b64.empty()) return malformed("\"protected\" is empty");

  JwsRequest jws;
  HERALD_TRY(auto header_bytes, decode(protected_b64, "\"protected\""));
  HERALD_TRY(jws.protected_header, parse_json(header_bytes, "protected header"));
  HERALD_TRY(auto payload_bytes, decode(payload_b64, "\"payload\""));
  HERALD_TRY(jws.signature, decode(signature_b64, "\"signature\""));
  jws.payload_raw.assign(payload_bytes.begin(), payload_bytes.end());
  jws.post_as_get = payload_b64.empty();
  if (!jws.post_as_get) {
    HERALD_TRY(jws.payload, parse_json(payload_bytes, "payload"));
  }

  const nlohmann::json& h = jws.protected_header;
  auto alg = h.find("alg");
  if (alg == h.end()) return malformed("protected header has no alg");
  if (!alg->is_string()) return malformed("protected header alg is not a string");
  jws.alg = alg->get<std::string>();
  if (!find_alg(jws.alg)) {
    std::string why;
    if (jws.alg == "none") why = " (unsigned requests are refused)";
    if (jws.alg.starts_with("HS")) why = " (MAC algorithms are refused)";
    return fail(
        ErrorCode::kMalformedInput, kBadAlg,
        "unsupported alg " + shown(jws.alg) + why + "; accepted: RS256, ES256, ES384, EdDSA");
  }
  // After the alg check, so an unsigned request (alg none) says so.
  if (signature_b64.empty()) return malformed("\"signature\" is empty");
  if (h.contains("crit")) return malformed("protected header has crit, which ACME does not use");
  const bool has_kid = h.contains("kid"), has_jwk = h.contains("jwk");
  if (has_kid && has_jwk) return malformed("protected header has both kid and jwk");
  if (!has_kid && !has_jwk) return malformed("protected header has neither kid nor jwk");
  if (has_jwk) {
    if (!h["jwk"].is_object()) return malformed("protected header jwk is not a JSON object");
    jws.jwk = h["jwk"];
  } else {
    HERALD_TRY(jws.kid, string_member(h, "kid", "protected header"));
  }
  HERALD_TRY(auto nonce, string_member(h, "nonce", "protected header"));
  if (!nonce && require_nonce) return malformed("protected header has no nonce");
  jws.nonce = nonce.value_or("");
  HERALD_TRY(auto url, string_member(h, "url", "protected header"));
  if (!url) return malformed("protected header has no url");
  jws.url = std::move(*url);

  jws.signing_input = protected_b64 + "." + payload_b64;
  return jws;
}

Result<ossl::EvpPkeyPtr> jwk_to_key(const nlohmann::json& jwk) {
  HERALD_TRY(auto j, read_jwk(jwk));
  if (j.kty == "RSA") return rsa_key(j.n, j.e);
  if (j.kty == "OKP") {
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, j.x.data(), j.x.size());
    if (!key) {
      return tagged(ossl::error(ErrorCode::kMalformedInput, "invalid Ed25519 JWK").value(),
                    kBadKey);
    }
    return ossl::EvpPkeyPtr(key);
  }
  Bytes point{0x04};
  point.insert(point.end(), j.x.begin(), j.x.end());
  point.insert(point.end(), j.y.begin(), j.y.end());
  auto key = keys::import_ec_point(j.curve->group, point);
  if (!key) {
    ossl::clear_errors();
    return bad_key("the EC point is not on the " + std::string(j.curve->crv) + " curve");
  }
  return std::move(*key);
}

Result<std::string> jwk_thumbprint(const nlohmann::json& jwk) {
  HERALD_TRY(auto j, read_jwk(jwk));
  // nlohmann::json objects keep their members sorted; dump() adds no whitespace,
  // and the values (base64url, kty, crv names) need no escaping.
  auto digest = ossl::sha256(bytes_of(j.required_members.dump()));
  if (!digest) return tagged(std::move(digest).error(), kInternal);
  return base64url_encode(*digest);
}

Status verify_jws_request(const JwsRequest& jws, EVP_PKEY& key) {
  const Alg* alg = find_alg(jws.alg);
  if (!alg) return fail(ErrorCode::kBadSignature, kBadAlg, "unsupported alg " + shown(jws.alg));
  if (!fits(*alg, key)) {
    return fail(ErrorCode::kBadSignature, kBadAlg,
                "alg " + jws.alg + " does not fit the " + describe_key(key) + " key");
  }
  const size_t expected =
      alg->sig_bytes ? alg->sig_bytes : static_cast<size_t>(EVP_PKEY_get_size(&key));
  if (jws.signature.size() != expected) {
    return fail(ErrorCode::kBadSignature, kMalformed,
                jws.alg + " signature must be " + std::to_string(expected) + " bytes, got " +
                    std::to_string(jws.signature.size()));
  }
  auto ok = keys::jws_signature_verifies(key, md_of(*alg), jws.signing_input, jws.signature);
  if (!ok) return tagged(std::move(ok).error(), kInternal);
  if (!*ok) {
    return fail(ErrorCode::kBadSignature, kUnauthorized,
                "the JWS signature does not verify with the " + describe_key(key) + " key");
  }
  return {};
}

Result<nlohmann::json> key_to_jwk(EVP_PKEY& key) {
  const Alg* alg = alg_for(key);
  if (!alg) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "a " + describe_key(key) + " key has no JWK here (RSA, P-256, P-384, Ed25519)");
  }
  nlohmann::json jwk;
  if (alg->key_id == EVP_PKEY_RSA) {
    jwk["kty"] = "RSA";
    HERALD_TRY(jwk["n"], bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N));
    HERALD_TRY(jwk["e"], bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E));
  } else if (alg->key_id == EVP_PKEY_EC) {
    const int octets = static_cast<int>(alg->sig_bytes / 2);
    jwk["kty"] = "EC";
    jwk["crv"] = EC_curve_nid2nist(alg->curve_nid);
    HERALD_TRY(jwk["x"], bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, octets));
    HERALD_TRY(jwk["y"], bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, octets));
  } else {
    Bytes x(32);
    size_t len = x.size();
    if (EVP_PKEY_get_raw_public_key(&key, x.data(), &len) != 1 || len != 32)
      return ossl::error(ErrorCode::kCrypto, "cannot read the Ed25519 public key");
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    jwk["x"] = base64url_encode(x);
  }
  return jwk;
}

Result<std::string> sign_jws_request(const nlohmann::json& protected_header,
                                     std::string_view payload, EVP_PKEY& key) {
  if (!protected_header.is_object())
    return make_error(ErrorCode::kInvalidArgument, "the protected header must be a JSON object");
  nlohmann::json header = protected_header;
  const Alg* alg = alg_for(key);
  if (!header.contains("alg")) {
    if (!alg) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a " + describe_key(key) + " key cannot sign ACME requests");
    }
    header["alg"] = alg->name;
  } else {
    alg = header["alg"].is_string() ? find_alg(header["alg"].get<std::string>()) : nullptr;
    if (!alg || !fits(*alg, key)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the header's alg does not fit the " + describe_key(key) + " key");
    }
  }
  const std::string protected_b64 = b64(header.dump());
  const std::string payload_b64 = b64(payload);
  HERALD_TRY(auto sig, keys::jws_signature(key, md_of(*alg), protected_b64 + "." + payload_b64));
  return nlohmann::json{
      {"protected", protected_b64}, {"payload", payload_b64}, {"signature", base64url_encode(sig)}}
      .dump();
}

}  // namespace herald::acme
