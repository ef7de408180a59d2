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
  HERALD_TRY(auto ca, datadir::open_ca(s->dir, *ctx.clock,
                                       load == LoadSigner::kIssuing ? datadir::IssuingKey::kLoad
                                                                    : datadir::IssuingKey::kNo,
                                       issuing_passphrase_file));
  s->issuing = std::move(ca.issuing);
  s->intermediate = std::move(ca.intermediate);
  s->root = std::move(ca.root);
  s->signer = std::move(ca.signer);
  s->inventory = std::move(ca.store);
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
      if (!out.emplace(k, v).second) {
        return make_error(ErrorCode::kInvalidArgument, "owner label '" + k + "' given twice");
      }
    }
  }
  return out;
}

}  // namespace herald::cli
