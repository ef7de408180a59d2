#pragma once
// Pre-signed OCSP answers kept in the store (issue #15), so that what
// `herald serve` holds in memory is a bounded cache, a restart re-signs
// nothing still fresh, and the nodes on one PostgreSQL share one set of
// answers instead of each signing its own.
//
// One row per certificate of the issuing CA that has been answered for: the
// response for its SHA-1 CertID (what clients send) and, once someone asked
// for it, the one for its SHA-256 CertID. The row goes when the certificate
// has expired (the next refresh drops it instead of re-signing).
//
// A row's status must never go back in time: an answer is stored only while
// the certificate's revocation state in the store is still the one the
// answer states (so a node that read "good" just before another node
// revoked cannot overwrite the "revoked" answer with its own), and never
// over a row signed later.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "store/inventory.h"

namespace herald::store {

struct OcspAnswer {
  Serial serial;
  TimePoint not_after;    // the certificate's
  TimePoint this_update;  // of the responses
  TimePoint next_update;
  TimePoint refresh_at;   // when the responses are due to be signed again
  // The state the responses state; a put is refused (silently) unless the
  // certificate still has it.
  CertStatus status = CertStatus::kValid;
  std::optional<int> reason;  // the revocation reason (RFC 5280 code), if revoked
  Bytes sha1_der;             // the response for the SHA-1 CertID
  Bytes sha256_der;           // for the SHA-256 CertID; empty until asked for
};

// A page of the walk over the certificates without a stored answer.
struct OcspGapPage {
  std::vector<Serial> missing;  // unexpired, of the issuer, no stored answer
  // Where the next page starts (notAfter, serial); nullopt: the walk is done.
  std::optional<std::pair<TimePoint, Serial>> next;
};

class OcspAnswerStore {
 public:
  virtual ~OcspAnswerStore() = default;
  // Adds or replaces each answer, in one transaction, unless the stored row
  // was signed later or the certificate's state is no longer the answer's.
  // Not necessarily durable on return (an answer lost in a crash is signed
  // again).
  [[nodiscard]] virtual Status put_ocsp_answers(const std::vector<OcspAnswer>& answers) = 0;
  // nullopt if none is stored.
  [[nodiscard]] virtual Result<std::optional<OcspAnswer>> ocsp_answer(const Serial& serial) = 0;
  // Answers with refresh_at <= `now`, the most overdue first, at most `limit`
  // (without their DER: the caller signs them again or drops them).
  [[nodiscard]] virtual Result<std::vector<OcspAnswer>> ocsp_answers_due(TimePoint now,
                                                                         size_t limit) = 0;
  // The `limit` answers due last (the most recently signed), to warm a
  // node's cache at start.
  [[nodiscard]] virtual Result<std::vector<OcspAnswer>> latest_ocsp_answers(size_t limit) = 0;
  [[nodiscard]] virtual Status delete_ocsp_answers(const std::vector<Serial>& serials) = 0;
  // Walks the unexpired certificates of `issuer` in (notAfter, serial) order
  // from after `after`, `limit` at a time, returning those without an answer.
  [[nodiscard]] virtual Result<OcspGapPage> certificates_without_ocsp_answer(
      const Serial& issuer, TimePoint now, const std::optional<std::pair<TimePoint, Serial>>& after,
      size_t limit) = 0;
  [[nodiscard]] virtual Result<int64_t> count_ocsp_answers() = 0;
};

}  // namespace herald::store
