// herald revoke | crl
#include <iostream>

#include "base/duration.h"
#include "base/fs.h"
#include "ca/revocation.h"
#include "cli/output.h"
#include "cli/session.h"
#include "report/report.h"

namespace herald::cli {

namespace {

struct RevokeFlags {
  std::string serial;
  std::string reason = "unspecified";
  std::optional<std::string> issuing_pass_file;
  bool no_crl = false;
  bool json = false;
  bool yes = false;
};

struct CrlFlags {
  std::string ca = "issuing";
  std::optional<std::string> out;
  bool der = false;
  std::optional<std::string> next_update;
  std::optional<std::string> root_pass_file, intermediate_pass_file, issuing_pass_file;
  bool json = false;
};

// Signs and publishes a fresh CRL for `level` (DIR/crl and the trust package).
Result<ca::CrlResult> publish_crl(Context& ctx, Session& s, const keys::Signer& signer,
                                  ca::CaLevel level, std::chrono::seconds validity) {
  const x509::Certificate& cert = level == ca::CaLevel::kIssuing        ? *s.issuing
                                  : level == ca::CaLevel::kIntermediate ? *s.intermediate
                                                                        : *s.root;
  HERALD_TRY(auto crl, ca::generate_crl(*ctx.clock, *s.inventory, signer, cert,
                                        ca::ca_level_name(level), validity));
  HERALD_TRY_VOID(s.dir.write_crl(level, crl.der));
  return crl;
}

Status run_revoke(Context& ctx, const RevokeFlags& f) {
  HERALD_TRY(auto serial, Serial::parse(f.serial));
  HERALD_TRY(auto reason, x509::parse_reason(f.reason));
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto rec, s->inventory->find(serial));
  if (!rec)
    return make_error(ErrorCode::kNotFound,
                      "no certificate with serial " + serial.hex() + " in the inventory");
  if (rec->serial == s->root->serial()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the root certificate cannot be revoked (nothing above it signs a CRL); "
                      "retire the hierarchy instead");
  }
  // A CA takes everything below it along: say what, and go on only when told.
  if (rec->profile.ends_with("-ca") && reason != x509::RevocationReason::kRemoveFromCrl) {
    HERALD_TRY(auto radius, report::blast_radius(*s->inventory, s->inventory.get(), serial, ctx.clock->now()));
    std::cerr << report::to_text(radius);
    if (!f.yes) {
      return make_error(ErrorCode::kInvalidArgument,
                        "revoking CA certificate " + serial.hex() + " breaks the " +
                            std::to_string(radius.valid) +
                            " valid certificates that chain to it (above); re-run with --yes "
                            "to revoke it");
    }
  }
  const bool by_issuing = rec->issuer_serial == s->issuing->serial();
  // Leaves: the issuing CA's CRL is refreshed at once, so its key must load
  // before anything changes (a wrong passphrase revokes nothing).
  std::unique_ptr<keys::KeySigner> signer;
  if (by_issuing && !f.no_crl) {
    HERALD_TRY(signer, s->dir.load_signer(ca::CaLevel::kIssuing, f.issuing_pass_file));
  }
  HERALD_TRY(auto after, ca::revoke(*ctx.clock, *s->inventory, serial, reason));
  std::optional<ca::CrlResult> crl;
  if (signer) {
    HERALD_TRY(crl, publish_crl(ctx, *s, *signer, ca::CaLevel::kIssuing, std::chrono::hours(24)));
  }
  if (f.json) {
    auto j = record_json(after, ctx.clock->now());
    if (crl) j["crl_number"] = crl->number;
    std::cout << j.dump(2) << "\n";
    return {};
  }
  std::cout << (reason == x509::RevocationReason::kRemoveFromCrl ? "released hold on " : "revoked ")
            << serial.hex() << " (" << after.subject << ")"
            << (after.revocation_reason
                    ? " reason " + std::string(x509::reason_name(*after.revocation_reason))
                    : "")
            << "\n";
  if (crl) {
    std::cout << "published CRL #" << crl->number << " of the issuing CA (" << crl->entries
              << " entries): " << s->dir.crl_path(ca::CaLevel::kIssuing, false).string() << "\n";
  } else if (!by_issuing) {
    const bool by_root = rec->issuer_serial == s->root->serial();
    std::cout << "this certificate is on the " << (by_root ? "root" : "intermediate")
              << " CA's CRL: sign it (offline) with 'herald crl --ca "
              << (by_root ? "root" : "intermediate") << "'\n";
  } else {
    std::cout << "CRL not refreshed (--no-crl): run 'herald crl' to publish it\n";
  }
  return {};
}

Status run_crl(Context& ctx, const CrlFlags& f) {
  HERALD_TRY(auto level, ca::parse_ca_level(f.ca));
  std::chrono::seconds validity =
      level == ca::CaLevel::kIssuing ? std::chrono::hours(24) : std::chrono::hours(24 * 30);
  if (f.next_update) {
    HERALD_TRY(validity, parse_duration(*f.next_update));
  }
  if (f.out) {
    std::error_code ec;
    if (std::filesystem::exists(*f.out, ec))
      return make_error(ErrorCode::kAlreadyExists, "refusing to overwrite " + *f.out);
  }
  const std::optional<std::string>& pass = level == ca::CaLevel::kIssuing ? f.issuing_pass_file
                                           : level == ca::CaLevel::kIntermediate
                                               ? f.intermediate_pass_file
                                               : f.root_pass_file;
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto signer, s->dir.load_signer(level, pass));
  HERALD_TRY(auto crl, publish_crl(ctx, *s, *signer, level, validity));
  if (f.out) {
    std::string data =
        f.der ? std::string(crl.der.begin(), crl.der.end()) : ossl::pem_encode(crl.der, "X509 CRL");
    HERALD_TRY_VOID(fs::write_file(*f.out, data, fs::kPublic));
  }
  if (f.json) {
    std::cout << nlohmann::json{{"ca", f.ca},
                                {"number", crl.number},
                                {"entries", crl.entries},
                                {"next_update", format_time(crl.next_update)},
                                {"path", s->dir.crl_path(level, false).string()}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "CRL #" << crl.number << " of the " << f.ca << " CA: " << crl.entries
              << " revoked, next update " << format_time(crl.next_update) << "\n"
              << "published: " << s->dir.crl_path(level, false).string() << " (DER), "
              << s->dir.crl_path(level, true).string() << " (PEM)" << (f.out ? ", " + *f.out : "")
              << "\n";
  }
  return {};
}

}  // namespace

void add_revoke_commands(CLI::App& app, Context& ctx) {
  auto fr = std::make_shared<RevokeFlags>();
  auto* revoke = app.add_subcommand(
      "revoke",
      "Revoke a certificate by serial (hex, case-insensitive, colons optional) with an\n"
      "RFC 5280 reason, then re-sign the issuing CA's CRL. A CA certificate lands on its\n"
      "issuer's CRL ('herald crl --ca intermediate|root', offline). certificateHold can be\n"
      "released with --reason removeFromCRL.");
  add_dir_option(*revoke, ctx);
  revoke->add_option("serial", fr->serial, "Serial number of the certificate")->required();
  revoke->add_option("--reason", fr->reason, std::string(x509::kReasonChoices))
      ->capture_default_str();
  revoke->add_option("--issuing-passphrase-file", fr->issuing_pass_file,
                     "Issuing key passphrase file (for the CRL)");
  revoke->add_flag("--no-crl", fr->no_crl, "Record the revocation without re-signing the CRL");
  revoke->add_flag("--json", fr->json, "Print the record as JSON");
  revoke->add_flag("--yes", fr->yes,
                   "Revoke a CA certificate: its blast radius (what chains to it) is printed\n"
                   "first, and without --yes nothing is revoked");
  revoke->callback([&ctx, fr] { ctx.result = run_revoke(ctx, *fr); });

  auto fc = std::make_shared<CrlFlags>();
  auto* crl = app.add_subcommand(
      "crl",
      "Sign a fresh v2 CRL from the inventory (CRL number persisted and monotonic, AKI,\n"
      "reason codes) and publish it to DIR/crl/ and the trust package. Default validity:\n"
      "24h for the issuing CA, 30d for the offline intermediate and root.");
  add_dir_option(*crl, ctx);
  crl->add_option("--ca", fc->ca, "issuing | intermediate | root")->capture_default_str();
  crl->add_option("--out", fc->out, "Also write the CRL here (PEM; DER with --der)");
  crl->add_flag("--der", fc->der, "Write --out as DER");
  crl->add_option("--next-update", fc->next_update, "Validity of this CRL, e.g. 24h, 7d");
  crl->add_option("--issuing-passphrase-file", fc->issuing_pass_file,
                  "Issuing key passphrase file");
  crl->add_option("--intermediate-passphrase-file", fc->intermediate_pass_file,
                  "Intermediate key passphrase file");
  crl->add_option("--root-passphrase-file", fc->root_pass_file, "Root key passphrase file");
  crl->add_flag("--json", fc->json, "Print JSON");
  crl->callback([&ctx, fc] { ctx.result = run_crl(ctx, *fc); });
}

}  // namespace herald::cli
