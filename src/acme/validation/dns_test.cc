#include "acme/validation/dns.h"

#include <gtest/gtest.h>

#include <chrono>

#include "acme/validation/test_servers.h"
#include "acme/validation/validator.h"

namespace herald::acme::validation::dns {
namespace {

using namespace std::chrono_literals;

// A tiny builder for hand-made wire messages.
struct Wire {
  Bytes b;
  Wire& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Wire& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Wire& u32(uint32_t v) {
    return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
  }
  Wire& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Wire& name(std::string_view dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string_view::npos) dot = dotted.size();
      u8(static_cast<uint8_t>(dot - start)).raw(dotted.substr(start, dot - start));
      start = dot + 1;
    }
    return u8(0);
  }
  Wire& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns = 0,
               uint16_t ar = 0) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  Wire& rr_head(uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlength) {
    return u16(type).u16(cls).u32(ttl).u16(rdlength);
  }
};

Result<Message> parse(const Wire& w) { return parse_message(w.b); }

TEST(ValidationDnsParser, ParsesACompressedAnswer) {
  Wire w;
  w.header(0x1234, 0x8180, 1, 2).name("Example.COM").u16(type::kA).u16(kClassIn);
  w.u16(0xC00C).rr_head(type::kA, kClassIn, 300, 4).u8(127).u8(0).u8(0).u8(1);
  w.u16(0xC00C).rr_head(type::kA, kClassIn, 300, 4).u8(192).u8(0).u8(2).u8(7);
  auto m = parse(w);
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_TRUE(m->is_response());
  EXPECT_EQ(m->rcode(), rcode::kNoError);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "Example.COM");
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].name, "Example.COM");
  EXPECT_EQ(m->answers[1].data, (Bytes{192, 0, 2, 7}));
  EXPECT_EQ(answers_for(*m, "example.com", type::kA).size(), 2u);
}

TEST(ValidationDnsParser, TxtThroughACompressedCname) {
  Wire w;
  w.header(1, 0x8180, 1, 2).name("_acme-challenge.example.com").u16(type::kTxt).u16(kClassIn);
  const uint16_t example_com = 12 + 1 + 15;  // "example.com" inside the question
  w.u16(0xC00C).rr_head(type::kCname, kClassIn, 60, 8).u8(5).raw("proof").u16(0xC000 | example_com);
  const uint16_t target = static_cast<uint16_t>(w.b.size() - 8);
  w.u16(0xC000 | target).rr_head(type::kTxt, kClassIn, 60, 8).u8(3).raw("abc").u8(3).raw("def");
  auto m = parse(w);
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ(m->answers[0].cname, "proof.example.com");
  EXPECT_EQ(m->answers[1].name, "proof.example.com");
  EXPECT_EQ(m->answers[1].txt, (std::vector<std::string>{"abc", "def"}));
  std::string canonical;
  auto txt = answers_for(*m, "_ACME-challenge.example.com.", type::kTxt, &canonical);
  ASSERT_EQ(txt.size(), 1u);
  EXPECT_EQ(canonical, "proof.example.com");
}

TEST(ValidationDnsParser, EncodesAndParsesBack) {
  Message m;
  m.id = 7;
  m.flags = flag::kQr | flag::kRd | flag::kRa | rcode::kNxDomain;
  m.questions.push_back({"a\\.b.example", type::kTxt, kClassIn});
  m.answers.push_back(
      {"a\\.b.example", type::kTxt, kClassIn, 5, {}, {}, {"x", std::string(255, 'y')}});
  m.answers.push_back({"c.example", type::kCname, kClassIn, 5, {}, "d\\255\\000.example", {}});
  m.authorities.push_back({"example", type::kSoa, kClassIn, 5, Bytes{1, 2, 3}, {}, {}});
  m.additionals.push_back({".", type::kOpt, 1232, 0, {}, {}, {}});
  auto wire = encode_message(m);
  ASSERT_TRUE(wire) << wire.error().describe();
  auto back = parse_message(*wire);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(*back, m);
}

TEST(ValidationDnsParser, BuildsQueriesWithEdns) {
  auto q = build_query(0xABCD, "_acme-challenge.example.com", type::kTxt);
  ASSERT_TRUE(q);
  auto m = parse_message(*q);
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ(m->id, 0xABCD);
  EXPECT_FALSE(m->is_response());
  EXPECT_EQ(m->flags & flag::kRd, flag::kRd);
  ASSERT_EQ(m->additionals.size(), 1u);
  EXPECT_EQ(m->additionals[0].type, type::kOpt);
  EXPECT_EQ(m->additionals[0].rclass, kEdnsUdpSize);
  EXPECT_FALSE(build_query(1, std::string(64, 'a') + ".example", type::kA));  // label > 63
  EXPECT_FALSE(build_query(1, "a..example", type::kA));                       // empty label
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(build_query(1, long_name + "x", type::kA));  // > 255 bytes on the wire
}

TEST(ValidationDnsParser, RejectsCompressionLoopsAndForwardPointers) {
  {
    Wire w;  // the question's name is a pointer to itself
    w.header(1, 0x8180, 1, 0).u16(0xC00C).u16(type::kA).u16(kClassIn);
    EXPECT_FALSE(parse(w));
  }
  {
    Wire w;  // a label, then a pointer back to that label: a loop
    w.header(1, 0x8180, 1, 0).u8(1).raw("a").u16(0xC00C).u16(type::kA).u16(kClassIn);
    auto m = parse(w);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("backwards"), std::string::npos) << m.error().describe();
  }
  {
    Wire w;  // two names pointing at each other
    w.header(1, 0x8180, 2, 0).u8(1).raw("a").u16(0xC000 | 20).u16(1).u16(1);
    w.u8(1).raw("b").u16(0xC00C).u16(1).u16(1);
    EXPECT_FALSE(parse(w));
  }
  {
    Wire w;  // a pointer into the header
    w.header(1, 0x8180, 1, 0).u16(0xC002).u16(type::kA).u16(kClassIn);
    EXPECT_FALSE(parse(w));
  }
  {
    Wire w;  // a forward pointer
    w.header(1, 0x8180, 1, 0).u16(0xC000 | 18).u16(type::kA).u16(kClassIn).name("x");
    EXPECT_FALSE(parse(w));
  }
}

TEST(ValidationDnsParser, RejectsOverlongNamesAndReservedLabelTypes) {
  {
    // A chain of pointers, each adding a 63-byte label: past 255 bytes.
    Wire w;
    w.header(1, 0x8180, 5, 0);
    uint16_t prev = 0;
    for (int i = 0; i < 5; ++i) {
      const auto here = static_cast<uint16_t>(w.b.size());
      w.u8(63).raw(std::string(63, 'a' + static_cast<char>(i)));
      if (i == 0) {
        w.u8(0);
      } else {
        w.u16(0xC000 | prev);
      }
      w.u16(type::kA).u16(kClassIn);
      prev = here;
    }
    auto m = parse(w);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("255"), std::string::npos) << m.error().describe();
  }
  {
    Wire w;  // 0x40: extended label type
    w.header(1, 0x8180, 1, 0).u8(0x41).raw("a").u8(0).u16(1).u16(1);
    EXPECT_FALSE(parse(w));
  }
  {
    Wire w;  // a label running past the end
    w.header(1, 0x8180, 1, 0).u8(10).raw("abc");
    EXPECT_FALSE(parse(w));
  }
}

TEST(ValidationDnsParser, RejectsBadRdataAndFraming) {
  auto base = [] {
    Wire w;
    w.header(1, 0x8180, 1, 1).name("e.x").u16(type::kA).u16(kClassIn).u16(0xC00C);
    return w;
  };
  {
    Wire w = base();
    w.rr_head(type::kA, kClassIn, 1, 5).raw("12345");
    EXPECT_FALSE(parse(w));  // A of 5 bytes
  }
  {
    Wire w = base();
    w.rr_head(type::kAaaa, kClassIn, 1, 4).raw("1234");
    EXPECT_FALSE(parse(w));  // AAAA of 4 bytes
  }
  {
    Wire w = base();
    w.rr_head(type::kA, kClassIn, 1, 10).raw("1234");
    EXPECT_FALSE(parse(w));  // rdlength past the end
  }
  {
    Wire w = base();
    w.rr_head(type::kTxt, kClassIn, 1, 4).u8(5).raw("abc");
    EXPECT_FALSE(parse(w));  // character-string past its rdata
  }
  {
    Wire w = base();
    w.rr_head(type::kTxt, kClassIn, 1, 0);
    EXPECT_FALSE(parse(w));  // TXT without a string
  }
  {
    Wire w = base();
    w.rr_head(type::kCname, kClassIn, 1, 5).name("ab").u16(0);
    // rdlength 5 covers "ab" (4 bytes) and one more byte: the name must fill it
    EXPECT_FALSE(parse(w));
  }
  {
    Wire w = base();
    w.rr_head(type::kCname, kClassIn, 1, 3).name("ab");
    EXPECT_FALSE(parse(w));  // the name runs past its rdata
  }
  {
    Wire w = base();
    w.rr_head(type::kA, kClassIn, 1, 4).raw("1234").u8(0);
    EXPECT_FALSE(parse(w));  // trailing byte
  }
  {
    Wire w = base();
    w.rr_head(type::kA, kClassIn, 1, 4).raw("1234");
    w.b[7] = 2;  // ANCOUNT 2, one record present
    EXPECT_FALSE(parse(w));
  }
  EXPECT_FALSE(parse_message(Bytes(11, 0)));
  EXPECT_FALSE(parse_message(Bytes(kMaxMessageBytes + 1, 0)));
  EXPECT_TRUE(parse_message(Bytes(12, 0)));  // an empty header is a message
}

TEST(ValidationDnsParser, CnameChasingStopsOnLoopsAndLength) {
  Message m;
  m.answers.push_back({"a", type::kCname, kClassIn, 1, {}, "b", {}});
  m.answers.push_back({"b", type::kCname, kClassIn, 1, {}, "a", {}});
  m.answers.push_back({"b", type::kA, 3, 1, Bytes{1, 2, 3, 4}, {}, {}});  // not class IN
  EXPECT_TRUE(answers_for(m, "a", type::kA).empty());
  Message chain;
  for (int i = 0; i < 20; ++i)
    chain.answers.push_back(
        {"n" + std::to_string(i), type::kCname, kClassIn, 1, {}, "n" + std::to_string(i + 1), {}});
  chain.answers.push_back({"n20", type::kTxt, kClassIn, 1, {}, {}, {"far"}});
  std::string end;
  EXPECT_TRUE(answers_for(chain, "n0", type::kTxt, &end).empty());
  EXPECT_EQ(end, "n" + std::to_string(kMaxCnameChain));
  EXPECT_EQ(answers_for(chain, "n15", type::kTxt).size(), 1u);
}

TEST(ValidationDnsParser, ResolvConf) {
  EXPECT_EQ(first_nameserver("# c\nsearch x\nnameserver 10.0.0.53 # here\nnameserver 1.1.1.1\n")
                .to_string(),
            "10.0.0.53:53");
  EXPECT_EQ(first_nameserver("nameserver ::1\n").to_string(), "[::1]:53");
  EXPECT_EQ(first_nameserver("options ndots:1\n").to_string(), "127.0.0.1:53");
}

TEST(ValidationDnsParser, ReverseNames) {
  EXPECT_EQ(reverse_dns_name("127.0.0.1"), "1.0.0.127.in-addr.arpa");
  EXPECT_EQ(reverse_dns_name("2001:db8::567:89ab"),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(reverse_dns_name("example.com"), "");
}

class ValidationDnsLookup : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(stub_.ok()); }
  Endpoint server() const { return Endpoint{"127.0.0.1", stub_.port()}; }
  testing::DnsStub stub_;
};

TEST_F(ValidationDnsLookup, AnswersFromTheStub) {
  stub_.add_a("host.test", "192.0.2.1");
  stub_.add_txt("_acme-challenge.host.test", {"abc", "def"});
  auto a = lookup(server(), "HOST.test", type::kA, 2s);
  ASSERT_TRUE(a) << a.error().describe();
  ASSERT_EQ(a->records.size(), 1u);
  EXPECT_EQ(a->records[0].data, (Bytes{192, 0, 2, 1}));
  auto aaaa = lookup(server(), "host.test", type::kAaaa, 2s);
  ASSERT_TRUE(aaaa) << aaaa.error().describe();
  EXPECT_TRUE(aaaa->records.empty());  // NODATA
  auto txt = lookup(server(), "_acme-challenge.host.test", type::kTxt, 2s);
  ASSERT_TRUE(txt);
  EXPECT_EQ(txt->records.at(0).txt, (std::vector<std::string>{"abc", "def"}));
  auto qs = stub_.questions();
  ASSERT_EQ(qs.size(), 3u);
  EXPECT_EQ(qs[0].type, type::kA);
}

TEST_F(ValidationDnsLookup, NxDomainAndServFail) {
  auto nx = lookup(server(), "missing.test", type::kA, 2s);
  ASSERT_FALSE(nx);
  EXPECT_EQ(nx.error().code, ErrorCode::kNotFound);
  EXPECT_NE(nx.error().message.find("NXDOMAIN"), std::string::npos) << nx.error().message;
  stub_.set_mode(testing::DnsStub::Mode::kServFail);
  auto sf = lookup(server(), "missing.test", type::kA, 2s);
  ASSERT_FALSE(sf);
  EXPECT_EQ(sf.error().code, ErrorCode::kIo);
  EXPECT_NE(sf.error().message.find("SERVFAIL"), std::string::npos) << sf.error().message;
}

TEST_F(ValidationDnsLookup, TruncatedAnswerIsAnError) {
  stub_.add_txt("t.test", {"x"});
  stub_.set_mode(testing::DnsStub::Mode::kTruncated);
  auto r = lookup(server(), "t.test", type::kTxt, 2s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
}

TEST_F(ValidationDnsLookup, IgnoresWrongIdsAndTimesOut) {
  stub_.add_a("w.test", "192.0.2.1");
  stub_.set_mode(testing::DnsStub::Mode::kWrongId);
  auto start = std::chrono::steady_clock::now();
  auto r = lookup(server(), "w.test", type::kA, 300ms);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no answer within 300 ms"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("ID"), std::string::npos) << r.error().message;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
}

TEST_F(ValidationDnsLookup, SilentServerTimesOut) {
  stub_.set_mode(testing::DnsStub::Mode::kSilent);
  auto start = std::chrono::steady_clock::now();
  auto r = lookup(server(), "s.test", type::kA, 200ms);
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_NE(r.error().message.find("no answer within 200 ms"), std::string::npos);
}

TEST_F(ValidationDnsLookup, SkipsGarbageBeforeTheAnswer) {
  stub_.add_a("g.test", "192.0.2.9");
  stub_.set_mode(testing::DnsStub::Mode::kGarbageThenAnswer);
  auto r = lookup(server(), "g.test", type::kA, 2s);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->records.at(0).data, (Bytes{192, 0, 2, 9}));
}

TEST(ValidationDnsLookupNoServer, RefusedOrTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto r = lookup(Endpoint{"127.0.0.1", testing::unused_udp_port()}, "x.test", type::kA, 500ms);
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_NE(r.error().message.find("127.0.0.1:"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace herald::acme::validation::dns
