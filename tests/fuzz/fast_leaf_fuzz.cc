// Fuzz target: the Verifier's fast leaf step (verify/fast_leaf.h) on
// untrusted bytes presented as the leaf of a chain whose CA part the Verifier
// already knows (revocation_chain.h: a chain made by Herald). Beyond not
// crashing: the Verifier's verdict must be verify()'s for every input.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "revocation_chain.h"
#include "verify/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald;
  namespace rc = revocation_chain;
  static const std::vector<Bytes> intermediates{
      Bytes(std::begin(rc::kIssuing), std::end(rc::kIssuing)),
      Bytes(std::begin(rc::kIntermediate), std::end(rc::kIntermediate))};
  static const std::vector<Bytes> anchors{Bytes(std::begin(rc::kRoot), std::end(rc::kRoot))};
  verify::Options o;
  o.at = TimePoint{std::chrono::seconds(rc::kAt)};
  o.purpose = verify::Purpose::kServer;
  o.dns_name = "web.internal";
  static verify::Verifier* v = [&] {
    auto* verifier = new verify::Verifier(anchors);
    // The real leaf once: the CA part becomes known to the fast step.
    const Bytes leaf(std::begin(rc::kLeaf), std::end(rc::kLeaf));
    if (!verifier->verify(leaf, intermediates, o).valid) std::abort();
    return verifier;
  }();
  const Bytes in(data, data + size);
  const bool fast = v->verify(in, intermediates, o).valid;
  const bool full = verify::verify(in, intermediates, anchors, o).valid;
  if (fast != full) std::abort();
  return 0;
}
