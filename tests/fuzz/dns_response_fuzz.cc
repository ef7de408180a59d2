// Fuzz target: the DNS message parser of the ACME validation layer
// (acme/validation/dns.h), which reads whatever a resolver (or anyone able
// to reach the socket) sends. Beyond not crashing: an accepted message
// re-encodes (without compression) to one that parses to the same value,
// decoded rdata has the sizes promised, and CNAME chasing terminates.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "acme/validation/dns.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace dns = herald::acme::validation::dns;
  auto msg = dns::parse_message(std::span(data, size));
  if (!msg) return 0;
  for (const auto* section : {&msg->answers, &msg->authorities, &msg->additionals}) {
    for (const auto& rr : *section) {
      if (rr.name.empty()) std::abort();
      if (rr.rclass != dns::kClassIn) continue;
      if (rr.type == dns::type::kA && rr.data.size() != 4) std::abort();
      if (rr.type == dns::type::kAaaa && rr.data.size() != 16) std::abort();
      if (rr.type == dns::type::kTxt && rr.txt.empty()) std::abort();
      if (rr.type == dns::type::kCname && rr.cname.empty()) std::abort();
    }
  }
  const std::string qname = msg->questions.empty() ? "." : msg->questions[0].name;
  for (uint16_t t : {dns::type::kA, dns::type::kTxt, dns::type::kCname}) {
    std::string canonical;
    auto found = dns::answers_for(*msg, qname, t, &canonical);
    if (found.size() > msg->answers.size()) std::abort();
  }
  auto wire = dns::encode_message(*msg);
  if (!wire) return 0;  // decompressed, it can outgrow 65535 bytes
  auto again = dns::parse_message(*wire);
  if (!again || !(*again == *msg)) std::abort();
  return 0;
}
