#include "acme/challenge_validator.h"

#include <string>

namespace herald::acme {

validation::Outcome NetworkValidator::validate(std::string_view challenge_type,
                                               std::string_view identifier_type,
                                               std::string_view identifier_value,
                                               std::string_view token,
                                               std::string_view key_authorization) const {
  if (challenge_type == "http-01")
    return validation::validate_http01(settings_, identifier_type, identifier_value, token,
                                       key_authorization);
  if (challenge_type == "tls-alpn-01")
    return validation::validate_tlsalpn01(settings_, identifier_type, identifier_value,
                                          key_authorization);
  if (challenge_type == "dns-01")
    return validation::validate_dns01(settings_, identifier_value, key_authorization);
  return {false,
          "malformed",
          "no validation for challenge type '" + std::string(challenge_type) + "'",
          {}};
}

}  // namespace herald::acme
