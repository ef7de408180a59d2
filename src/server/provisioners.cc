#include "server/provisioners.h"

#include <openssl/pem.h>

#include <algorithm>

#include "base/encoding.h"
#include "base/fs.h"
#include "keys/jws.h"
#include "ossl/ossl.h"
#include "server/one_time_token.h"

namespace herald::server {

namespace {

std::string label(const store::CertRecord& rec, const char* key) {
  auto it = rec.owner.find(key);
  return it == rec.owner.end() ? std::string() : it->second;
}

bool is_herald_own(const store::CertRecord& rec) {
  return label(rec, "service") == "herald-serve" || rec.profile == "ocsp-signer";
}

}  // namespace

ca::SignOptions sign_options(const ProvisionerConfig& p) {
  ca::SignOptions o;
  o.provisioner = p.name;
  o.profiles = p.profiles;
  o.scope = p.scope;
  o.ttl = p.ttl;
  return o;
}

Result<std::shared_ptr<const Provisioners>> Provisioners::load(const datadir::DataDir& dir,
                                                               ServerConfig config) {
  std::shared_ptr<Provisioners> out(new Provisioners(std::move(config)));
  for (const auto& p : out->config_.provisioners) {
    if (p.type != "jwk") continue;
    auto path = std::filesystem::path(p.public_key_file);
    if (path.is_relative()) path = dir.root() / path;
    HERALD_TRY(auto pem, fs::read_file(path, 64 * 1024));
    auto bio = ossl::mem_bio(pem);
    EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    const bool ok = k && ((EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && EVP_PKEY_get_bits(k) == 256) ||
                          EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519);
    if (!ok) {
      EVP_PKEY_free(k);
      ossl::clear_errors();
      return make_error(ErrorCode::kMalformedInput,
                        "provisioner '" + p.name + "': " + path.string() +
                            " is not a P-256 or Ed25519 public key (PEM)");
    }
    out->jwk_keys_[p.name] = std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
  }
  return std::shared_ptr<const Provisioners>(std::move(out));
}

Result<const ProvisionerConfig*> Provisioners::authenticate(store::TokenStore& tokens,
                                                            const net::Request& req,
                                                            Permission need) const {
  std::string_view auth = req.header("authorization");
  if (!auth.starts_with("Bearer ") || auth.size() < 8) {
    return make_error(ErrorCode::kUnauthenticated,
                      "missing bearer token (Authorization: Bearer <token>)");
  }
  std::string_view token = auth.substr(7);
  HERALD_TRY(auto digest,
             ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
  HERALD_TRY(auto rec, tokens.find_token(to_hex(digest, false)));
  if (!rec || rec->revoked)
    return make_error(ErrorCode::kUnauthenticated, "unknown or revoked token");
  const ProvisionerConfig* p = config_.provisioner(rec->provisioner);
  if (!p) {
    return make_error(ErrorCode::kForbidden,
                      "the token's provisioner '" + rec->provisioner + "' is not configured");
  }
  if (p->type != "token") {
    // jwk and acme provisioners prove every request (a one-time token, ACME
    // challenges); a bearer token for them would skip that proof.
    return make_error(ErrorCode::kForbidden, "provisioner '" + p->name + "' is of type '" +
                                                 p->type + "': bearer tokens are not accepted for it");
  }
  if (!p->can(need)) {
    static constexpr const char* kNames[] = {"sign", "revoke", "read", "admin"};
    return make_error(ErrorCode::kForbidden, "provisioner '" + p->name + "' lacks the '" +
                                                 kNames[static_cast<int>(need)] + "' permission");
  }
  return p;
}

Result<SignCaller> Provisioners::authenticate_sign(store::TokenStore& tokens,
                                                   const net::Request& req, TimePoint now) const {
  std::string_view auth = req.header("authorization");
  const bool jws = auth.starts_with("Bearer ") && std::count(auth.begin(), auth.end(), '.') == 2;
  if (!jws) {
    HERALD_TRY(auto p, authenticate(tokens, req, Permission::kSign));
    return SignCaller{sign_options(*p), std::nullopt, {}};
  }
  // A one-time token of a jwk provisioner (docs/api.md).
  auto unauth = [](const std::string& why) {
    return make_error(ErrorCode::kUnauthenticated, "one-time token: " + why);
  };
  auto token = keys::parse_compact_jws(auth.substr(7));
  if (!token) return unauth(token.error().message);
  const auto& c = token->payload;
  const std::string iss = c.contains("iss") && c["iss"].is_string() ? c["iss"].get<std::string>()
                                                                     : std::string();
  const ProvisionerConfig* p = config_.provisioner(iss);
  auto key = jwk_keys_.find(iss);
  if (!p || p->type != "jwk" || key == jwk_keys_.end())
    return unauth("unknown provisioner '" + iss + "' (claim iss)");
  if (auto v = keys::verify_jws(*token, *key->second); !v) return unauth(v.error().message);
  std::vector<std::string> audiences;
  for (const auto& n : config_.tls_names) {
    audiences.push_back("https://" + n + ":" + std::to_string(config_.listen.port) + "/v1/sign");
  }
  HERALD_TRY(auto claims, check_one_time_claims(c, now.time_since_epoch().count(), audiences));
  SignCaller out{sign_options(*p), claims.jti, TimePoint{std::chrono::seconds(claims.exp)}};
  out.options.names = std::move(claims.names);
  return out;
}

Result<ca::SignOptions> Provisioners::renewal_options(const store::CertRecord& rec,
                                                      policy::Profile profile) const {
  if (is_herald_own(rec)) {
    return make_error(ErrorCode::kForbidden, "certificate " + rec.serial.hex() +
                                                 " is Herald's own; the server renews it itself");
  }
  ca::SignOptions out;
  const std::string by = label(rec, "provisioner");
  if (!by.empty()) {
    const ProvisionerConfig* p = config_.provisioner(by);
    if (!p) {
      return make_error(ErrorCode::kForbidden, "certificate " + rec.serial.hex() +
                                                   " was issued by provisioner '" + by +
                                                   "', which is no longer configured");
    }
    if (!p->allows(profile) || !p->can(Permission::kSign)) {
      return make_error(ErrorCode::kForbidden, "provisioner '" + p->name +
                                                   "' may no longer issue '" + rec.profile +
                                                   "' certificates");
    }
    out = sign_options(*p);
    out.ttl.reset();  // a renewal keeps the certificate's own lifetime
  }
  // Otherwise issued by the operator with the CLI: the policy alone limits it.
  out.labels["renewed_from"] = rec.serial.hex();
  return out;
}

Status Provisioners::may_revoke(const ProvisionerConfig& who, const store::CertRecord& rec) {
  if (is_herald_own(rec)) {
    return make_error(ErrorCode::kForbidden,
                      "certificate " + rec.serial.hex() + " is Herald's own (" +
                          (rec.profile == "ocsp-signer" ? "OCSP responder" : "herald-serve TLS") +
                          "); revoke it with 'herald revoke' on the CA host");
  }
  // A scoped provisioner revokes only what it issued; an unscoped one (like
  // `admin`, which may issue any name the policy allows) any leaf.
  if (who.scope.restricted && label(rec, "provisioner") != who.name) {
    return make_error(ErrorCode::kForbidden, "provisioner '" + who.name +
                                                 "' may only revoke certificates it issued (" +
                                                 rec.serial.hex() + " was not)");
  }
  return {};
}

Result<ca::SignOptions> Provisioners::acme_options(const std::string& name) const {
  const ProvisionerConfig* p = config_.provisioner(name);
  if (!p || p->type != "acme")
    return make_error(ErrorCode::kForbidden, "the ACME provisioner '" + name +
                                                 "' is no longer configured");
  return sign_options(*p);
}

}  // namespace herald::server
