// Fuzz target: CSR parsing (PEM or DER) and proof-of-possession check.
#include <cstdint>
#include <span>

#include "x509/csr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto csr = herald::x509::parse_csr(std::span(data, size));
  if (csr) (void)herald::x509::verify_csr_signature(*csr);
  return 0;
}
