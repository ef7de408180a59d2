#include "ca/trust.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cctype>

#include "ossl/ossl.h"

namespace herald::ca {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string fingerprint_text(std::span<const uint8_t> b) { return to_hex_colons(b); }

}  // namespace

Result<Bytes> parse_sha256_fingerprint(std::string_view text) {
  std::string_view t = text;
  for (std::string_view prefix : {"sha256:", "sha256="}) {
    if (t.size() > prefix.size() && lower(t.substr(0, prefix.size())) == prefix) {
      t.remove_prefix(prefix.size());
      break;
    }
  }
  size_t digits = 0;
  for (char c : t) digits += c != ':';
  auto bytes = from_hex(t);
  if (!bytes || bytes->size() != 32 || digits != 64) {
    return make_error(ErrorCode::kInvalidArgument, "not a SHA-256 fingerprint: '" +
                                                       std::string(text) +
                                                       "' (64 hex digits, ':' separators allowed)");
  }
  return std::move(*bytes);
}

Status check_partner_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (unsigned char c : name) ok = ok && (std::isalnum(c) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid partner name '" + std::string(name) +
                          "': 1 to 64 characters of letters, digits, '.', '_' and '-', starting "
                          "with a letter or digit");
  }
  return {};
}

Status check_anchor_key(const x509::Certificate& cert) {
  const auto info = cert.key_info();
  EVP_PKEY* pkey = X509_get0_pubkey(&cert.x509());
  if (!pkey) {
    ossl::clear_errors();
    return make_error(ErrorCode::kMalformedInput, "the certificate's public key cannot be read");
  }
  switch (info.algorithm) {
    case keys::KeyAlgorithm::kRsa:
      if (info.bits < 2048) {
        return make_error(
            ErrorCode::kPolicyViolation,
            "weak key: RSA " + std::to_string(info.bits) + " bits (at least 2048 are required)");
      }
      return {};
    case keys::KeyAlgorithm::kEc: {
      char encoding[32] = {};
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding,
                                         sizeof encoding, nullptr) != 1 ||
          std::string_view(encoding) != OSSL_PKEY_EC_ENCODING_GROUP) {
        ossl::clear_errors();
        return make_error(ErrorCode::kPolicyViolation,
                          "weak key: an EC key with explicit curve parameters (only named curves "
                          "are accepted: P-256, P-384, P-521)");
      }
      if (info.bits < 256) {
        return make_error(ErrorCode::kPolicyViolation,
                          "weak key: EC on a " + std::to_string(info.bits) +
                              "-bit curve (at least 256 bits are required)");
      }
      return {};
    }
    case keys::KeyAlgorithm::kEd25519:
    case keys::KeyAlgorithm::kEd448:
      return {};
    default:
      return make_error(ErrorCode::kPolicyViolation,
                        "unsupported key for a trust anchor: " + info.name() +
                            " (RSA >= 2048, EC on a named curve, Ed25519 or Ed448)");
  }
}

Result<std::vector<std::string>> check_partner_root(const x509::Certificate& cert,
                                                    std::string_view expected, TimePoint now) {
  HERALD_TRY(auto want, parse_sha256_fingerprint(expected));
  HERALD_TRY(auto have, ossl::sha256(cert.der()));
  if (have != want) {
    return make_error(ErrorCode::kConflict, "fingerprint mismatch: the certificate's SHA-256 is " +
                                                fingerprint_text(have) + ", --fingerprint says " +
                                                fingerprint_text(want) + " (" + cert.subject() +
                                                ")");
  }
  if (!cert.is_ca()) {
    return make_error(ErrorCode::kPolicyViolation,
                      "not a CA certificate (basicConstraints cA is not set): " + cert.subject());
  }
  if (auto s = check_anchor_key(cert); !s) {
    return tl::unexpected(std::move(s.error()).with("subject", cert.subject()));
  }
  if (now < cert.not_before()) {
    return make_error(
        ErrorCode::kPolicyViolation,
        "not yet valid: " + cert.subject() + " is valid from " + format_time(cert.not_before()));
  }
  if (now > cert.not_after()) {
    return make_error(ErrorCode::kPolicyViolation, "expired: " + cert.subject() + " expired at " +
                                                       format_time(cert.not_after()));
  }
  std::vector<std::string> warnings;
  X509& x = cert.x509();
  const bool self_issued = X509_check_issued(&x, &x) == X509_V_OK;
  const bool self_signed = self_issued && X509_verify(&x, X509_get0_pubkey(&x)) == 1;
  ossl::clear_errors();
  if (!self_signed) {
    warnings.push_back(cert.subject() +
                       " is not a self-signed root: relying parties need the partner's chain up "
                       "to it, and some software only accepts roots as trust anchors");
  }
  return warnings;
}

namespace {

Result<Bytes> bn_param(EVP_PKEY& pkey, const char* name, int pad_to) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(&pkey, name, &bn) != 1 || !bn) {
    return ossl::error(ErrorCode::kCrypto, std::string("cannot read the key's ") + name);
  }
  const int n = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  Bytes out(static_cast<size_t>(n));
  const int written = pad_to > 0 ? BN_bn2binpad(bn, out.data(), n) : BN_bn2bin(bn, out.data());
  BN_free(bn);
  if (written != n) return make_error(ErrorCode::kCrypto, std::string("cannot encode ") + name);
  return out;
}

}  // namespace

Result<nlohmann::json> x509_svid_jwk(const x509::Certificate& cert) {
  EVP_PKEY* pkey = X509_get0_pubkey(&cert.x509());
  if (!pkey) {
    ossl::clear_errors();
    return make_error(ErrorCode::kMalformedInput, "the certificate's public key cannot be read");
  }
  const auto info = cert.key_info();
  nlohmann::json jwk = nlohmann::json::object();
  jwk["use"] = "x509-svid";
  switch (info.algorithm) {
    case keys::KeyAlgorithm::kEc: {
      if (info.curve != "P-256" && info.curve != "P-384" && info.curve != "P-521") {
        return make_error(ErrorCode::kPolicyViolation,
                          "no JWK curve name for EC curve '" + info.curve + "'");
      }
      const int len = (info.bits + 7) / 8;
      HERALD_TRY(auto x, bn_param(*pkey, OSSL_PKEY_PARAM_EC_PUB_X, len));
      HERALD_TRY(auto y, bn_param(*pkey, OSSL_PKEY_PARAM_EC_PUB_Y, len));
      jwk["kty"] = "EC";
      jwk["crv"] = info.curve;
      jwk["x"] = base64url_encode(x);
      jwk["y"] = base64url_encode(y);
      break;
    }
    case keys::KeyAlgorithm::kRsa: {
      HERALD_TRY(auto n, bn_param(*pkey, OSSL_PKEY_PARAM_RSA_N, 0));
      HERALD_TRY(auto e, bn_param(*pkey, OSSL_PKEY_PARAM_RSA_E, 0));
      jwk["kty"] = "RSA";
      jwk["n"] = base64url_encode(n);
      jwk["e"] = base64url_encode(e);
      break;
    }
    case keys::KeyAlgorithm::kEd25519:
    case keys::KeyAlgorithm::kEd448: {
      size_t len = 0;
      if (EVP_PKEY_get_raw_public_key(pkey, nullptr, &len) != 1) {
        return ossl::error(ErrorCode::kCrypto, "cannot read the EdDSA key");
      }
      Bytes raw(len);
      if (EVP_PKEY_get_raw_public_key(pkey, raw.data(), &len) != 1) {
        return ossl::error(ErrorCode::kCrypto, "cannot read the EdDSA key");
      }
      jwk["kty"] = "OKP";
      jwk["crv"] = info.algorithm == keys::KeyAlgorithm::kEd25519 ? "Ed25519" : "Ed448";
      jwk["x"] = base64url_encode(raw);
      break;
    }
    default:
      return make_error(ErrorCode::kPolicyViolation,
                        "no JWK form for a " + info.name() + " key (" + cert.subject() + ")");
  }
  jwk["x5c"] = nlohmann::json::array({base64_encode(cert.der())});
  return jwk;
}

Result<std::string> spiffe_bundle_json(const std::vector<x509::Certificate>& roots,
                                       const SpiffeBundleOptions& options) {
  nlohmann::json doc = nlohmann::json::object();
  doc["keys"] = nlohmann::json::array();
  for (const auto& r : roots) {
    HERALD_TRY(auto jwk, x509_svid_jwk(r));
    doc["keys"].push_back(std::move(jwk));
  }
  doc["spiffe_refresh_hint"] = options.refresh_hint.count();
  if (options.sequence) doc["spiffe_sequence"] = *options.sequence;
  return doc.dump(2) + "\n";
}

Result<ParsedSpiffeBundle> parse_spiffe_bundle(std::string_view text) {
  auto bad = [](const std::string& why) {
    return make_error(ErrorCode::kMalformedInput, "SPIFFE bundle: " + why);
  };
  if (text.size() > (1u << 20)) return bad("larger than 1 MiB");
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  if (!doc.contains("keys") || !doc["keys"].is_array()) return bad("no \"keys\" array");
  const auto& keys = doc["keys"];
  if (keys.size() > 256) return bad("more than 256 keys");
  ParsedSpiffeBundle out;
  if (doc.contains("spiffe_refresh_hint")) {
    const auto& h = doc["spiffe_refresh_hint"];
    if (!h.is_number_integer() || h.get<int64_t>() <= 0 || h.get<int64_t>() > (int64_t{1} << 32)) {
      return bad("spiffe_refresh_hint must be a positive integer (seconds)");
    }
    out.refresh_hint = std::chrono::seconds(h.get<int64_t>());
  }
  if (doc.contains("spiffe_sequence")) {
    const auto& q = doc["spiffe_sequence"];
    if (!q.is_number_unsigned() && !(q.is_number_integer() && q.get<int64_t>() >= 0)) {
      return bad("spiffe_sequence must be a non-negative integer");
    }
    out.sequence = q.get<uint64_t>();
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    const std::string at = "key " + std::to_string(i) + ": ";
    if (!k.is_object()) return bad(at + "not a JSON object");
    if (!k.contains("use") || !k["use"].is_string()) return bad(at + "no \"use\"");
    if (k["use"] != "x509-svid") continue;
    if (!k.contains("x5c") || !k["x5c"].is_array() || k["x5c"].size() != 1 ||
        !k["x5c"][0].is_string()) {
      return bad(at + "an x509-svid key needs exactly one \"x5c\" certificate");
    }
    auto der = base64_decode(k["x5c"][0].get<std::string>());
    if (!der) return bad(at + "x5c: " + der.error().message);
    auto cert = x509::Certificate::from_der(*der);
    if (!cert) return bad(at + "x5c: " + cert.error().message);
    if (X509_check_ca(&cert->x509()) != 1) return bad(at + "x5c is not a CA certificate");
    // The JWK's own parameters must describe the certificate's key.
    auto expected = x509_svid_jwk(*cert);
    if (!expected) return bad(at + expected.error().message);
    for (const auto& [name, value] : expected->items()) {
      if (name == "use" || name == "x5c") continue;
      if (!k.contains(name) || k[name] != value) {
        return bad(at + "\"" + name + "\" does not match the x5c certificate's key");
      }
    }
    out.authorities.push_back(std::move(*cert));
  }
  if (out.authorities.empty()) return bad("no x509-svid authority in it");
  return out;
}

std::string pem_bundle(const std::vector<x509::Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += c.pem();
  return out;
}

std::string content_etag(std::string_view content) {
  auto d =
      ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
  return "\"" + (d ? to_hex(std::span(d->data(), 16), false) : std::string("0")) + "\"";
}

bool if_none_match(std::string_view header, std::string_view etag) {
  auto strip_weak = [](std::string_view t) {
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  const std::string_view want = strip_weak(etag);
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view tag = header.substr(pos, comma - pos);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*" || (!tag.empty() && strip_weak(tag) == want)) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace herald::ca
