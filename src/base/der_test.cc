#include "base/der.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace herald::der {
namespace {

TEST(Der, ReadsNestedSequence) {
  Bytes b{0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA};
  Reader r(b);
  auto seq = r.expect(tag::kSequence, "test");
  ASSERT_TRUE(seq);
  EXPECT_TRUE(r.empty());
  Reader inner(seq->content);
  auto i = inner.expect(tag::kInteger, "int");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->content[0], 5);
  EXPECT_TRUE(inner.peek(tag::kOctetString));
  EXPECT_TRUE(inner.expect(tag::kOctetString, "os"));
}

TEST(Der, LongForm) {
  Bytes b{0x04, 0x81, 0x80};
  b.resize(3 + 0x80, 0x11);
  Reader r(b);
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->content.size(), 0x80u);
}

TEST(Der, RejectsNonDer) {
  for (Bytes bad : {Bytes{0x30}, Bytes{0x30, 0x80, 0, 0}, Bytes{0x04, 0x81, 0x05, 1, 2, 3, 4, 5},
                    Bytes{0x04, 0x82, 0x00, 0x01, 0}, Bytes{0x1F, 0x01, 0x00}, Bytes{0x04, 0x05, 1},
                    Bytes{0x04, 0x85, 1, 1, 1, 1, 1}}) {
    Reader r(bad);
    auto e = r.next();
    EXPECT_FALSE(e) << to_hex(bad);
    if (!e) {
      EXPECT_EQ(e.error().code, ErrorCode::kMalformedInput);
    }
  }
}

TEST(Der, BitStringWithUnusedBitsIsRejected) {
  Bytes b{0x03, 0x02, 0x01, 0xFE};
  Reader r(b);
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_FALSE(bit_string_bytes(*e, "key"));
}

}  // namespace
}  // namespace herald::der
