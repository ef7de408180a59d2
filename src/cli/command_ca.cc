// herald ca init | ca info
#include <iostream>

#include "base/duration.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "datadir/init.h"
#include "policy/config.h"

namespace herald::cli {

void add_dir_option(CLI::App& cmd, Context& ctx) {
  cmd.add_option("--dir", ctx.dir, "Data directory (default: $HERALD_HOME, else ./herald-data)");
}

namespace {

struct InitFlags {
  std::string org = "Herald";
  std::string key_type = "ec-p256";
  std::string root_ttl = "20y", intermediate_ttl = "10y", issuing_ttl = "2y";
  std::optional<std::string> root_pass, intermediate_pass, issuing_pass;
  std::string base_url;
  std::string store_url;
  std::optional<std::string> store_password_file;
};

Status validate_org(const std::string& org) {
  bool ok = !org.empty() && org.size() <= 64;
  for (unsigned char c : org) ok = ok && c >= 0x20 && c != 0x7F && c != '"' && c != '\\';
  if (!ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid --org: 1 to 64 printable characters, without quotes or backslashes");
  }
  return {};
}

Status run_init(Context& ctx, const InitFlags& f) {
  datadir::InitOptions o;
  HERALD_TRY_VOID(validate_org(f.org));
  o.hierarchy.organization = f.org;
  HERALD_TRY(o.hierarchy.key_type, keys::parse_key_type(f.key_type));
  HERALD_TRY(o.hierarchy.root_ttl, parse_duration(f.root_ttl));
  HERALD_TRY(o.hierarchy.intermediate_ttl, parse_duration(f.intermediate_ttl));
  HERALD_TRY(o.hierarchy.issuing_ttl, parse_duration(f.issuing_ttl));
  // The base URL goes into the config file: validate it the way the config loader will.
  auto cfg = policy::parse_config(policy::default_config_text({f.org, f.base_url}), "--base-url");
  if (!cfg) {
    return make_error(ErrorCode::kInvalidArgument, "invalid --base-url '" + f.base_url +
                                                       "': must start with http:// or https://");
  }
  o.hierarchy.base_url = cfg->ca.base_url;
  o.root_passphrase_file = f.root_pass;
  o.intermediate_passphrase_file = f.intermediate_pass;
  o.issuing_passphrase_file = f.issuing_pass;
  o.store_url = f.store_url;
  o.store_password_file = f.store_password_file;

  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY(auto report, datadir::initialise(dir, o, *ctx.clock));
  for (const auto& w : report.warnings) warn(w);

  std::cout << "Initialised a Herald CA hierarchy in " << dir.root().string() << "\n";
  if (!f.store_url.empty()) std::cout << "State (inventory, tokens, ACME): " << store::redact_url(f.store_url) << "\n";
  for (auto l : {ca::CaLevel::kRoot, ca::CaLevel::kIntermediate, ca::CaLevel::kIssuing}) {
    HERALD_TRY(auto c, dir.load_ca_cert(l));
    std::string name(ca::ca_level_name(l));
    std::cout << "  " << name << std::string(14 - name.size(), ' ') << c.subject() << "  "
              << c.key_info().name() << "  until " << format_time(c.not_after()) << "\n";
  }
  std::cout << "Trust package for relying parties: " << dir.trust_dir().string() << "\n"
            << "Configuration and policy: " << dir.config_path().string() << "\n";
  if (!report.generated_secrets.empty()) {
    std::cerr << "\n"
              << "!!! WARNING: Herald generated the passphrases of these CA keys and wrote them "
                 "next to them:\n";
    for (auto l : report.generated_secrets)
      std::cerr << "!!!   " << dir.secret_path(l).string() << "\n";
    std::cerr
        << "!!! That is the quick-start path. In production pass your own --*-passphrase-file,\n"
        << "!!! and keep the root key (keys/root.key.pem) and its passphrase offline.\n";
  }
  return {};
}

Status run_info(Context& ctx, bool json) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto inv, dir.open_store(*ctx.clock));
  nlohmann::json out = nlohmann::json::object();
  for (auto l : {ca::CaLevel::kRoot, ca::CaLevel::kIntermediate, ca::CaLevel::kIssuing}) {
    HERALD_TRY(auto c, dir.load_ca_cert(l));
    auto j = ca_json(c);
    HERALD_TRY(auto rec, inv->find(c.serial()));
    j["status"] = rec ? rec->status_at(ctx.clock->now()) : "unknown";
    std::error_code ec;
    j["key_present"] = std::filesystem::exists(dir.key_path(l), ec);
    out[std::string(ca::ca_level_name(l))] = j;
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
    return {};
  }
  for (auto l : {ca::CaLevel::kRoot, ca::CaLevel::kIntermediate, ca::CaLevel::kIssuing}) {
    const auto& j = out[std::string(ca::ca_level_name(l))];
    std::cout << ca::ca_level_name(l) << " CA\n"
              << "  subject:     " << j["subject"].get<std::string>() << "\n"
              << "  serial:      " << j["serial"].get<std::string>() << "\n"
              << "  key:         " << j["key_type"].get<std::string>()
              << (j["key_present"].get<bool>() ? "" : " (key not on this machine)") << "\n"
              << "  validity:    " << j["not_before"].get<std::string>() << " .. "
              << j["not_after"].get<std::string>() << "\n"
              << "  path length: " << j["path_len"].dump() << "\n"
              << "  status:      " << j["status"].get<std::string>() << "\n"
              << "  SHA-256:     " << j["fingerprint_sha256"].get<std::string>() << "\n";
  }
  return {};
}

}  // namespace

void add_ca_commands(CLI::App& app, Context& ctx) {
  auto* ca = app.add_subcommand("ca", "Manage the CA hierarchy (init, info)");
  ca->require_subcommand(1);

  auto flags = std::make_shared<InitFlags>();
  auto* init = ca->add_subcommand(
      "init",
      "Create the three-tier hierarchy (root -> intermediate -> issuing) in the data directory.\n"
      "Keys are encrypted at rest (PKCS#8, scrypt + AES-256) with three different passphrases,\n"
      "read from files or $HERALD_{ROOT,INTERMEDIATE,ISSUING}_PASSPHRASE[_FILE]; when none are\n"
      "given, strong random ones are written to DIR/secrets/ (quick start only).\n"
      "Refuses to touch an existing hierarchy.");
  add_dir_option(*init, ctx);
  init->add_option("--org", flags->org, "Organisation name in the CA subjects")
      ->capture_default_str();
  init->add_option("--key-type", flags->key_type,
                   std::string("CA key type: ") + std::string(keys::kKeyTypeChoices))
      ->capture_default_str();
  init->add_option("--root-ttl", flags->root_ttl, "Root CA lifetime")->capture_default_str();
  init->add_option("--intermediate-ttl", flags->intermediate_ttl,
                   "Intermediate CA lifetime (clamped to the root's)")
      ->capture_default_str();
  init->add_option("--issuing-ttl", flags->issuing_ttl,
                   "Issuing CA lifetime (clamped to the intermediate's)")
      ->capture_default_str();
  init->add_option("--root-passphrase-file", flags->root_pass,
                   "File holding the root key's passphrase");
  init->add_option("--intermediate-passphrase-file", flags->intermediate_pass,
                   "File holding the intermediate key's passphrase");
  init->add_option("--issuing-passphrase-file", flags->issuing_pass,
                   "File holding the issuing key's passphrase");
  init->add_option("--base-url", flags->base_url,
                   "Base URL of the CRL/OCSP endpoints written into certificates (e.g. "
                   "http://ca.internal:8080)");
  init->add_option("--store", flags->store_url,
                   "Keep the CA's state in PostgreSQL instead of DIR/herald.db: a URL\n"
                   "postgresql://USER@HOST:PORT/DB[?sslmode=verify-full&sslrootcert=F] without a\n"
                   "password (written into herald.toml's [store]; the database must be empty)");
  init->add_option("--store-password-file", flags->store_password_file,
                   "File holding the PostgreSQL password (else $HERALD_STORE_PASSWORD_FILE or\n"
                   "$HERALD_STORE_PASSWORD); its path goes into herald.toml, never the password");
  init->callback([&ctx, flags] { ctx.result = run_init(ctx, *flags); });

  auto json = std::make_shared<bool>(false);
  auto* info = ca->add_subcommand(
      "info", "Show the hierarchy: subjects, key types, validity, fingerprints, path lengths");
  add_dir_option(*info, ctx);
  info->add_flag("--json", *json, "Print JSON");
  info->callback([&ctx, json] { ctx.result = run_info(ctx, *json); });
}

}  // namespace herald::cli
