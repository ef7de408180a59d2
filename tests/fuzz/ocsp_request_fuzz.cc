// Fuzz target: OCSP request parsing (RFC 6960 §4.1), what `herald serve`
// reads from any client. Beyond not crashing, an accepted request must hold
// what parse_ocsp_request promises.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "ca/ocsp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald::ca;
  auto req = parse_ocsp_request(std::span(data, size));
  if (!req) return 0;
  if (req->ids.empty() || req->ids.size() > kMaxOcspCertIds) std::abort();
  for (const auto& id : req->ids) {
    const size_t len = id.hash == OcspHash::kSha256 ? 32 : 20;
    if (id.issuer_name_hash.size() != len || id.issuer_key_hash.size() != len) std::abort();
    if (id.serial.bytes().empty() || id.serial.bytes().size() > 20) std::abort();
  }
  if (req->nonce && req->nonce->empty()) std::abort();
  return 0;
}
