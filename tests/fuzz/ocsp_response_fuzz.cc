// Fuzz target: an OCSP response from anyone (herald verify --ocsp, a
// stapled one in herald probe) judged by verify() (verify/revocation.h) for
// a fixed valid chain made by Herald (revocation_chain.h; the seeds are that
// chain's real responses from herald serve). Beyond not crashing: an invalid
// verdict always carries an error finding, and every finding has a code.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "revocation_chain.h"
#include "verify/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald;
  namespace rc = revocation_chain;
  static const Bytes leaf(std::begin(rc::kLeaf), std::end(rc::kLeaf));
  static const std::vector<Bytes> intermediates{
      Bytes(std::begin(rc::kIssuing), std::end(rc::kIssuing)),
      Bytes(std::begin(rc::kIntermediate), std::end(rc::kIntermediate))};
  static const std::vector<Bytes> anchors{Bytes(std::begin(rc::kRoot), std::end(rc::kRoot))};
  verify::Options o;
  o.at = TimePoint{std::chrono::seconds(rc::kAt)};
  o.purpose = verify::Purpose::kServer;
  o.dns_name = "web.internal";
  o.ocsp_responses = {Bytes(data, data + size)};
  // Half the inputs as answers to a request that carried a nonce.
  if (size % 4 >= 2) o.ocsp_nonce = Bytes(32, 0x5a);
  o.revocation = size % 2 ? verify::RevocationPolicy::kHard : verify::RevocationPolicy::kSoft;
  const auto r = verify::verify(leaf, intermediates, anchors, o);
  bool error = false;
  for (const auto& f : r.findings) {
    if (f.code.empty()) std::abort();
    error |= f.severity == verify::Severity::kError;
  }
  if (!r.valid && !error) std::abort();
  return 0;
}
