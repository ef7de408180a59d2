// herald trust export | import | list | remove: trust between organisations.
// The checks and encodings live in ca/trust.h, the files in
// datadir/partners.h and datadir/trust_package.h; this is only the CLI.
#include <iostream>

#include "base/fs.h"
#include "ca/trust.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "datadir/data_dir.h"
#include "datadir/partners.h"
#include "datadir/trust_package.h"

namespace herald::cli {

namespace {

struct ExportFlags {
  std::string out = "herald-trust.tar";
  bool force = false;
};

struct ImportFlags {
  std::string file;
  std::string name;
  std::string fingerprint;
};

std::string pad(std::string s, size_t n) {
  if (s.size() < n) s += std::string(n - s.size(), ' ');
  return s;
}

Result<datadir::DataDir> open_dir(Context& ctx) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  return dir;
}

Status run_export(Context& ctx, const ExportFlags& f) {
  HERALD_TRY(auto dir, open_dir(ctx));
  const TimePoint now = ctx.clock->now();
  HERALD_TRY(auto manifest, datadir::trust_package_manifest(dir, now));
  HERALD_TRY(auto tar, datadir::trust_package_archive(dir, now));
  if (f.out == "-") {
    std::cout.write(tar.data(), static_cast<std::streamsize>(tar.size()));
    std::cout.flush();
    return {};
  }
  HERALD_TRY_VOID(fs::write_file(f.out, tar, fs::kPublic,
                                 f.force ? fs::Overwrite::kReplace : fs::Overwrite::kRefuse));
  std::cout << "wrote " << f.out << " (" << manifest["files"].size() + 1
            << " files under herald-trust/, manifest.json included)\n";
  for (const auto& r : manifest["roots"]) {
    std::cout << "  root          " << r["subject"].get<std::string>() << "\n"
              << "                SHA-256 " << r["fingerprint_sha256"].get<std::string>() << "\n";
  }
  for (const auto& r : manifest["intermediates"]) {
    std::cout << "  intermediate  " << r["subject"].get<std::string>() << "\n"
              << "                SHA-256 " << r["fingerprint_sha256"].get<std::string>() << "\n";
  }
  std::cout << "Give the partner the root's SHA-256 over another channel than the file:\n"
            << "  herald trust import root.pem --name NAME --fingerprint SHA256\n";
  return {};
}

Status run_import(Context& ctx, const ImportFlags& f) {
  HERALD_TRY(auto dir, open_dir(ctx));
  HERALD_TRY(auto pem, fs::read_file(f.file, 256 << 10));
  // Our own root is trusted already; importing it as a partner is a mistake.
  HERALD_TRY(auto own, dir.load_ca_cert(ca::CaLevel::kRoot));
  HERALD_TRY(auto certs, x509::Certificate::from_pem(pem));
  for (const auto& c : certs) {
    if (c.fingerprint_sha256() == own.fingerprint_sha256()) {
      return make_error(ErrorCode::kConflict, f.file + " is this CA's own root (" + own.subject() +
                                                  "); it is in the trust bundle already");
    }
  }
  datadir::PartnerStore store(dir.partners_dir());
  HERALD_TRY(auto report, store.import(pem, f.name, f.fingerprint, ctx.clock->now()));
  const auto& c = report.partner.cert;
  HERALD_TRY(auto inv, dir.open_store(*ctx.clock));
  HERALD_TRY_VOID(inv->record_audit("trust_import",
                                    nlohmann::json{{"name", f.name},
                                                   {"subject", c.subject()},
                                                   {"fingerprint_sha256", c.fingerprint_sha256()},
                                                   {"not_after", format_time(c.not_after())}}
                                        .dump()));
  for (const auto& w : report.warnings) warn(w);
  std::cout << "trusted partner '" << f.name << "': " << c.subject() << "\n"
            << "  key:      " << c.key_info().name() << "\n"
            << "  valid:    " << format_time(c.not_before()) << " .. " << format_time(c.not_after())
            << "\n"
            << "  SHA-256:  " << c.fingerprint_sha256() << "\n"
            << "  stored:   " << (dir.partners_dir() / (f.name + ".pem")).string() << "\n"
            << "A running `herald serve` publishes it in /v1/trust/bundle within a second.\n";
  return {};
}

nlohmann::json anchor_json(const x509::Certificate& c, TimePoint now) {
  return {{"subject", c.subject()},
          {"not_before", format_time(c.not_before())},
          {"not_after", format_time(c.not_after())},
          {"fingerprint_sha256", c.fingerprint_sha256()},
          {"key_type", c.key_info().name()},
          {"status", now > c.not_after()    ? "expired"
                     : now < c.not_before() ? "not-yet-valid"
                                            : "valid"}};
}

Status run_list(Context& ctx, bool json) {
  HERALD_TRY(auto dir, open_dir(ctx));
  const TimePoint now = ctx.clock->now();
  HERALD_TRY(auto root_pem, fs::read_file(dir.ca_cert_path(ca::CaLevel::kRoot), 1 << 20));
  HERALD_TRY(auto own, x509::Certificate::from_pem(root_pem));
  datadir::PartnerStore store(dir.partners_dir());
  HERALD_TRY(auto partners, store.list());
  nlohmann::json out = {{"own", nlohmann::json::array()}, {"partners", nlohmann::json::array()}};
  for (const auto& c : own) {
    auto j = anchor_json(c, now);
    j["file"] = dir.ca_cert_path(ca::CaLevel::kRoot).string();
    out["own"].push_back(j);
  }
  for (const auto& p : partners) {
    auto j = anchor_json(p.cert, now);
    j["name"] = p.name;
    j["imported_at"] = format_time(p.imported_at);
    j["file"] = (dir.partners_dir() / (p.name + ".pem")).string();
    out["partners"].push_back(j);
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
    return {};
  }
  std::cout << pad("NAME", 18) << pad("STATUS", 14) << pad("NOT AFTER", 22) << "SUBJECT\n";
  auto row = [&](const std::string& name, const nlohmann::json& j) {
    std::cout << pad(name, 18) << pad(j["status"].get<std::string>(), 14)
              << pad(j["not_after"].get<std::string>(), 22) << j["subject"].get<std::string>()
              << "\n"
              << pad("", 18) << "SHA-256 " << j["fingerprint_sha256"].get<std::string>() << "\n";
  };
  for (const auto& j : out["own"]) row("(own root)", j);
  for (const auto& j : out["partners"]) row(j["name"].get<std::string>(), j);
  if (partners.empty()) std::cout << "(no partner roots: herald trust import)\n";
  return {};
}

Status run_remove(Context& ctx, const std::string& name) {
  HERALD_TRY(auto dir, open_dir(ctx));
  datadir::PartnerStore store(dir.partners_dir());
  HERALD_TRY(auto fingerprint, store.remove(name));
  HERALD_TRY(auto inv, dir.open_store(*ctx.clock));
  HERALD_TRY_VOID(inv->record_audit(
      "trust_remove", nlohmann::json{{"name", name}, {"fingerprint_sha256", fingerprint}}.dump()));
  std::cout << "removed partner '" << name << "' (SHA-256 " << fingerprint << ")\n";
  return {};
}

}  // namespace

void add_trust_commands(CLI::App& app, Context& ctx) {
  auto* trust = app.add_subcommand(
      "trust", "Trust between organisations: export this CA's trust package, import partner roots");
  trust->require_subcommand(1);

  auto ef = std::make_shared<ExportFlags>();
  auto* exp = trust->add_subcommand(
      "export",
      "Write the trust package (a tar archive: root, intermediate, CRLs, CRL/OCSP URLs,\n"
      "SHA-256 fingerprints, a README for the partner and manifest.json for programs).\n"
      "The same archive as GET /v1/ca/trust-package.");
  add_dir_option(*exp, ctx);
  exp->add_option("--out", ef->out, "Output file ('-': standard output)")->capture_default_str();
  exp->add_flag("--force", ef->force, "Overwrite --out if it exists");
  exp->callback([&ctx, ef] { ctx.result = run_export(ctx, *ef); });

  auto imf = std::make_shared<ImportFlags>();
  auto* imp = trust->add_subcommand(
      "import",
      "Trust a partner organisation's root CA. Refused unless its SHA-256 equals\n"
      "--fingerprint (obtained from the partner over another channel), it is a CA, its key\n"
      "is strong (RSA >= 2048, EC on a named curve, Ed25519) and it is valid now.\n"
      "Recorded in DIR/partners/ and the audit log; published by `herald serve` in\n"
      "/v1/trust/bundle.");
  add_dir_option(*imp, ctx);
  imp->add_option("file", imf->file, "The partner's root certificate (PEM, one certificate)")
      ->required();
  imp->add_option("--name", imf->name,
                  "Name of the partner (letters, digits, '.', '_', '-'; at most 64)")
      ->required();
  imp->add_option("--fingerprint", imf->fingerprint,
                  "The root's SHA-256 fingerprint as the partner gave it (hex, ':' allowed)")
      ->required();
  imp->callback([&ctx, imf] { ctx.result = run_import(ctx, *imf); });

  auto json = std::make_shared<bool>(false);
  auto* list = trust->add_subcommand(
      "list",
      "Show the trust anchors: this CA's root and the partner roots, with expiry and "
      "SHA-256");
  add_dir_option(*list, ctx);
  list->add_flag("--json", *json, "Print JSON");
  list->callback([&ctx, json] { ctx.result = run_list(ctx, *json); });

  auto name = std::make_shared<std::string>();
  auto* rm = trust->add_subcommand("remove", "Stop trusting a partner root (audited)");
  add_dir_option(*rm, ctx);
  rm->add_option("name", *name, "The partner's name")->required();
  rm->callback([&ctx, name] { ctx.result = run_remove(ctx, *name); });
}

}  // namespace herald::cli
