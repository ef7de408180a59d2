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

TEST(DerWriter, IntegersTimesAndLengths) {
  Bytes out;
  append_unsigned_integer(out, Bytes{0x00, 0x80});
  EXPECT_EQ(to_hex(out), "02020080");
  out.clear();
  append_uint64_integer(out, 1);
  EXPECT_EQ(to_hex(out), "020101");
  out.clear();
  append_time(out, 0);
  EXPECT_EQ(std::string(out.begin() + 2, out.end()), "700101000000Z");
  out.clear();
  append_time(out, 2524608000);  // 2050-01-01: GeneralizedTime from 2050
  EXPECT_EQ(out[0], tag::kGeneralizedTime);
  EXPECT_EQ(std::string(out.begin() + 2, out.end()), "20500101000000Z");
  out.clear();
  append_time(out, 1795500000);
  EXPECT_EQ(std::string(out.begin() + 2, out.end()), "261124060000Z");  // date -u -d @1795500000
  Bytes big(300, 0x11);
  wrap(big, tag::kSequence);
  EXPECT_EQ(to_hex(std::span(big.data(), 4)), "3082012C");
  Reader r(big);
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->content.size(), 300u);
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
