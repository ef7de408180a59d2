#pragma once
// Revocation reasons (RFC 5280 §5.3.1) and v2 CRL building (§5.1). Pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "keys/signer.h"
#include "ossl/ossl.h"

namespace herald::x509 {

enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

[[nodiscard]] Result<RevocationReason> parse_reason(std::string_view name);  // "keyCompromise"
[[nodiscard]] std::string_view reason_name(RevocationReason r);
constexpr std::string_view kReasonChoices =
    "unspecified|keyCompromise|caCompromise|affiliationChanged|superseded|cessationOfOperation|"
    "certificateHold|removeFromCRL|privilegeWithdrawn|aACompromise";

struct RevokedEntry {
  Serial serial;
  TimePoint revoked_at;
  RevocationReason reason = RevocationReason::kUnspecified;
};

struct CrlSpec {
  uint64_t number = 0;
  TimePoint this_update;
  TimePoint next_update;
  Bytes authority_key_id;
  std::vector<RevokedEntry> entries;
};

// A signed v2 CRL (DER) with CRL number and AKI; entries in the order given;
// reasonCode on every entry except unspecified (§5.3.1: SHOULD be absent).
[[nodiscard]] Result<Bytes> build_crl(const CrlSpec& spec, const X509_NAME& issuer,
                                      const keys::Signer& signer);

}  // namespace herald::x509
