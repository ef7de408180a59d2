#include "policy/profile.h"

namespace herald::policy {

Result<Profile> parse_profile(std::string_view name) {
  if (name == "server") return Profile::kServer;
  if (name == "client") return Profile::kClient;
  if (name == "spiffe") return Profile::kSpiffe;
  return make_error(
      ErrorCode::kInvalidArgument,
      "unknown profile '" + std::string(name) + "' (choose " + std::string(kProfileChoices) + ")");
}

std::string_view profile_name(Profile p) {
  switch (p) {
    case Profile::kServer:
      return "server";
    case Profile::kClient:
      return "client";
    case Profile::kSpiffe:
      return "spiffe";
    case Profile::kOcspSigner:
      return "ocsp-signer";
  }
  return "unknown";
}

ProfileTemplate profile_template(Profile p, const keys::KeyInfo& key) {
  using x509::ExtendedKeyUsage;
  const bool rsa = key.algorithm == keys::KeyAlgorithm::kRsa;
  ProfileTemplate t;
  switch (p) {
    case Profile::kServer:
      t.key_usage = x509::kDigitalSignature | (rsa ? x509::kKeyEncipherment : 0u);
      t.ext_key_usage = {ExtendedKeyUsage::kServerAuth};
      break;
    case Profile::kClient:
      t.key_usage = x509::kDigitalSignature;
      t.ext_key_usage = {ExtendedKeyUsage::kClientAuth};
      break;
    case Profile::kSpiffe:
      t.key_usage = x509::kDigitalSignature | (rsa ? x509::kKeyEncipherment : 0u);
      t.ext_key_usage = {ExtendedKeyUsage::kServerAuth, ExtendedKeyUsage::kClientAuth};
      break;
    case Profile::kOcspSigner:
      t.key_usage = x509::kDigitalSignature;
      t.ext_key_usage = {ExtendedKeyUsage::kOcspSigning};
      break;
  }
  return t;
}

}  // namespace herald::policy
