#pragma once
// A minimal DNS client for ACME challenge validation: a strict parser and a
// plain encoder of DNS messages (RFC 1035 §4), and one-query UDP lookups.
//
// The parser reads untrusted input (whatever arrives on the socket): every
// read is bounds-checked, labels are at most 63 bytes and names at most 255
// on the wire, compression pointers must point strictly backwards past
// everything read so far for that name (so they cannot loop) and at most
// kMaxPointers are followed per name, rdata of the types we decode must fill
// its rdlength exactly, and the message must end where its last record ends.
//
// Names are dotted text without the trailing dot ("." for the root). Label
// bytes that are '.', '\\' or not printable ASCII are escaped as in master
// files ("\\." and "\\DDD"), so a parsed name is never ambiguous. Names are
// compared ASCII-case-insensitively (names_equal).

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"

namespace herald::acme::validation::dns {

namespace type {
constexpr uint16_t kA = 1;
constexpr uint16_t kNs = 2;
constexpr uint16_t kCname = 5;
constexpr uint16_t kSoa = 6;
constexpr uint16_t kTxt = 16;
constexpr uint16_t kAaaa = 28;
constexpr uint16_t kOpt = 41;
}  // namespace type

namespace flag {
constexpr uint16_t kQr = 0x8000;  // response
constexpr uint16_t kAa = 0x0400;  // authoritative answer
constexpr uint16_t kTc = 0x0200;  // truncated
constexpr uint16_t kRd = 0x0100;  // recursion desired
constexpr uint16_t kRa = 0x0080;  // recursion available
}  // namespace flag

namespace rcode {
constexpr uint8_t kNoError = 0;
constexpr uint8_t kFormErr = 1;
constexpr uint8_t kServFail = 2;
constexpr uint8_t kNxDomain = 3;
constexpr uint8_t kNotImp = 4;
constexpr uint8_t kRefused = 5;
}  // namespace rcode

constexpr uint16_t kClassIn = 1;
constexpr size_t kHeaderBytes = 12;
constexpr size_t kMaxMessageBytes = 65535;
constexpr size_t kMaxNameWireBytes = 255;
constexpr size_t kMaxLabelBytes = 63;
constexpr int kMaxPointers = 64;         // compression pointers followed per name
constexpr int kMaxCnameChain = 8;        // CNAMEs followed inside one answer section
constexpr uint16_t kEdnsUdpSize = 1232;  // advertised in the OPT record of queries

struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t qclass = kClassIn;
  bool operator==(const Question&) const = default;
};

struct ResourceRecord {
  std::string name;
  uint16_t type = 0;
  uint16_t rclass = kClassIn;
  uint32_t ttl = 0;
  // Class IN A (4 bytes) and AAAA (16 bytes): the address; any type we do not
  // decode (or another class): the raw rdata. Empty for IN CNAME and TXT.
  Bytes data;
  std::string cname;             // IN CNAME: the target name
  std::vector<std::string> txt;  // IN TXT: its character-strings, in order (at least one)
  bool operator==(const ResourceRecord&) const = default;
};

struct Message {
  uint16_t id = 0;
  uint16_t flags = 0;  // QR, opcode, AA, TC, RD, RA, Z/AD/CD and RCODE as on the wire
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> authorities;
  std::vector<ResourceRecord> additionals;

  [[nodiscard]] bool is_response() const { return (flags & flag::kQr) != 0; }
  [[nodiscard]] bool truncated() const { return (flags & flag::kTc) != 0; }
  [[nodiscard]] uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xF); }
  [[nodiscard]] uint8_t rcode() const { return static_cast<uint8_t>(flags & 0xF); }
  bool operator==(const Message&) const = default;
};

// Strict parse of one message (see the top of this file). kMalformedInput
// with the reason and the offset on any violation.
[[nodiscard]] Result<Message> parse_message(std::span<const uint8_t> wire);

// Encodes without name compression. kInvalidArgument for a name that is not
// valid dotted text, a TXT string over 255 bytes, rdata over 65535 bytes or a
// message over kMaxMessageBytes.
[[nodiscard]] Result<Bytes> encode_message(const Message& message);

// A recursive query (RD set) for one name and type, with an EDNS(0) OPT
// record advertising kEdnsUdpSize.
[[nodiscard]] Result<Bytes> build_query(uint16_t id, std::string_view name, uint16_t type);

// ASCII-case-insensitive comparison of two names as text; a trailing dot on
// either side is ignored.
[[nodiscard]] bool names_equal(std::string_view a, std::string_view b);

// "NXDOMAIN", "SERVFAIL", ... or "RCODE 9".
[[nodiscard]] std::string rcode_name(uint8_t rcode);
// "A", "AAAA", "TXT", ... or "TYPE99".
[[nodiscard]] std::string type_name(uint16_t type);

// The answer-section records of `type` for `name`, following the CNAME
// records that the answer section itself holds (no further queries; at most
// kMaxCnameChain, no loops). `canonical_name` receives the last name of the
// chain. Class IN only.
[[nodiscard]] std::vector<ResourceRecord> answers_for(const Message& message, std::string_view name,
                                                      uint16_t type,
                                                      std::string* canonical_name = nullptr);

struct Endpoint {
  std::string host;  // an IP address (or a name getaddrinfo can resolve)
  uint16_t port = 53;
  // "127.0.0.1:53", "[::1]:53".
  [[nodiscard]] std::string to_string() const;
};

// The first `nameserver` of a resolv.conf text, port 53; 127.0.0.1:53 when
// there is none (as resolv.conf(5) specifies).
[[nodiscard]] Endpoint first_nameserver(std::string_view resolv_conf);
// first_nameserver() of /etc/resolv.conf (127.0.0.1:53 if it cannot be read).
[[nodiscard]] Endpoint system_nameserver();

struct Answer {
  std::string canonical_name;           // the end of the CNAME chain (== name without one)
  std::vector<ResourceRecord> records;  // of the type asked for; empty for NODATA
};

// One UDP query to `server`, waiting at most `timeout` for the answer. A
// datagram that does not parse, is not a response, or whose ID, opcode or
// question differ from the query's is ignored (waiting goes on until the
// deadline; the timeout error then says what was ignored). Errors (the
// message names the query and the server):
//   kNotFound        NXDOMAIN
//   kIo              timeout, network error, truncated answer (TC set:
//                    TCP fallback is not implemented), any other RCODE
[[nodiscard]] Result<Answer> lookup(const Endpoint& server, std::string_view name, uint16_t type,
                                    std::chrono::milliseconds timeout);

}  // namespace herald::acme::validation::dns
