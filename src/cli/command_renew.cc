// herald renew: renew a certificate over mutual TLS with `herald serve`.
#include <openssl/pem.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "datadir/data_dir.h"
#include "keys/private_key.h"
#include "net/client.h"
#include "server/config.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace herald::cli {

namespace {

struct RenewFlags {
  std::string cert, key;
  std::optional<std::string> server, ca, key_pass_file;
  bool json = false;
};

Result<keys::KeyType> same_type(const keys::KeyInfo& k) {
  auto t = keys::parse_key_type(k.name());
  if (!t)
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot generate a new key like the current one (" + k.name() + ")");
  return t;
}


Status run_renew(Context& ctx, const RenewFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY(auto cert_pem, fs::read_file(f.cert, 1 << 20));
  HERALD_TRY(auto certs, x509::Certificate::from_pem(cert_pem));
  HERALD_TRY(auto key_pem, fs::read_file(f.key, 1 << 20));
  std::string pass;
  if (f.key_pass_file) {
    HERALD_TRY(pass, fs::read_passphrase_file(*f.key_pass_file));
  }
  HERALD_TRY(auto old_key, keys::decrypt_private_key(key_pem, pass));
  HERALD_TRY(auto plain_old_key, keys::private_key_pem(*old_key));

  std::string server = f.server.value_or("");
  if (server.empty()) {
    if (const char* env = std::getenv("HERALD_URL"); env && *env) server = env;
  }
  if (server.empty()) {
    auto text = fs::read_file(dir.config_path(), 1 << 20);
    if (!text)
      return make_error(ErrorCode::kInvalidArgument,
                        "which server? pass --server https://HOST:PORT (or set HERALD_URL)");
    HERALD_TRY(auto cfg, server::parse_server_config(*text, dir.config_path().string()));
    server = "https://" + cfg.tls_names.front() + ":" + std::to_string(cfg.listen.port);
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  const std::string ca_path = f.ca.value_or((dir.root() / "ca" / "root.pem").string());
  HERALD_TRY(auto ca_pem, fs::read_file(ca_path, 1 << 20));

  HERALD_TRY(auto type, same_type(certs.front().key_info()));
  HERALD_TRY(auto new_key, keys::generate_key(type));
  HERALD_TRY(auto csr, x509::make_csr(*new_key, certs.front().common_name()));
  net::ClientTls tls{ca_pem, cert_pem, plain_old_key};
  HERALD_TRY(auto res, net::https_request("POST", server + "/v1/renew",
                                          {{"Content-Type", "application/pkcs10"}},
                                          std::string(csr.begin(), csr.end()), tls));
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (res.status != 201) {
    std::string detail =
        body.is_object() && body.contains("detail") ? body["detail"].get<std::string>() : res.body;
    ErrorCode code = res.status == 401   ? ErrorCode::kUnauthenticated
                     : res.status == 403 ? ErrorCode::kForbidden
                     : res.status == 429 ? ErrorCode::kRateLimited
                                         : ErrorCode::kConflict;
    return make_error(code, "renewal refused by " + server + " (HTTP " +
                                std::to_string(res.status) + "): " + detail);
  }
  // Replace both files atomically; the key stays encrypted if it was.
  std::string new_key_pem;
  if (f.key_pass_file) {
    HERALD_TRY(new_key_pem, keys::encrypt_private_key(*new_key, pass));
  } else {
    HERALD_TRY(new_key_pem, keys::private_key_pem(*new_key));
  }
  const std::string leaf = body["certificate"].get<std::string>();
  HERALD_TRY_VOID(fs::write_file(f.key, new_key_pem, fs::kPrivate, fs::Overwrite::kReplace));
  HERALD_TRY_VOID(fs::write_file(f.cert, leaf, fs::kPublic, fs::Overwrite::kReplace));
  auto chain_path = std::filesystem::path(f.cert).parent_path() / "chain.pem";
  std::error_code ec;
  if (std::filesystem::exists(chain_path, ec)) {
    HERALD_TRY_VOID(fs::write_file(chain_path, body["chain"].get<std::string>(), fs::kPublic,
                                   fs::Overwrite::kReplace));
  }
  if (f.json) {
    std::cout << body.dump(2) << "\n";
  } else {
    std::cout << "renewed " << body["renewed_from"].get<std::string>() << " -> "
              << body["serial"].get<std::string>() << ", valid until "
              << body["not_after"].get<std::string>() << "\n"
              << "written: " << f.cert << ", " << f.key << " (new key)"
              << "\n";
  }
  return {};
}

}  // namespace

void add_renew_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<RenewFlags>();
  auto* renew = app.add_subcommand(
      "renew",
      "Renew a certificate with `herald serve`: authenticates with the current certificate\n"
      "(mutual TLS), sends a CSR for a new key of the same type, and replaces --cert and --key\n"
      "(and chain.pem beside --cert, if present) atomically. Same identity, same lifetime.");
  add_dir_option(*renew, ctx);
  renew->add_option("--cert", f->cert, "Current certificate (PEM)")->required();
  renew->add_option("--key", f->key, "Its private key (PEM)")->required();
  renew->add_option("--key-passphrase-file", f->key_pass_file,
                    "If the key is encrypted (the new one will be too)");
  renew->add_option(
      "--server", f->server,
      "https://HOST:PORT of herald serve (default $HERALD_URL, else from DIR/herald.toml)");
  renew->add_option("--ca", f->ca, "Trust anchor for the server (default DIR/ca/root.pem)");
  renew->add_flag("--json", f->json, "Print the server's answer as JSON");
  renew->callback([&ctx, f] { ctx.result = run_renew(ctx, *f); });
}

}  // namespace herald::cli
