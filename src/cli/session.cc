#include "cli/session.h"

namespace herald::cli {

std::string Session::chain_pem(const std::string& leaf_pem) const {
  return leaf_pem + issuing->pem() + intermediate->pem();
}

Result<std::unique_ptr<Session>> open_session(
    Context& ctx, LoadSigner load, const std::optional<std::string>& issuing_passphrase_file) {
  auto s = std::make_unique<Session>();
  s->dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(s->dir.require_initialised());
  HERALD_TRY(s->config, s->dir.load_config());
  HERALD_TRY(s->issuing, s->dir.load_ca_cert(ca::CaLevel::kIssuing));
  HERALD_TRY(s->intermediate, s->dir.load_ca_cert(ca::CaLevel::kIntermediate));
  HERALD_TRY(s->root, s->dir.load_ca_cert(ca::CaLevel::kRoot));
  if (load == LoadSigner::kIssuing) {
    HERALD_TRY(s->signer, s->dir.load_signer(ca::CaLevel::kIssuing, issuing_passphrase_file));
    if (EVP_PKEY_eq(X509_get0_pubkey(&s->issuing->x509()), s->signer->public_key().pkey.get()) !=
        1) {
      return make_error(ErrorCode::kConflict, "the issuing key does not match ca/issuing.pem");
    }
  }
  HERALD_TRY(s->inventory, s->dir.open_store(*ctx.clock));
  if (s->signer) {
    s->authority = std::make_unique<ca::Authority>(*ctx.clock, *s->inventory, s->config, *s->signer,
                                                   *s->issuing, s->intermediate->serial());
  }
  return s;
}

Result<store::Labels> parse_owner_flags(const std::vector<std::string>& flags, bool for_issuance) {
  store::Labels out;
  for (const auto& f : flags) {
    HERALD_TRY(auto labels, store::parse_labels(f));
    for (auto& [k, v] : labels) {
      if (for_issuance && store::is_reserved_label(k, v)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "owner label '" + k + "=" + v + "' is reserved: Herald sets it itself");
      }
      out[k] = v;
    }
  }
  return out;
}

}  // namespace herald::cli
