// herald report compliance | blast-radius
#include <iostream>

#include "base/fs.h"
#include "cli/session.h"
#include "report/report.h"

namespace herald::cli {

namespace {

struct ComplianceFlags {
  bool json = false;
  bool html = false;
  std::optional<std::string> out;
  size_t examples = 20;
};

struct BlastFlags {
  std::optional<std::string> serial;
  std::optional<std::string> ca;
  bool json = false;
};

Result<report::Hierarchy> hierarchy_of(Session& s) {
  report::Hierarchy h;
  for (auto [cert, rec] : {std::pair{&*s.root, &h.root}, std::pair{&*s.intermediate, &h.intermediate},
                           std::pair{&*s.issuing, &h.issuing}}) {
    HERALD_TRY(auto found, s.inventory->find(cert->serial()));
    if (!found) {
      return make_error(ErrorCode::kNotFound, "the CA certificate " + cert->serial().hex() +
                                                  " is not in the inventory");
    }
    *rec = std::move(*found);
  }
  return h;
}

Status write_or_print(const std::optional<std::string>& out, const std::string& text) {
  if (!out) {
    std::cout << text;
    return {};
  }
  HERALD_TRY_VOID(fs::write_file(*out, text, fs::kPublic));
  std::cerr << "wrote " << *out << "\n";
  return {};
}

Status run_compliance(Context& ctx, const ComplianceFlags& f) {
  if (f.json && f.html) return make_error(ErrorCode::kInvalidArgument, "choose --json or --html");
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto h, hierarchy_of(*s));
  HERALD_TRY(auto r, report::compliance(*s->inventory, s->inventory.get(), s->config.policy, h, ctx.clock->now(),
                                        f.examples));
  if (f.json) return write_or_print(f.out, report::to_json(r).dump(2) + "\n");
  if (f.html) return write_or_print(f.out, report::to_html(r));
  return write_or_print(f.out, report::to_text(r));
}

Status run_blast(Context& ctx, const BlastFlags& f) {
  if (f.serial.has_value() == f.ca.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "give a SERIAL or --ca root|intermediate|issuing");
  }
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  Serial serial;
  if (f.ca) {
    HERALD_TRY(auto level, ca::parse_ca_level(*f.ca));
    serial = level == ca::CaLevel::kRoot           ? s->root->serial()
             : level == ca::CaLevel::kIntermediate ? s->intermediate->serial()
                                                   : s->issuing->serial();
  } else {
    HERALD_TRY(serial, Serial::parse(*f.serial));
  }
  HERALD_TRY(auto b, report::blast_radius(*s->inventory, s->inventory.get(), serial, ctx.clock->now()));
  if (f.json) {
    std::cout << report::to_json(b).dump(2) << "\n";
  } else {
    std::cout << report::to_text(b);
  }
  return {};
}

}  // namespace

void add_report_commands(CLI::App& app, Context& ctx) {
  auto* report = app.add_subcommand(
      "report", "Reports over the inventory: compliance findings, and the blast radius of a\n"
                "certificate or CA before a revocation or rotation.");
  report->require_subcommand(1);

  auto fc = std::make_shared<ComplianceFlags>();
  auto* comp = report->add_subcommand(
      "compliance",
      "Check every valid certificate against the rules of a well-run PKI: weak keys (RSA\n"
      "under the policy's minimum or 2048, EC under 256), SHA-1/MD5 signatures, lifetimes\n"
      "above the policy's max_ttl, names only in the CN, no owner label, CAs expiring\n"
      "before what they signed or could sign. Exit 0 whatever it finds (findings are the\n"
      "report, not an error).");
  add_dir_option(*comp, ctx);
  comp->add_flag("--json", fc->json, "Print JSON");
  comp->add_flag("--html", fc->html, "Print a self-contained HTML page");
  comp->add_option("--out", fc->out, "Write the report to this file instead of stdout");
  comp->add_option("--examples", fc->examples, "Examples kept per rule")->capture_default_str();
  comp->callback([&ctx, fc] { ctx.result = run_compliance(ctx, *fc); });

  auto fb = std::make_shared<BlastFlags>();
  auto* blast = report->add_subcommand(
      "blast-radius",
      "Everything that chains to a certificate or CA (by SERIAL, or --ca root|intermediate|\n"
      "issuing): how many are still valid, by profile and by owner, the CAs below it and\n"
      "the first to expire. Read it before revoking a CA or rotating it.");
  add_dir_option(*blast, ctx);
  blast->add_option("serial", fb->serial, "Serial of the certificate (hex)");
  blast->add_option("--ca", fb->ca, "root | intermediate | issuing");
  blast->add_flag("--json", fb->json, "Print JSON");
  blast->callback([&ctx, fb] { ctx.result = run_blast(ctx, *fb); });
}

}  // namespace herald::cli
