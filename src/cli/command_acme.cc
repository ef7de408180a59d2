// `herald acme eab add|list`: External Account Binding keys (RFC 8555
// §7.3.4) for ACME provisioners, so `require_eab = true` lets in only the
// clients an operator handed a key to.
#include <iostream>

#include "base/encoding.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "cli/session.h"
#include "server/config.h"

namespace herald::cli {

namespace {

struct EabFlags {
  std::string provisioner;
  bool json = false;
};

Status run_eab_add(Context& ctx, const EabFlags& f) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto text, fs::read_file(s->dir.config_path(), 1 << 20));
  HERALD_TRY(auto cfg, server::parse_server_config(text, s->dir.config_path().string()));
  const auto* prov = cfg.provisioner(f.provisioner);
  if (!prov || prov->type != "acme") {
    return make_error(ErrorCode::kNotFound, "no acme provisioner '" + f.provisioner + "' in " +
                                                s->dir.config_path().string());
  }
  HERALD_TRY(auto kid_bytes, ossl::random_bytes(16));
  HERALD_TRY(auto key_bytes, ossl::random_bytes(32));
  store::AcmeEabKey key{base64url_encode(kid_bytes), f.provisioner, base64url_encode(key_bytes),
                        ctx.clock->now(), ""};
  HERALD_TRY_VOID(s->inventory->acme_insert_eab(key));
  if (f.json) {
    std::cout << nlohmann::json{{"provisioner", key.provisioner},
                                {"kid", key.kid},
                                {"hmac_key", key.hmac_key}}
                     .dump()
              << "\n";
  } else {
    std::cout << "kid      " << key.kid << "\nhmac_key " << key.hmac_key << "\n";
    std::cerr << "EAB key for ACME provisioner '" << f.provisioner
              << "': good for one account (e.g. certbot --eab-kid KID --eab-hmac-key KEY)\n";
  }
  return {};
}

Status run_eab_list(Context& ctx, bool json) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto keys, s->inventory->acme_eab_list());
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& k : keys) {
    arr.push_back({{"kid", k.kid},
                   {"provisioner", k.provisioner},
                   {"created", format_time(k.created_at)},
                   {"account", k.account_id.empty() ? nlohmann::json() : nlohmann::json(k.account_id)}});
  }
  if (json) {
    std::cout << arr.dump() << "\n";
    return {};
  }
  for (const auto& k : keys) {
    std::cout << k.kid << "  " << k.provisioner << "  " << format_time(k.created_at) << "  "
              << (k.account_id.empty() ? "unused" : "account " + k.account_id) << "\n";
  }
  std::cout << keys.size() << " EAB keys (secrets are not shown again)\n";
  return {};
}

}  // namespace

void add_acme_commands(CLI::App& app, Context& ctx) {
  auto* acme = app.add_subcommand("acme", "ACME administration (External Account Binding keys)");
  acme->require_subcommand(1);
  auto* eab = acme->add_subcommand(
      "eab", "External Account Binding keys: an acme provisioner with require_eab = true\n"
             "accepts a new account only with one (each key creates one account)");
  eab->require_subcommand(1);
  auto f = std::make_shared<EabFlags>();
  auto* add = eab->add_subcommand("add", "Create a key; prints its kid and HMAC key once");
  add_dir_option(*add, ctx);
  add->add_option("--provisioner", f->provisioner, "ACME provisioner name")->required();
  add->add_flag("--json", f->json, "JSON output");
  add->callback([&ctx, f] { ctx.result = run_eab_add(ctx, *f); });
  auto* list = eab->add_subcommand("list", "List keys and the accounts they created");
  add_dir_option(*list, ctx);
  list->add_flag("--json", f->json, "JSON output");
  list->callback([&ctx, f] { ctx.result = run_eab_list(ctx, f->json); });
}

}  // namespace herald::cli
