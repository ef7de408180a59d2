#include "base/serial.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(Serial, ParsesCaseAndColonsAlike) {
  auto a = Serial::parse("0A:1b:2C");
  auto b = Serial::parse("0a1B2c");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->hex(), "0A1B2C");
}

TEST(Serial, StripsLeadingZerosAndRejectsZero) {
  EXPECT_EQ(Serial::parse("00:00:01")->hex(), "01");
  EXPECT_FALSE(Serial::parse("00"));
  EXPECT_FALSE(Serial::parse("xyz"));
  EXPECT_FALSE(Serial::parse(std::string(42, 'f')));  // 21 octets
  EXPECT_TRUE(Serial::parse(std::string(40, 'f')));
}

}  // namespace
}  // namespace herald
