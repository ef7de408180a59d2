// Fuzz target: path verification (verify/verify.h) of untrusted bytes: as the
// leaf, an intermediate, a trust anchor and a CRL at once.
#include <cstdint>
#include <vector>

#include "verify/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald;
  Bytes in(data, data + size);
  verify::Options o;
  o.at = TimePoint{std::chrono::seconds(1'800'000'000)};
  o.purpose = verify::Purpose::kServer;
  o.dns_name = "web.internal";
  o.crls = {in};
  (void)verify::verify(in, {in}, {in}, o);
  return 0;
}
