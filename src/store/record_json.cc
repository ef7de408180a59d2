#include "store/record_json.h"

namespace herald::store {

nlohmann::json to_json(const CertRecord& r, TimePoint now) {
  nlohmann::json sans = nlohmann::json::array();
  for (const auto& s : r.sans) sans.push_back(s.to_string());
  return {
      {"serial", r.serial.hex()},
      {"issuer_serial", r.issuer_serial.hex()},
      {"subject", r.subject},
      {"common_name", r.common_name},
      {"sans", sans},
      {"issuer", r.issuer},
      {"not_before", format_time(r.not_before)},
      {"not_after", format_time(r.not_after)},
      {"key_algorithm", r.key_algorithm},
      {"key_bits", r.key_bits},
      {"signature_algorithm", r.signature_algorithm},
      {"eku", r.ext_key_usage},
      {"profile", r.profile},
      {"fingerprint_sha256", r.fingerprint_sha256},
      {"owner", r.owner},
      {"status", r.status_at(now)},
      {"issued_at", format_time(r.issued_at)},
      {"revoked_at", r.revoked_at ? nlohmann::json(format_time(*r.revoked_at)) : nlohmann::json()},
      {"revocation_reason",
       r.revocation_reason ? nlohmann::json(std::string(x509::reason_name(*r.revocation_reason)))
                           : nlohmann::json()},
  };
}

}  // namespace herald::store
