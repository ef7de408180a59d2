// Fuzz target: SubjectPublicKeyInfo parsing (the fast EC/Ed25519 path and the fallback).
#include <cstdint>
#include <span>

#include "keys/public_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)herald::keys::parse_public_key(std::span(data, size));
  return 0;
}
