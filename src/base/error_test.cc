#include "base/error.h"

#include <gtest/gtest.h>

#include <set>

namespace herald {
namespace {

Result<int> fails() { return make_error(ErrorCode::kNotFound, "no such thing"); }
Result<int> propagates() {
  HERALD_TRY(int v, fails());
  return v + 1;
}

TEST(Error, PropagatesAndDescribes) {
  auto r = propagates();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  Error e{ErrorCode::kStore, "db locked", {}};
  e.with("table", "certificates");
  EXPECT_EQ(e.describe(), "db locked (table=certificates)");
}

TEST(Error, EveryCodeHasItsOwnNameAndExitCode) {
  std::set<int> exits;
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(ErrorCode::kNotValid); ++c) {
    const auto& m = error_mapping(static_cast<ErrorCode>(c));
    EXPECT_EQ(static_cast<int>(m.code), c);
    EXPECT_GE(m.exit_code, 64);
    EXPECT_LE(m.exit_code, 81);
    EXPECT_NE(m.exit_code, 77) << "77 means 'skipped' to CTest";
    EXPECT_GE(m.http_status, 400);
    exits.insert(m.exit_code);
    names.insert(m.name);
  }
  EXPECT_EQ(exits.size(), 17u);
  EXPECT_EQ(names.size(), 17u);
}

}  // namespace
}  // namespace herald
