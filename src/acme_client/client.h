#pragma once
// An ACME client (RFC 8555) for `herald agent`: works against Herald's own
// ACME server and any other (pebble, Let's Encrypt's test server).
//
//  - the directory (§7.1.1) is fetched once per Client and kept;
//  - nonces (§7.2): HEAD newNonce when none is at hand, the Replay-Nonce of
//    every response kept; a badNonce answer is retried once (§6.5);
//  - every request is a JWS in the flattened JSON serialization (§6.2)
//    signed with the account key (ES256 for P-256): "jwk" for newAccount,
//    "kid" (the account URL) afterwards; every fetch is a POST-as-GET (§6.3);
//  - newAccount (§7.3) with termsOfServiceAgreed, the contact if given, and
//    an External Account Binding (§7.3.4, HS256 over the account's JWK) when
//    a key is configured; the same key again finds the existing account;
//  - newOrder with "dns" and "ip" (RFC 8738) identifiers, the
//    authorizations fetched, one challenge type answered for all of them
//    (challenges.h), the authorizations polled (Retry-After honoured, within
//    the order's deadline), finalize with the CSR, the order polled, the
//    certificate downloaded (application/pem-certificate-chain);
//  - ACME Renewal Information (RFC 9773): GET {renewalInfo}/{certID}, kept
//    until its Retry-After (clamped to 1 min .. 1 day).
//
// Errors name the step, the identifier and the problem type:
//   "authorization for dns:web.internal is invalid: urn:ietf:params:acme:error:connection: ..."
// `refused` is set for answers a retry will not change (4xx problems other
// than badNonce and rateLimited); network failures, 5xx and rate limits are
// not refused.

#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "acme_client/challenges.h"
#include "acme_client/messages.h"
#include "base/clock.h"
#include "base/error.h"
#include "net/http.h"

namespace herald::acme_client {

struct AcmeError {
  Error error;
  bool refused = false;
};
template <typename T>
using AcmeResult = tl::expected<T, AcmeError>;

// One HTTPS exchange (net::https_request with the configured trust, in
// production; a fake in tests). Errors only for connection/TLS failures.
using Transport = std::function<Result<net::Response>(
    const std::string& method, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    std::chrono::seconds timeout)>;
// Waits (between polls).
using Sleep = std::function<void(std::chrono::milliseconds)>;
using LogFn = std::function<void(const std::string&)>;

struct AccountOptions {
  std::optional<std::string> email;
  std::optional<std::string> eab_kid;
  Bytes eab_hmac_key;  // with eab_kid
};

// The "externalAccountBinding" object (§7.3.4): a flattened JWS, HS256 under
// `hmac_key`, protected {"alg":"HS256","kid":KID,"url":NEW_ACCOUNT_URL},
// payload the account's public JWK.
[[nodiscard]] Result<nlohmann::json> eab_binding(const std::string& kid, const Bytes& hmac_key,
                                                 const nlohmann::json& account_jwk,
                                                 const std::string& new_account_url);

// The identifiers a CSR names (its CN and its DNS and IP SANs, deduplicated,
// in order): what the order must ask for. URI and e-mail SANs cannot be
// proven over ACME: kInvalidArgument.
[[nodiscard]] Result<std::vector<Identifier>> identifiers_of_csr(const Bytes& csr_der);

// The RFC 7638 thumbprint of `key`'s public JWK.
[[nodiscard]] Result<std::string> account_thumbprint(EVP_PKEY& key);

class Client {
 public:
  Client(std::string directory_url, Transport transport, Sleep sleep, const Clock& clock);

  [[nodiscard]] const std::string& directory_url() const { return directory_url_; }
  [[nodiscard]] AcmeResult<Directory> directory();

  // The account URL for `key` (newAccount; kept for the next orders).
  [[nodiscard]] AcmeResult<std::string> account(EVP_PKEY& key, const AccountOptions& opts);

  // A whole order for the CSR's identifiers; the PEM chain the CA returned
  // (leaf first). `solver.cleanup()` has run when this returns. Progress
  // lines go to `log`.
  [[nodiscard]] AcmeResult<std::string> obtain(EVP_PKEY& account_key, const AccountOptions& opts,
                                               const Bytes& csr_der, Solver& solver,
                                               std::chrono::seconds order_timeout,
                                               const LogFn& log);

  // RFC 9773 for the certificate `cert_der`: nullopt when the directory has
  // no renewalInfo. Answers are kept until their Retry-After (1 min .. 1 day,
  // 6 h when absent); a failure, also to fetch the directory, is kept for a
  // minute (and returned as an error). Each GET waits at most 10 s.
  [[nodiscard]] AcmeResult<std::optional<RenewalInfo>> renewal_info(const Bytes& cert_der);

 private:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    [[nodiscard]] std::chrono::milliseconds left() const;
    [[nodiscard]] std::chrono::seconds request_timeout() const;
  };
  // A signed POST to `url` (payload "" = POST-as-GET); badNonce retried once.
  AcmeResult<net::Response> post(EVP_PKEY& key, const std::string& url, const std::string& payload,
                                 const std::string& what, const Deadline& d, bool use_jwk = false);
  AcmeResult<std::string> nonce(const Deadline& d);
  void take_nonce(const net::Response& r);
  AcmeError problem_error(const std::string& what, const net::Response& r) const;
  void wait_before_poll(const net::Response& r, const Deadline& d, int attempt);

  std::string directory_url_;
  Transport transport_;
  Sleep sleep_;
  const Clock& clock_;
  std::mutex mu_;  // one request sequence at a time
  std::optional<Directory> directory_;
  std::optional<std::string> nonce_;
  std::string account_url_;
  std::string account_thumbprint_;  // the key the account URL belongs to
  struct AriEntry {
    TimePoint until;
    std::optional<RenewalInfo> info;
    std::optional<AcmeError> error;
  };
  std::map<std::string, AriEntry> ari_;
  std::optional<std::pair<TimePoint, AcmeError>> directory_error_;  // for renewal_info, until then
};

}  // namespace herald::acme_client
