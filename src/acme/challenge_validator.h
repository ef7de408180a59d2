#pragma once
// Who decides whether a client answered a challenge: the ACME service asks a
// ChallengeValidator (chosen in Settings, so tests can script one). Two
// implementations:
// - NetworkValidator: dials the identifier as RFC 8555 §8.3 / §8.4 and
//   RFC 8737 say (validation/validator.h), from the service's worker pool;
// - AlwaysValid: every answer is right, decided at once without I/O
//   ([acme] insecure_skip_validation: tests and benchmarks only).

#include <memory>
#include <string_view>

#include "acme/validation/validator.h"

namespace herald::acme {

class ChallengeValidator {
 public:
  virtual ~ChallengeValidator() = default;
  // The outcome of one challenge: `challenge_type` "http-01", "tls-alpn-01"
  // or "dns-01"; the identifier ("dns" or "ip", and its value: the base
  // domain for a wildcard); the challenge's token and the key authorization
  // (token "." account key thumbprint, RFC 8555 §8.1). Called from the
  // service's validation threads, several at once: thread-safe.
  [[nodiscard]] virtual validation::Outcome validate(std::string_view challenge_type,
                                                     std::string_view identifier_type,
                                                     std::string_view identifier_value,
                                                     std::string_view token,
                                                     std::string_view key_authorization) const = 0;
  // True if validate() answers at once without I/O: the service then decides
  // the challenge inside the request that starts it (the answer shows the
  // result; validate() runs inside the store's write transaction, so it must
  // be quick) instead of queueing it for a worker.
  [[nodiscard]] virtual bool immediate() const { return false; }
};

class NetworkValidator final : public ChallengeValidator {
 public:
  explicit NetworkValidator(validation::Settings settings) : settings_(std::move(settings)) {}
  // validate_http01, validate_tlsalpn01 or validate_dns01 with the settings;
  // another challenge type is "malformed".
  [[nodiscard]] validation::Outcome validate(std::string_view challenge_type,
                                             std::string_view identifier_type,
                                             std::string_view identifier_value,
                                             std::string_view token,
                                             std::string_view key_authorization) const override;

 private:
  validation::Settings settings_;
};

class AlwaysValid final : public ChallengeValidator {
 public:
  [[nodiscard]] validation::Outcome validate(std::string_view, std::string_view, std::string_view,
                                             std::string_view, std::string_view) const override {
    return {true, "", "", {}};
  }
  [[nodiscard]] bool immediate() const override { return true; }
};

}  // namespace herald::acme
