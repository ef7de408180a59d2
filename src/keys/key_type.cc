#include "keys/key_type.h"

#include <array>

namespace herald::keys {

namespace {
struct Entry {
  KeyType type;
  std::string_view name;
  KeyAlgorithm alg;
  int bits;
  std::string_view curve;
};
constexpr std::array<Entry, 6> kTypes{{
    {KeyType::kEcP256, "ec-p256", KeyAlgorithm::kEc, 256, "P-256"},
    {KeyType::kEcP384, "ec-p384", KeyAlgorithm::kEc, 384, "P-384"},
    {KeyType::kEd25519, "ed25519", KeyAlgorithm::kEd25519, 256, ""},
    {KeyType::kRsa2048, "rsa-2048", KeyAlgorithm::kRsa, 2048, ""},
    {KeyType::kRsa3072, "rsa-3072", KeyAlgorithm::kRsa, 3072, ""},
    {KeyType::kRsa4096, "rsa-4096", KeyAlgorithm::kRsa, 4096, ""},
}};
}  // namespace

Result<KeyType> parse_key_type(std::string_view name) {
  for (const auto& e : kTypes) {
    if (e.name == name) return e.type;
  }
  return make_error(
      ErrorCode::kInvalidArgument,
      "unknown key type '" + std::string(name) + "' (choose " + std::string(kKeyTypeChoices) + ")");
}

std::string_view key_type_name(KeyType t) {
  for (const auto& e : kTypes) {
    if (e.type == t) return e.name;
  }
  return "unknown";
}

KeyInfo key_info_of(KeyType t) {
  for (const auto& e : kTypes) {
    if (e.type == t) return KeyInfo{e.alg, e.bits, std::string(e.curve)};
  }
  return {};
}

std::string KeyInfo::name() const {
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      return "rsa-" + std::to_string(bits);
    case KeyAlgorithm::kEc: {
      if (curve == "P-256") return "ec-p256";
      if (curve == "P-384") return "ec-p384";
      if (curve == "P-521") return "ec-p521";
      return "ec-" + (curve.empty() ? std::to_string(bits) : curve);
    }
    case KeyAlgorithm::kEd25519:
      return "ed25519";
    case KeyAlgorithm::kEd448:
      return "ed448";
    case KeyAlgorithm::kDsa:
      return "dsa-" + std::to_string(bits);
    case KeyAlgorithm::kOther:
      return "unknown";
  }
  return "unknown";
}

}  // namespace herald::keys
