#include "datadir/init.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <toml++/toml.h>

#include "base/fs.h"
#include "ca/authority.h"
#include "ca/revocation.h"
#include "ca/urls.h"
#include "keys/private_key.h"
#include "policy/config.h"

namespace herald::datadir {

namespace fsys = std::filesystem;
using ca::CaLevel;

namespace {

constexpr CaLevel kLevels[] = {CaLevel::kRoot, CaLevel::kIntermediate, CaLevel::kIssuing};

Status write_public(const fsys::path& p, std::string_view data) {
  return fs::write_file(p, data, fs::kPublic, fs::Overwrite::kRefuse);
}

Status populate(const DataDir& stage, const InitOptions& o, const Clock& clock,
                InitReport& report) {
  // The store first: a bad URL, an unreachable database or one that already
  // holds an inventory fails before any key is generated.
  store::StoreSpec spec;
  spec.sqlite_path = stage.db_path();
  spec.url = o.store_url;
  if (!spec.url.empty()) {
    HERALD_TRY_VOID(store::check_url(spec.url));
    HERALD_TRY(spec.password, store_password(o.store_password_file));
  }
  HERALD_TRY(auto inv, store::open(spec, store::OpenMode::kCreate, clock));
  HERALD_TRY(const int64_t existing, inv->count());
  if (existing > 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      "the store " + inv->describe() + " already holds " +
                          std::to_string(existing) +
                          " certificates (another hierarchy's?); ca init needs an empty one");
  }

  // Passphrases first: a bad file fails before any key is generated.
  std::string pass[3];
  bool generated[3] = {};
  const std::optional<std::string>* flags[3] = {
      &o.root_passphrase_file, &o.intermediate_passphrase_file, &o.issuing_passphrase_file};
  for (int i = 0; i < 3; ++i) {
    HERALD_TRY(auto p, passphrase_from(kLevels[i], *flags[i]));
    if (p) {
      if (p->size() < 12) {
        return make_error(ErrorCode::kInvalidArgument,
                          "the " + std::string(ca::ca_level_name(kLevels[i])) +
                              " passphrase is shorter than 12 characters");
      }
      pass[i] = std::move(*p);
    } else {
      HERALD_TRY(pass[i], keys::random_passphrase());
      generated[i] = true;
    }
  }
  if (pass[0] == pass[1] || pass[1] == pass[2] || pass[0] == pass[2]) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "the root, intermediate and issuing CA keys need three different passphrases");
  }

  HERALD_TRY(auto h, ca::create_hierarchy(clock, o.hierarchy));
  report.warnings = h.warnings;
  ca::CaMaterial* mats[3] = {&h.root, &h.intermediate, &h.issuing};

  HERALD_TRY_VOID(fs::make_dir(stage.root() / "ca", fs::kPublicDir));
  HERALD_TRY_VOID(fs::make_dir(stage.root() / "keys", fs::kPrivateDir));
  for (int i = 0; i < 3; ++i) {
    HERALD_TRY_VOID(write_public(stage.ca_cert_path(kLevels[i]), mats[i]->cert.pem()));
    HERALD_TRY(auto enc, keys::encrypt_private_key(*mats[i]->key, pass[i]));
    HERALD_TRY_VOID(fs::write_file(stage.key_path(kLevels[i]), enc, fs::kPrivate));
    if (generated[i]) {
      HERALD_TRY_VOID(fs::make_dir(stage.root() / "secrets", fs::kPrivateDir));
      HERALD_TRY_VOID(fs::write_file(stage.secret_path(kLevels[i]), pass[i] + "\n", fs::kPrivate));
      report.generated_secrets.push_back(kLevels[i]);
    }
  }
  HERALD_TRY_VOID(
      write_public(stage.chain_path(), h.issuing.cert.pem() + h.intermediate.cert.pem()));

  policy::CaSettings settings{o.hierarchy.organization, o.hierarchy.base_url};
  HERALD_TRY_VOID(fs::write_file(stage.config_path(),
                                 default_config_file(settings) + store_section(o.store_url, o.store_password_file), fs::kPublic));

  HERALD_TRY_VOID(write_trust_package(stage.trust_dir(), h.root.cert, h.intermediate.cert,
                                      o.hierarchy.base_url));

  // The inventory knows the hierarchy's own certificates and their issuers.
  const Serial root_serial = h.root.cert.serial();
  const Serial issuers[3] = {root_serial, root_serial, h.intermediate.cert.serial()};
  for (int i = 0; i < 3; ++i) {
    HERALD_TRY_VOID(inv->insert(ca::record_of(
        mats[i]->cert, issuers[i], std::string(ca::ca_profile_name(kLevels[i])), clock.now())));
  }
  // Initial (empty) CRLs: issuing for a day, the offline CAs for 30 days.
  for (int i = 0; i < 3; ++i) {
    EVP_PKEY_up_ref(mats[i]->key.get());
    HERALD_TRY(auto signer, keys::KeySigner::create(ossl::EvpPkeyPtr(mats[i]->key.get())));
    auto validity =
        kLevels[i] == CaLevel::kIssuing ? std::chrono::hours(24) : std::chrono::hours(24 * 30);
    HERALD_TRY(auto crl, ca::generate_crl(clock, *inv, *signer, mats[i]->cert,
                                          ca::ca_level_name(kLevels[i]), validity));
    HERALD_TRY_VOID(stage.write_crl(kLevels[i], crl.der));
  }
  return {};
}

}  // namespace

std::string store_section(const std::string& url, const std::optional<std::string>& password_file) {
  if (url.empty()) return "";
  toml::table store{{"url", url}};
  if (password_file) store.insert("password_file", *password_file);
  toml::table root{{"store", store}};
  std::ostringstream out;
  out << "\n# Where Herald keeps its state: PostgreSQL, shared by every `herald serve`\n"
         "# node. Reference: docs/configuration.md\n"
      << root << "\n";
  return out.str();
}

std::string default_config_file(const policy::CaSettings& ca) {
  return policy::default_config_text(ca) +
         "\n"
         "# `herald serve`. Reference: docs/configuration.md\n"
         "[server]\n"
         "listen = \"127.0.0.1:8443\"        # HTTPS: REST API\n"
         "http_listen = \"127.0.0.1:8080\"   # plain HTTP: OCSP, CRLs, CA certificates\n"
         "threads = 0                      # I/O threads; 0: one per core\n"
         "worker_threads = 0               # API handlers (they wait on fsync); 0: eight per core\n"
         "max_body_bytes = 65536\n"
         "read_timeout = \"10s\"\n"
         "idle_timeout = \"30s\"\n"
         "issuance_rate_per_second = 100   # per client address\n"
         "ocsp_validity = \"24h\"\n"
         "crl_validity = \"24h\"\n"
         "tls_names = [\"localhost\", \"127.0.0.1\"]\n"
         "\n"
         "# API callers authenticate as a provisioner with a bearer token:\n"
         "#   herald token add --provisioner admin\n"
         "[[provisioners]]\n"
         "name = \"admin\"\n"
         "type = \"token\"\n"
         "profiles = [\"server\", \"client\", \"spiffe\"]\n"
         "permissions = [\"sign\", \"revoke\", \"read\", \"admin\"]   # admin: the dashboard at /ui/\n"
         "\n"
         "# ACME (RFC 8555): https://127.0.0.1:8443/acme/acme/directory issues\n"
         "# server certificates for any DNS name or IP whose control a client proves.\n"
         "# Narrow it with allowed_dns = [\"*.internal\"] and allow_ip = false.\n"
         "[[provisioners]]\n"
         "name = \"acme\"\n"
         "type = \"acme\"\n"
         "profiles = [\"server\"]\n"
         "\n"
         "# How ACME challenges are checked (the ports and resolver the validator dials).\n"
         "[acme]\n"
         "http01_port = 80\n"
         "tlsalpn01_port = 443\n"
         "dns_resolver = \"\"                # \"HOST:PORT\"; \"\" = the system resolver\n";
}

Status write_trust_package(const fsys::path& dir, const x509::Certificate& root,
                           const x509::Certificate& intermediate, const std::string& base_url) {
  HERALD_TRY_VOID(fs::make_dir(dir, fs::kPublicDir));
  HERALD_TRY_VOID(write_public(dir / "root.pem", root.pem()));
  HERALD_TRY_VOID(write_public(dir / "intermediate.pem", intermediate.pem()));
  HERALD_TRY_VOID(write_public(dir / "ca-bundle.pem", intermediate.pem() + root.pem()));
  nlohmann::json endpoints = {
      {"base_url", base_url.empty() ? nlohmann::json() : nlohmann::json(base_url)}};
  if (!base_url.empty()) {
    endpoints["ocsp"] = ca::ocsp_url(base_url);
    for (auto l : kLevels) {
      endpoints["crl"][std::string(ca::ca_level_name(l))] =
          ca::crl_url(base_url, ca::ca_level_name(l));
    }
  } else {
    endpoints["ocsp"] = nullptr;
    endpoints["crl"] = nullptr;
    endpoints["note"] = "no base URL configured; CRLs are the .crl files in this folder";
  }
  endpoints["fingerprints_sha256"] = {{"root", root.fingerprint_sha256()},
                                      {"intermediate", intermediate.fingerprint_sha256()}};
  HERALD_TRY_VOID(write_public(dir / "endpoints.json", endpoints.dump(2) + "\n"));
  HERALD_TRY_VOID(
      write_public(dir / "fingerprints.txt", "root         SHA256 " + root.fingerprint_sha256() +
                                                 "\n" + "intermediate SHA256 " +
                                                 intermediate.fingerprint_sha256() + "\n"));
  HERALD_TRY_VOID(write_public(
      dir / "README.txt",
      "Herald trust package\n"
      "\n"
      "root.pem          the trust anchor: install it in your trust store after checking\n"
      "                  its SHA-256 fingerprint (fingerprints.txt) over another channel\n"
      "intermediate.pem  the policy intermediate CA (servers send the issuing CA and this)\n"
      "ca-bundle.pem     intermediate + root, for software that wants one file\n"
      "*.crl             current CRLs (DER): root.crl and intermediate.crl revoke CA\n"
      "                  certificates, issuing.crl revokes leaf certificates\n"
      "endpoints.json    where to fetch fresh CRLs and OCSP answers\n"
      "manifest.json     all of the above for programs: roots and intermediates with\n"
      "                  their SHA-256 fingerprints and validity, CRL and OCSP URLs, and\n"
      "                  the SHA-256 of every file (added by `herald trust export`)\n"));
  return {};
}

Result<InitReport> initialise(const DataDir& dir, const InitOptions& o, const Clock& clock) {
  if (dir.has_hierarchy()) {
    return make_error(ErrorCode::kAlreadyExists,
                      "a Herald hierarchy already exists in " + dir.root().string() +
                          "; refusing to overwrite it (nothing was changed)");
  }
  std::error_code ec;
  const bool created_root = !fsys::exists(dir.root(), ec);
  HERALD_TRY_VOID(fs::make_dir(dir.root(), fs::kPublicDir));
  const DataDir stage(dir.root() / (".herald-init-" + std::to_string(::getpid())));
  fsys::remove_all(stage.root(), ec);
  auto cleanup = [&] {
    fsys::remove_all(stage.root(), ec);
    if (created_root) fsys::remove(dir.root(), ec);
  };
  if (auto s = fs::make_dir(stage.root(), fs::kPrivateDir); !s) {
    cleanup();
    return tl::unexpected(s.error());
  }
  InitReport report;
  if (auto s = populate(stage, o, clock, report); !s) {
    cleanup();
    return tl::unexpected(s.error());
  }
  // Move into place; herald.db last, as it is what marks the hierarchy complete.
  for (const char* name : {"ca", "keys", "secrets", "crl", "trust", "herald.toml", "herald.db"}) {
    if (!fsys::exists(stage.root() / name, ec)) continue;
    fsys::rename(stage.root() / name, dir.root() / name, ec);
    if (ec) {
      auto err = make_error(ErrorCode::kIo, "cannot move " + std::string(name) + " into " +
                                                dir.root().string() + ": " + ec.message());
      for (const char* undo : {"ca", "keys", "secrets", "crl", "trust", "herald.toml"}) {
        std::error_code ec2;
        if (fsys::exists(stage.root() / undo, ec2)) continue;  // not moved yet
        fsys::rename(dir.root() / undo, stage.root() / undo, ec2);
      }
      cleanup();
      return err;
    }
  }
  fsys::remove_all(stage.root(), ec);
  return report;
}

}  // namespace herald::datadir
