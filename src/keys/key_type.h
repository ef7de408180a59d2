#pragma once
// Key types Herald generates, and the description of any public key it meets.

#include <string>
#include <string_view>

#include "base/error.h"

namespace herald::keys {

// Types Herald can generate (ca init --key-type, issue --key-type).
enum class KeyType { kEcP256, kEcP384, kEd25519, kRsa2048, kRsa3072, kRsa4096 };

[[nodiscard]] Result<KeyType> parse_key_type(std::string_view name);
[[nodiscard]] std::string_view key_type_name(KeyType t);  // "ec-p256", ...
constexpr std::string_view kKeyTypeChoices = "ec-p256|ec-p384|ed25519|rsa-2048|rsa-3072|rsa-4096";

enum class KeyAlgorithm { kRsa, kEc, kEd25519, kEd448, kDsa, kOther };

// What policy needs to know of a public key.
struct KeyInfo {
  KeyAlgorithm algorithm = KeyAlgorithm::kOther;
  int bits = 0;       // modulus size for RSA, field size for EC
  std::string curve;  // "P-256", "P-384", "P-521", other curve names as OpenSSL gives them
  // "ec-p256", "rsa-3072", "ed25519", "dsa-1024", ... (stable, used in inventory and policy)
  [[nodiscard]] std::string name() const;
};

[[nodiscard]] KeyInfo key_info_of(KeyType t);

}  // namespace herald::keys
