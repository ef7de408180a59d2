// herald issue | sign

#include <iostream>

#include "base/duration.h"
#include "base/fs.h"
#include "cli/output.h"
#include "cli/session.h"
#include "keys/private_key.h"
#include "x509/csr.h"
#include "x509/pkcs12.h"

namespace herald::cli {

namespace {

struct IssueFlags {
  std::string profile;
  std::string cn;
  std::vector<std::string> sans;
  std::optional<std::string> ttl;
  std::string key_type = "ec-p256";
  std::optional<std::string> out_dir;
  bool p12 = false;
  std::optional<std::string> p12_pass_file;
  std::optional<std::string> key_pass_file;
  std::vector<std::string> owner;
  std::optional<std::string> issuing_pass_file;
  bool json = false;
};

struct SignFlags {
  std::string csr;
  std::string profile;
  std::optional<std::string> ttl;
  std::optional<std::string> out;
  std::optional<std::string> chain_out;
  std::vector<std::string> owner;
  std::optional<std::string> issuing_pass_file;
  bool json = false;
};

Result<std::optional<std::chrono::seconds>> parse_ttl(const std::optional<std::string>& ttl) {
  if (!ttl) return std::optional<std::chrono::seconds>();
  HERALD_TRY(auto d, parse_duration(*ttl));
  return std::optional<std::chrono::seconds>(d);
}

Status run_issue(Context& ctx, const IssueFlags& f) {
  // Everything the user typed is checked before any key or file is touched.
  HERALD_TRY(auto profile, policy::parse_profile(f.profile));
  HERALD_TRY(auto key_type, keys::parse_key_type(f.key_type));
  HERALD_TRY(auto ttl, parse_ttl(f.ttl));
  HERALD_TRY(auto owner, parse_owner_flags(f.owner, true));
  std::vector<x509::San> sans;
  for (const auto& s : f.sans) {
    HERALD_TRY(auto list, x509::parse_san_list(s));
    sans.insert(sans.end(), list.begin(), list.end());
  }
  if (f.p12_pass_file && !f.p12) {
    return make_error(ErrorCode::kInvalidArgument, "--p12-passphrase-file needs --p12");
  }
  std::optional<std::string> key_pass, p12_pass;
  if (f.key_pass_file) {
    HERALD_TRY(key_pass, fs::read_passphrase_file(*f.key_pass_file));
  }
  if (f.p12_pass_file) {
    HERALD_TRY(p12_pass, fs::read_passphrase_file(*f.p12_pass_file));
  }
  const char* kFiles[] = {"cert.pem",      "key.pem",    "chain.pem",
                          "fullchain.pem", "bundle.p12", "bundle.p12.pass"};
  if (f.out_dir) {
    for (const char* name : kFiles) {
      std::error_code ec;
      if (std::filesystem::exists(std::filesystem::path(*f.out_dir) / name, ec)) {
        return make_error(
            ErrorCode::kAlreadyExists,
            "refusing to overwrite " + (std::filesystem::path(*f.out_dir) / name).string());
      }
    }
  }

  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kIssuing, f.issuing_pass_file));
  HERALD_TRY(auto key, keys::generate_key(key_type));
  HERALD_TRY(auto pub, keys::public_key_of(*key));
  policy::IssueRequest req;
  req.profile = profile;
  req.common_name = f.cn;
  req.sans = sans;
  req.ttl = ttl;
  req.key = pub.info;
  HERALD_TRY(auto issued, s->authority->issue(req, pub, owner));
  for (const auto& w : issued.warnings) warn(w);

  // Recorded: from here on the certificate exists; write it out.
  const std::filesystem::path out = f.out_dir ? std::filesystem::path(*f.out_dir)
                                              : s->dir.issued_dir() / issued.record.serial.hex();
  HERALD_TRY_VOID(fs::make_dir(out, fs::kPrivateDir));
  const std::string leaf_pem = issued.pem();
  const std::string chain = s->chain_pem(leaf_pem);
  HERALD_TRY_VOID(fs::write_file(out / "cert.pem", leaf_pem, fs::kPublic));
  std::string key_pem;
  if (key_pass) {
    HERALD_TRY(key_pem, keys::encrypt_private_key(*key, *key_pass));
  } else {
    HERALD_TRY(key_pem, keys::private_key_pem(*key));
  }
  HERALD_TRY_VOID(fs::write_file(out / "key.pem", key_pem, fs::kPrivate));
  HERALD_TRY_VOID(fs::write_file(out / "chain.pem", chain, fs::kPublic));
  HERALD_TRY_VOID(fs::write_file(out / "fullchain.pem", chain + s->root->pem(), fs::kPublic));
  bool generated_p12_pass = false;
  if (f.p12) {
    if (!p12_pass) {
      HERALD_TRY(p12_pass, keys::random_passphrase());
      generated_p12_pass = true;
      HERALD_TRY_VOID(fs::write_file(out / "bundle.p12.pass", *p12_pass + "\n", fs::kPrivate));
    }
    HERALD_TRY(auto leaf, x509::Certificate::from_der(issued.record.der));
    HERALD_TRY(auto p12, x509::make_pkcs12(*key, leaf, {&*s->issuing, &*s->intermediate}, *p12_pass, f.cn));
    HERALD_TRY_VOID(fs::write_file(out / "bundle.p12", p12, fs::kPrivate));
  }

  if (f.json) {
    auto j = record_json(issued.record, ctx.clock->now());
    j["out_dir"] = out.string();
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << record_text(issued.record, ctx.clock->now())
              << "written to:         " << out.string()
              << " (cert.pem, key.pem, chain.pem, fullchain.pem" << (f.p12 ? ", bundle.p12" : "")
              << ")\n";
    if (generated_p12_pass)
      std::cout << "p12 passphrase in:  " << (out / "bundle.p12.pass").string() << "\n";
  }
  return {};
}

Status run_sign(Context& ctx, const SignFlags& f) {
  HERALD_TRY(auto profile, policy::parse_profile(f.profile));
  HERALD_TRY(auto ttl, parse_ttl(f.ttl));
  HERALD_TRY(auto owner, parse_owner_flags(f.owner, true));
  for (const auto* p : {&f.out, &f.chain_out}) {
    std::error_code ec;
    if (*p && std::filesystem::exists(**p, ec)) {
      return make_error(ErrorCode::kAlreadyExists, "refusing to overwrite " + **p);
    }
  }
  HERALD_TRY(auto text, fs::read_file(f.csr, 64 * 1024));
  auto csr = x509::parse_csr(Bytes(text.begin(), text.end()));
  if (!csr) return tl::unexpected(std::move(csr.error()).with("file", f.csr));

  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kIssuing, f.issuing_pass_file));
  HERALD_TRY(auto issued, s->authority->sign_csr(*csr, profile, ttl, owner));
  for (const auto& w : issued.warnings) warn(w);
  const std::string leaf_pem = issued.pem();
  if (f.out) HERALD_TRY_VOID(fs::write_file(*f.out, leaf_pem, fs::kPublic));
  if (f.chain_out)
    HERALD_TRY_VOID(fs::write_file(*f.chain_out, s->chain_pem(leaf_pem), fs::kPublic));
  if (f.json) {
    auto j = record_json(issued.record, ctx.clock->now());
    j["pem"] = leaf_pem;
    std::cout << j.dump(2) << "\n";
  } else if (!f.out) {
    std::cout << leaf_pem;
  } else {
    std::cout << record_text(issued.record, ctx.clock->now());
  }
  return {};
}

}  // namespace

void add_issue_commands(CLI::App& app, Context& ctx) {
  auto fi = std::make_shared<IssueFlags>();
  auto* issue = app.add_subcommand(
      "issue",
      "Generate a key and issue a certificate for it under a profile and the policy in\n"
      "DIR/herald.toml. Writes cert.pem, key.pem (0600), chain.pem (leaf + issuing +\n"
      "intermediate), fullchain.pem (+ root) and optionally bundle.p12 into --out-dir\n"
      "(default DIR/issued/SERIAL). The certificate is recorded in the inventory first.");
  add_dir_option(*issue, ctx);
  issue->add_option("--profile", fi->profile, "server | client | spiffe")->required();
  issue->add_option("--cn", fi->cn,
                    "Subject common name: server: a DNS name or IP, copied into a SAN; client: "
                    "at most 64 printable ASCII characters without , + = \" \\ < > ; "
                    "spiffe: omit it, or the SPIFFE ID itself");
  issue->add_option("--san", fi->sans,
                    "SANs: dns:NAME, ip:ADDR, uri:URI, email:ADDR (comma-separated, repeatable)");
  issue->add_option("--ttl", fi->ttl,
                    "Lifetime, e.g. 90d, 720h (default: the profile's; capped by policy)");
  issue->add_option("--key-type", fi->key_type, std::string(keys::kKeyTypeChoices))
      ->capture_default_str();
  issue->add_option(
      "--out-dir", fi->out_dir,
      "Output folder (default DIR/issued/SERIAL); existing files are never overwritten");
  issue->add_flag("--p12", fi->p12, "Also write bundle.p12 (PKCS#12: key, certificate, chain)");
  issue->add_option("--p12-passphrase-file", fi->p12_pass_file,
                    "Passphrase for bundle.p12 (default: generated into bundle.p12.pass)");
  issue->add_option("--key-passphrase-file", fi->key_pass_file,
                    "Encrypt key.pem with this passphrase (default: unencrypted, mode 0600)");
  issue->add_option("--owner", fi->owner,
                    "Owner labels, e.g. team=payments,service=api,env=prod (repeatable)");
  issue->add_option("--issuing-passphrase-file", fi->issuing_pass_file,
                    "Issuing key passphrase (default: $HERALD_ISSUING_PASSPHRASE_FILE, else "
                    "DIR/secrets/issuing.pass)");
  issue->add_flag("--json", fi->json, "Print the issued certificate's record as JSON");
  issue->callback([&ctx, fi] { ctx.result = run_issue(ctx, *fi); });

  auto fs_ = std::make_shared<SignFlags>();
  auto* sign = app.add_subcommand(
      "sign",
      "Issue a certificate for a CSR (PEM or DER). The CSR's signature must verify (proof of\n"
      "possession). Only its key, CN and requested SANs are used: the profile decides every\n"
      "extension. Prints the certificate PEM unless --out is given.");
  add_dir_option(*sign, ctx);
  sign->add_option("--csr", fs_->csr, "The certificate signing request file")->required();
  sign->add_option("--profile", fs_->profile, "server | client | spiffe")->required();
  sign->add_option("--ttl", fs_->ttl,
                   "Lifetime, e.g. 30d (default: the profile's; capped by policy)");
  sign->add_option("--out", fs_->out, "Write the certificate (PEM) here");
  sign->add_option("--chain-out", fs_->chain_out, "Write leaf + issuing + intermediate (PEM) here");
  sign->add_option("--owner", fs_->owner, "Owner labels, e.g. team=payments,env=prod (repeatable)");
  sign->add_option("--issuing-passphrase-file", fs_->issuing_pass_file,
                   "Issuing key passphrase file");
  sign->add_flag("--json", fs_->json, "Print the record (and PEM) as JSON");
  sign->callback([&ctx, fs_] { ctx.result = run_sign(ctx, *fs_); });
}

}  // namespace herald::cli
