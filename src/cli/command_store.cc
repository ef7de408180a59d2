// herald store migrate: the CA's state from the embedded SQLite file into
// PostgreSQL (store::migrate does the copy and the count check; this is the
// CLI and the herald.toml switch).
#include <iostream>

#include "base/fs.h"
#include "cli/cli.h"
#include "datadir/data_dir.h"
#include "datadir/init.h"
#include "store/migrate.h"
#include "store/open.h"

namespace herald::cli {

namespace {

struct MigrateFlags {
  std::string to;
  std::optional<std::string> password_file;
};

Status run_migrate(Context& ctx, const MigrateFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto current, dir.store_spec());
  if (!current.url.empty()) {
    return make_error(ErrorCode::kConflict, "this CA already keeps its state in " +
                                                store::redact_url(current.url) +
                                                " (herald.toml [store]); nothing to migrate");
  }
  HERALD_TRY_VOID(store::check_url(f.to));
  store::StoreSpec target;
  target.url = f.to;
  HERALD_TRY(target.password, datadir::store_password(f.password_file));
  HERALD_TRY(auto from, dir.open_store(*ctx.clock));
  HERALD_TRY(auto to, store::open(target, store::OpenMode::kCreate, *ctx.clock));
  HERALD_TRY(auto report, store::migrate(*from, *to, ctx.clock->now()));

  // From now on every command and herald serve use the new store.
  HERALD_TRY(auto toml, fs::read_file(dir.config_path(), 1 << 20));
  toml += datadir::store_section(f.to, f.password_file);
  HERALD_TRY_VOID(fs::write_file(dir.config_path(), toml, fs::kPublic, fs::Overwrite::kReplace));

  std::cout << "Moved the CA's state from " << from->describe() << " to " << to->describe()
            << " (counts checked):\n"
            << "  certificates    " << report.certificates << " (" << report.revoked
            << " revoked or on hold)\n"
            << "  audit log       " << report.audit_entries << " entries\n"
            << "  API tokens      " << report.tokens << "\n"
            << "  ACME accounts   " << report.accounts << " (same account URLs)\n"
            << "  EAB keys        " << report.eab_keys << " unused, " << report.eab_keys_bound
            << " used\n"
            << "  one-time tokens " << report.used_token_ids
            << " used and unexpired (still refused)\n"
            << "  deployments     " << report.deployments << " seen by herald scan, "
            << report.discovered << " foreign certificates\n"
            << "  CRL numbers     continue after";
  for (const auto& [ca, n] : report.crl_numbers) std::cout << " " << ca << " " << n;
  std::cout << "\n"
            << dir.config_path().string() << " now names the new store ([store]); "
            << dir.db_path().string()
            << " is left as it was, as a backup.\n"
               "Not moved: ACME orders and authorizations (short-lived; a client with an open "
               "order orders again).\n"
               "Start herald serve again; it serves from the new store.\n";
  return {};
}

}  // namespace

void add_store_commands(CLI::App& app, Context& ctx) {
  auto* store = app.add_subcommand("store", "The CA's state: move it to another store");
  store->require_subcommand(1);
  auto flags = std::make_shared<MigrateFlags>();
  auto* migrate = store->add_subcommand(
      "migrate",
      "Copy the CA's state from the embedded SQLite file (DIR/herald.db) into an empty\n"
      "PostgreSQL database, check the counts, and point herald.toml's [store] at it, so that\n"
      "several herald serve nodes can share it. Stop herald serve first: what it writes to\n"
      "the SQLite file during the copy would not be moved. herald.db is kept as a backup.");
  add_dir_option(*migrate, ctx);
  migrate->add_option("--to", flags->to, "postgresql://USER@HOST:PORT/DB[?sslmode=...] (no password in it)")
      ->required();
  migrate->add_option("--to-password-file", flags->password_file,
                      "File holding the database password (else $HERALD_STORE_PASSWORD_FILE or "
                      "$HERALD_STORE_PASSWORD); its path goes into herald.toml");
  migrate->callback([&ctx, flags] { ctx.result = run_migrate(ctx, *flags); });
}

}  // namespace herald::cli
