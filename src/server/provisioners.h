#pragma once
// Who may do what on the online CA: the configured provisioners with their
// jwk keys, as one snapshot swapped on reload. Every caller of the REST API
// is authenticated here and comes out as the provisioner's SignOptions
// (ca/sign_options.h), which the issuance pipeline applies in one place:
//
//   bearer API token    the token's provisioner (type "token")
//   one-time token      a jwk provisioner, limited to the token's names
//   renewal over mTLS   the provisioner that issued the certificate, if it
//                       still allows its profile (the CLI's operator: none)
//   ACME account        the acme provisioner of the directory (acme_wiring.cc)
//
// and the other decisions about a caller's reach: which certificates a
// token may revoke, and Herald's own certificates never.

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <openssl/evp.h>

#include "base/clock.h"
#include "ca/sign_options.h"
#include "datadir/data_dir.h"
#include "net/http.h"
#include "server/config.h"
#include "store/store.h"

namespace herald::server {

// The sign options a provisioner gives its callers: its name, profiles,
// name scope and (acme) lifetime.
[[nodiscard]] ca::SignOptions sign_options(const ProvisionerConfig& p);

// A /v1/sign caller: its sign options and, for a one-time token, the token
// id to spend once the request passed every check.
struct SignCaller {
  ca::SignOptions options;
  std::optional<std::string> jti;  // one-time token: spend before issuing
  TimePoint expires_at;
};

class Provisioners {
 public:
  // The provisioners of `config`, with the jwk provisioners' keys read
  // (relative paths from DIR). kMalformedInput for an unusable key.
  [[nodiscard]] static Result<std::shared_ptr<const Provisioners>> load(
      const datadir::DataDir& dir, ServerConfig config);

  [[nodiscard]] const ServerConfig& config() const { return config_; }

  // A bearer API token (Authorization: Bearer <token>) whose provisioner
  // holds `need`. kUnauthenticated / kForbidden.
  [[nodiscard]] Result<const ProvisionerConfig*> authenticate(store::TokenStore& tokens,
                                                              const net::Request& req,
                                                              Permission need) const;
  // A /v1/sign caller: a bearer token with the sign permission, or a jwk
  // provisioner's one-time token (signature and claims checked; not spent).
  [[nodiscard]] Result<SignCaller> authenticate_sign(store::TokenStore& tokens,
                                                     const net::Request& req,
                                                     TimePoint now) const;
  // The options a renewal of `rec` gets: those of the provisioner that
  // issued it (which must still exist and allow `profile`), or the
  // operator's for a certificate issued with the CLI. kForbidden for
  // Herald's own certificates.
  [[nodiscard]] Result<ca::SignOptions> renewal_options(const store::CertRecord& rec,
                                                        policy::Profile profile) const;
  // Whether `who` may revoke `rec`: a scoped provisioner only what it
  // issued; nobody Herald's own certificates. kForbidden with the reason.
  [[nodiscard]] static Status may_revoke(const ProvisionerConfig& who,
                                         const store::CertRecord& rec);
  // An ACME directory's options (kForbidden if it is gone).
  [[nodiscard]] Result<ca::SignOptions> acme_options(const std::string& name) const;

 private:
  explicit Provisioners(ServerConfig config) : config_(std::move(config)) {}

  ServerConfig config_;
  std::map<std::string, std::shared_ptr<EVP_PKEY>> jwk_keys_;
};

}  // namespace herald::server
