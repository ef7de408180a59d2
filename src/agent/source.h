#pragma once
// Where the agent gets a certificate when it does not renew over mutual TLS
// with the current one: a bearer token (POST /v1/sign), a jwk provisioner's
// one-time tokens signed here (POST /v1/sign), or ACME (RFC 8555, against
// Herald or any other CA). One source per agent; the agent (agent.h) decides
// when to use it and installs what it returns.

#include <openssl/evp.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "agent/client.h"
#include "base/clock.h"

namespace herald::agent {

// When the CA suggests renewing a certificate (ACME Renewal Information,
// RFC 9773): a random time inside [start, end] is chosen.
struct RenewalWindow {
  TimePoint start;
  TimePoint end;
  std::optional<std::string> explanation_url;
};

class Source {
 public:
  virtual ~Source() = default;
  // For log lines: "the bearer token in /etc/herald/agent.token", "one-time
  // tokens of provisioner 'ci'", "ACME at https://.../directory".
  [[nodiscard]] virtual std::string describe() const = 0;
  // Herald's REST sources: renew a valid certificate over mutual TLS first
  // (POST /v1/renew) and come here only when that is refused. ACME: false,
  // every certificate comes from here (the CA may not be Herald).
  [[nodiscard]] virtual bool renews_over_mtls() const = 0;
  // A certificate for `csr_der` (a PKCS#10 made with `key`, carrying the
  // identity's CN and SANs). `log` takes progress lines (ACME: the order,
  // each challenge); never a key or a token.
  [[nodiscard]] virtual CallResult<Issued> obtain(const Identity& id, EVP_PKEY& key,
                                                  const Bytes& csr_der,
                                                  const std::function<void(const std::string&)>& log) = 0;
  // The CA's suggested renewal window for the certificate `cert_pem`, if it
  // offers one (ACME ARI); nullopt: no opinion (or it could not be asked;
  // the agent then renews at its configured share of the lifetime).
  [[nodiscard]] virtual std::optional<RenewalWindow> renewal_window(const std::string& cert_pem,
                                                                    TimePoint now) {
    (void)cert_pem;
    (void)now;
    return std::nullopt;
  }
};

// POST /v1/sign with the bearer token in `token_file` (re-read at each use).
[[nodiscard]] std::unique_ptr<Source> make_token_source(ServerRef server,
                                                        std::filesystem::path token_file);

// POST /v1/sign with a one-time token (docs/api.md) minted here for each
// request: signed with the jwk provisioner's private key (PEM; encrypted
// ones need `password_file`), naming exactly the identity's CN and SANs,
// audience https://HOST:PORT/v1/sign of `server`, valid for 5 minutes.
// The key is read (and decrypted) at each use, so a rotated key file is
// picked up; it is never logged or sent.
struct OneTimeTokenSettings {
  std::string provisioner;
  std::filesystem::path key_file;
  std::optional<std::filesystem::path> password_file;
};
[[nodiscard]] std::unique_ptr<Source> make_one_time_token_source(ServerRef server,
                                                                 OneTimeTokenSettings s,
                                                                 const Clock& clock);

// ACME (RFC 8555) against any CA: an account key kept in `account_key`
// (created, P-256 and mode 0600, if missing; the account is found again by
// that key), an order per certificate, one challenge type for every name.
struct AcmeSettings {
  std::string directory_url;   // https://HOST[:PORT]/.../directory
  std::string trust_pem;       // anchors for the ACME server's TLS; empty: the system's
  std::filesystem::path account_key;
  std::optional<std::string> email;  // the account's contact
  // External Account Binding (RFC 8555 §7.3.4), when the CA requires one.
  std::optional<std::string> eab_kid;
  std::optional<std::filesystem::path> eab_hmac_key_file;  // base64url HMAC key
  enum class Challenge { kHttp01Standalone, kHttp01Webroot, kDns01Hook };
  Challenge challenge = Challenge::kHttp01Standalone;
  // http-01 standalone: serve /.well-known/acme-challenge/ on this HOST:PORT
  // while an order is being validated (and only then).
  std::string http_listen = "0.0.0.0:80";
  // http-01 webroot: write WEBROOT/.well-known/acme-challenge/TOKEN (removed after).
  std::filesystem::path webroot;
  // dns-01: run `HOOK present|cleanup NAME VALUE` (/bin/sh -c, with NAME the
  // _acme-challenge.DOMAIN record and VALUE the TXT value), within
  // hook_timeout; a non-zero exit fails the order.
  std::string dns_hook;
  std::chrono::seconds hook_timeout{120};
  // The whole order (authorizations validated, finalized, downloaded) must
  // finish within this long.
  std::chrono::seconds order_timeout{300};
};
[[nodiscard]] std::unique_ptr<Source> make_acme_source(AcmeSettings s, const Clock& clock);

}  // namespace herald::agent
