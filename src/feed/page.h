#pragma once
// A page of `herald serve`'s revocation feed (GET /v1/revocations, docs/api.md):
//
//   {"revocations":[{"id":7,"serial":"0A1B...","status":"revoked",
//                    "reason":"keyCompromise","revoked_at":"2026-12-06T10:00:00Z"}, ...],
//    "next":7}
//   {"revocations":[],"next":3,"reset":true}
//
// The body comes from the network, so the parser is strict and bounded: at
// most kMaxPageBytes, nesting at most kMaxDepth, at most kMaxPageEntries
// entries, every known member of the right type, ids strictly increasing
// and all after the `since` asked for, serials 1 to 40 hex digits, statuses
// and reasons from the known sets, times in the form the server writes
// (YYYY-MM-DDTHH:MM:SSZ), `next` not before the last id. Unknown members are
// ignored (a newer server may add some).

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/serial.h"
#include "x509/crl.h"

namespace herald::feed {

inline constexpr size_t kMaxPageEntries = 1000;
inline constexpr size_t kMaxPageBytes = 1 << 20;
inline constexpr int kMaxDepth = 8;

// The certificate's state now (not at the change).
enum class Status { kRevoked, kOnHold, kValid };

struct Revocation {
  int64_t id = 0;  // strictly increasing
  Serial serial;
  Status status = Status::kRevoked;
  std::optional<x509::RevocationReason> reason;  // revoked and on-hold only
  std::optional<TimePoint> revoked_at;           // revoked and on-hold only
};

struct Page {
  std::vector<Revocation> revocations;
  int64_t next = 0;  // ask again with since=next
  // `since` was beyond anything the server recorded (its inventory was
  // replaced): drop what was learned from the feed, resynchronise (a CRL),
  // and go on from `next`.
  bool reset = false;
  // A full page: more changes are waiting; ask again at once.
  [[nodiscard]] bool full() const { return revocations.size() >= kMaxPageEntries; }
};

// `since`: what the request asked for (nullopt: none, "start from now").
// kMalformedInput with the reason on any departure from the format.
[[nodiscard]] Result<Page> parse_page(std::string_view body, std::optional<int64_t> since);

[[nodiscard]] std::string_view status_name(Status s);

}  // namespace herald::feed
