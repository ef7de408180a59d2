#include "server/list_query.h"

#include <algorithm>

#include "base/duration.h"

namespace herald::server {

Result<ListQuery> parse_list_query(const net::Request& req, TimePoint now) {
  ListQuery q;
  store::ListFilter& f = q.filter;
  f.now = now;
  // A filter given twice would otherwise count once, the first (silently
  // widening the listing); owner= may repeat: its labels add up.
  for (const char* key : {"expiring", "profile", "status", "san", "deployed", "limit", "offset",
                          "after", "count"}) {
    if (req.query_params(key).size() > 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(key) + " given more than once (owner= may repeat)");
    }
  }
  if (auto e = req.query_param("expiring"); !e.empty()) {
    HERALD_TRY(auto d, parse_duration(e));
    f.expiring_before = now + d;
  }
  if (auto p = req.query_param("profile"); !p.empty()) f.profile = p;
  if (auto s = req.query_param("status"); !s.empty()) {
    if (s != "valid" && s != "revoked" && s != "expired")
      return make_error(ErrorCode::kInvalidArgument, "status must be valid, revoked or expired");
    f.status = s;
  }
  std::string owners;  // owner=a=1&owner=b=2 as owner=a=1,b=2
  for (const auto& o : req.query_params("owner")) owners += (owners.empty() ? "" : ",") + o;
  if (!owners.empty()) {
    HERALD_TRY(f.owner, store::parse_labels(owners));
  }
  if (auto s = req.query_param("san"); !s.empty()) f.san_label_prefix = s;
  if (auto d = req.query_param("deployed"); !d.empty()) {
    if (d != "yes" && d != "no")
      return make_error(ErrorCode::kInvalidArgument, "deployed must be yes or no");
    f.deployed = d == "yes";  // seen by herald scan, or never
  }
  auto number = [&](const char* key, size_t def, size_t min, size_t max) -> Result<size_t> {
    std::string v = req.query_param(key);
    if (v.empty()) return def;
    if (v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(v) < min) {
      return make_error(ErrorCode::kInvalidArgument, std::string(key) +
                                                         " must be an integer of at least " +
                                                         std::to_string(min));
    }
    return std::min<size_t>(std::stoul(v), max);
  };
  HERALD_TRY(q.limit, number("limit", 100, 1, 1000));
  HERALD_TRY(q.offset, number("offset", 0, 0, SIZE_MAX));
  f.limit = q.limit + 1;  // one more tells whether there is a next page
  f.offset = q.offset;
  // Keyset paging: after=UNIX:SERIAL (next_after of the previous page)
  // costs the same on any page, where a deep offset re-reads what it skips.
  if (auto a = req.query_param("after"); !a.empty()) {
    const auto colon = a.find(':');
    const std::string at = a.substr(0, colon);
    auto serial = colon == std::string::npos
                      ? Result<Serial>(make_error(ErrorCode::kInvalidArgument, ""))
                      : Serial::parse(a.substr(colon + 1));
    if (!serial || at.empty() || at.size() > 12 ||
        at.find_first_not_of("0123456789") != std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument, "after must be UNIX:SERIAL (next_after)");
    }
    f.after = std::make_pair(TimePoint{std::chrono::seconds(std::stoll(at))}, *serial);
  }
  return q;
}

}  // namespace herald::server
