#pragma once
// How a listing or a count with SAN or owner-label filters chooses where to
// start (issue #14), the same rule for both stores (sqlite/ and postgres/
// list_filter_sql.h write it in their SQL).
//
// A listing ordered by notAfter with a limit that walks the notAfter index
// and checks each certificate stops after its page: right for a filter that
// many certificates match, wrong for a rare one (it walks the whole
// inventory to find nothing). So a listing starts from the smallest set
// (the SAN's or an owner label's, each counted from its index, at most that
// far: well under a millisecond) when it has at most kDriveAtMost members,
// else walks; a count always starts from the smallest set (counted up to
// kCountCap to choose it) and reads only the index tables when no other
// filter needs a certificate's row.

#include <cstdint>
#include <optional>
#include <string>

#include "store/inventory.h"

namespace herald::store {

// Where a query starts: the certificates in notAfter order, the SAN's set
// (the names table), or one owner label's set (the labels table).
enum class Drive { kNone, kNames, kLabel };
inline constexpr int64_t kDriveAtMost = 5000;
inline constexpr int64_t kCountCap = 100000;

// The choice for one query.
struct Plan {
  Drive drive = Drive::kNone;
  std::string label;        // the owner label's key, for kLabel
  bool index_only = false;  // a count of the index tables alone
  bool one_name = false;    // kNames: the range holds one key (PostgreSQL: no DISTINCT)
};

// The keys of a filter's SAN term (nullopt: none, or nothing can match).
inline std::optional<NameRange> san_range(const ListFilter& f) {
  return f.san_label_prefix ? name_search_range(*f.san_label_prefix) : std::nullopt;
}

}  // namespace herald::store
