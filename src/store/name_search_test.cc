// store::name_search_keys / name_search_range: the SAN search's semantics,
// which both stores index and query (issue #14).
#include <gtest/gtest.h>

#include "store/inventory.h"

namespace herald::store {
namespace {

using x509::San;
using x509::SanType;
using Keys = std::vector<std::string>;

TEST(NameSearch, KeysAreTheNameAndItsLabelBoundarySuffixes) {
  EXPECT_EQ(name_search_keys(San{SanType::kDns, "api.eu.example.com"}),
            (Keys{"api.eu.example.com", "eu.example.com", "example.com", "com"}));
  EXPECT_EQ(name_search_keys(San{SanType::kDns, "*.example.com"}),
            (Keys{"*.example.com", "example.com", "com"}));
  EXPECT_EQ(name_search_keys(San{SanType::kDns, "localhost"}), (Keys{"localhost"}));
  EXPECT_EQ(name_search_keys(San{SanType::kEmail, "Ops.Team@Example.COM"}),
            (Keys{"ops.team@example.com", "team@example.com", "example.com", "com"}));
  EXPECT_EQ(name_search_keys(San{SanType::kIp, "10.1.2.3"}),
            (Keys{"10.1.2.3", "1.2.3", "2.3", "3"}));
  EXPECT_EQ(name_search_keys(San{SanType::kIp, "2001:db8::1"}),
            (Keys{"2001:db8::1", "db8::1", ":1", "1"}));
  EXPECT_EQ(name_search_keys(San{SanType::kUri, "spiffe://Example.org/ns/web"}),
            (Keys{"spiffe://example.org/ns/web", "//example.org/ns/web", "/example.org/ns/web",
                  "example.org/ns/web", "org/ns/web", "ns/web", "web"}));
  // No empty key for a trailing separator.
  EXPECT_EQ(name_search_keys(San{SanType::kUri, "https://a.b/"}),
            (Keys{"https://a.b/", "//a.b/", "/a.b/", "a.b/", "b/"}));
}

TEST(NameSearch, ACertificatesKeysAreSortedAndUnique) {
  EXPECT_EQ(name_search_keys(std::vector<San>{{SanType::kDns, "a.example.com"},
                                              {SanType::kDns, "b.example.com"}}),
            (Keys{"a.example.com", "b.example.com", "com", "example.com"}));
  EXPECT_TRUE(name_search_keys(std::vector<San>{}).empty());
}

TEST(NameSearch, TermsAreLowerCasedWithoutTheirTypePrefix) {
  EXPECT_EQ(normalise_name_term("API.Example.com"), "api.example.com");
  EXPECT_EQ(normalise_name_term("DNS:api.example.com"), "api.example.com");
  EXPECT_EQ(normalise_name_term("ip:10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(normalise_name_term("email:a@b.c"), "a@b.c");
  EXPECT_EQ(normalise_name_term("uri:spiffe://x/y"), "spiffe://x/y");
  EXPECT_EQ(normalise_name_term("spiffe://x/y"), "spiffe://x/y");
}

bool matches(std::string_view term, std::string_view key) {
  auto r = name_search_range(term);
  if (!r) return false;
  return key >= r->low && (!r->high || key < *r->high);
}

TEST(NameSearch, TheRangeHoldsExactlyTheKeysStartingWithTheTerm) {
  auto r = name_search_range("Example.COM");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->low, "example.com");
  EXPECT_EQ(r->high, "example.con");
  EXPECT_TRUE(matches("example.com", "example.com"));
  EXPECT_TRUE(matches("example.com", "example.com.au"));
  EXPECT_TRUE(matches("example.com", "example.com/x"));
  EXPECT_FALSE(matches("example.com", "example.co"));
  EXPECT_FALSE(matches("example.com", "example.con"));
  EXPECT_FALSE(matches("example.com", "xexample.com"));
  // Multi-byte last characters: the next code point, valid UTF-8.
  r = name_search_range("a\xC3\xA9");  // aé
  ASSERT_TRUE(r && r->high);
  EXPECT_EQ(*r->high, "a\xC3\xAA");
  r = name_search_range("a\xC2\xBF");  // U+00BF -> U+00C0: the lead byte changes
  ASSERT_TRUE(r && r->high);
  EXPECT_EQ(*r->high, "a\xC3\x80");
  EXPECT_TRUE(matches("a\xC2\xBF", "a\xC2\xBF\xF4\x8F\xBF\xBFz"));
  EXPECT_FALSE(matches("a\xC2\xBF", "a\xC3\x80"));
  r = name_search_range("a\xED\x9F\xBF");  // U+D7FF -> U+E000 (no surrogates)
  ASSERT_TRUE(r && r->high);
  EXPECT_EQ(*r->high, "a\xEE\x80\x80");
  // U+10FFFF last: drop it and increment the one before.
  r = name_search_range("a\xF4\x8F\xBF\xBF");
  ASSERT_TRUE(r && r->high);
  EXPECT_EQ(*r->high, "b");
  r = name_search_range("\xF4\x8F\xBF\xBF");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->high);
  // Not UTF-8 (a lone continuation byte, a surrogate, an overlong '/'): nothing.
  EXPECT_FALSE(name_search_range("a\x80"));
  EXPECT_FALSE(name_search_range("\xED\xA0\x80"));
  EXPECT_FALSE(name_search_range("\xC0\xAF"));
  // The empty term (or a bare prefix) matches every key.
  r = name_search_range("dns:");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->low, "");
  EXPECT_FALSE(r->high);
}

}  // namespace
}  // namespace herald::store
