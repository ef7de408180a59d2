#include "datadir/data_dir.h"

#include <cstdlib>
#include <toml++/toml.h>

#include "base/fs.h"
#include "keys/private_key.h"

namespace herald::datadir {

namespace fsys = std::filesystem;

DataDir DataDir::resolve(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return DataDir(*flag);
  if (const char* env = std::getenv("HERALD_HOME"); env && *env) return DataDir(env);
  return DataDir("herald-data");
}

fsys::path DataDir::ca_cert_path(ca::CaLevel l) const {
  return root_ / "ca" / (std::string(ca::ca_level_name(l)) + ".pem");
}
fsys::path DataDir::key_path(ca::CaLevel l) const {
  return root_ / "keys" / (std::string(ca::ca_level_name(l)) + ".key.pem");
}
fsys::path DataDir::secret_path(ca::CaLevel l) const {
  return root_ / "secrets" / (std::string(ca::ca_level_name(l)) + ".pass");
}
fsys::path DataDir::crl_path(ca::CaLevel l, bool pem) const {
  return root_ / "crl" / (std::string(ca::ca_level_name(l)) + (pem ? ".pem" : ".crl"));
}

bool DataDir::has_hierarchy() const {
  std::error_code ec;
  return fsys::exists(db_path(), ec) || fsys::exists(root_ / "ca", ec) ||
         fsys::exists(root_ / "keys", ec) || fsys::exists(config_path(), ec);
}

Status DataDir::require_initialised() const {
  std::error_code ec;
  // The database may be elsewhere (PostgreSQL): the config and the issuing
  // CA's certificate are what every initialised directory has.
  if (!fsys::exists(config_path(), ec) || !fsys::exists(ca_cert_path(ca::CaLevel::kIssuing), ec)) {
    return make_error(ErrorCode::kNotFound, "no Herald hierarchy in " + root_.string() +
                                                " (run 'herald ca init --dir " + root_.string() +
                                                "', or set --dir / HERALD_HOME)");
  }
  return {};
}

Result<policy::Config> DataDir::load_config() const {
  HERALD_TRY(auto text, fs::read_file(config_path(), 1 << 20));
  return policy::parse_config(text, config_path().string());
}

Result<x509::Certificate> DataDir::load_ca_cert(ca::CaLevel l) const {
  HERALD_TRY(auto text, fs::read_file(ca_cert_path(l)));
  auto certs = x509::Certificate::from_pem(text);
  if (!certs) {
    return make_error(ErrorCode::kMalformedInput,
                      ca_cert_path(l).string() + ": " + certs.error().message);
  }
  return certs->front();
}

Result<std::string> store_password(const std::optional<std::string>& file) {
  std::optional<std::string> path = file;
  if (!path) {
    if (const char* env = std::getenv("HERALD_STORE_PASSWORD_FILE"); env && *env) path = env;
  }
  std::string password;
  if (path) {
    auto text = fs::read_file(*path, 4096);
    if (!text) {
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot read the store password file " + *path + ": " +
                            text.error().message);
    }
    password = std::move(*text);
  } else if (const char* env = std::getenv("HERALD_STORE_PASSWORD"); env) {
    password = env;
  }
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  return password;
}

Result<store::StoreSpec> DataDir::store_spec() const {
  store::StoreSpec spec;
  spec.sqlite_path = db_path();
  HERALD_TRY(auto text, fs::read_file(config_path(), 1 << 20));
  toml::table root;
  try {
    root = toml::parse(text, config_path().string());
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kMalformedInput,
                      config_path().string() + ": " + std::string(e.description()));
  }
  const toml::node* node = root.get("store");
  if (node == nullptr) return spec;
  const toml::table* t = node->as_table();
  const std::string where = config_path().string() + ": [store]";
  if (t == nullptr) return make_error(ErrorCode::kMalformedInput, where + " must be a table");
  std::optional<std::string> password_file;
  for (const auto& [key, value] : *t) {
    if (key == "url" || key == "password_file") {
      const auto* v = value.as_string();
      if (v == nullptr || v->get().empty()) {
        return make_error(ErrorCode::kMalformedInput,
                          where + " " + std::string(key.str()) + " must be a non-empty string");
      }
      if (key == "url") {
        spec.url = v->get();
      } else {
        password_file = v->get();
      }
    } else if (key == "pool_size") {
      const auto* v = value.as_integer();
      if (v == nullptr || v->get() < 1 || v->get() > 64) {
        return make_error(ErrorCode::kMalformedInput,
                          where + " pool_size must be a number from 1 to 64");
      }
      spec.pool_size = static_cast<std::size_t>(v->get());
    } else {
      return make_error(ErrorCode::kMalformedInput,
                        where + ": unknown key '" + std::string(key.str()) +
                            "' (known: url, password_file, pool_size)");
    }
  }
  if (!spec.url.empty()) {
    HERALD_TRY(spec.password, store_password(password_file));
  }
  return spec;
}

Result<std::unique_ptr<store::Store>> DataDir::open_store(const Clock& clock) const {
  HERALD_TRY_VOID(require_initialised());
  HERALD_TRY(auto spec, store_spec());
  return store::open(spec, store::OpenMode::kExisting, clock);
}

namespace {
std::string env_prefix(ca::CaLevel l) {
  switch (l) {
    case ca::CaLevel::kRoot:
      return "HERALD_ROOT_PASSPHRASE";
    case ca::CaLevel::kIntermediate:
      return "HERALD_INTERMEDIATE_PASSPHRASE";
    case ca::CaLevel::kIssuing:
      return "HERALD_ISSUING_PASSPHRASE";
  }
  return "";
}
}  // namespace

Result<std::optional<std::string>> passphrase_from(ca::CaLevel l,
                                                   const std::optional<std::string>& file_flag) {
  if (file_flag && !file_flag->empty()) {
    HERALD_TRY(auto p, fs::read_passphrase_file(*file_flag));
    return std::optional<std::string>(std::move(p));
  }
  const std::string prefix = env_prefix(l);
  if (const char* f = std::getenv((prefix + "_FILE").c_str()); f && *f) {
    HERALD_TRY(auto p, fs::read_passphrase_file(f));
    return std::optional<std::string>(std::move(p));
  }
  if (const char* v = std::getenv(prefix.c_str()); v && *v) return std::optional<std::string>(v);
  return std::optional<std::string>();
}

Result<std::string> DataDir::ca_passphrase(ca::CaLevel l,
                                           const std::optional<std::string>& passphrase_file) const {
  HERALD_TRY(auto pass, passphrase_from(l, passphrase_file));
  if (pass) return std::move(*pass);
  std::error_code ec;
  if (!fsys::exists(secret_path(l), ec)) {
    const std::string name(ca::ca_level_name(l));
    return make_error(ErrorCode::kNotFound, "no passphrase for the " + name + " CA key: pass --" +
                                                name + "-passphrase-file, or set " +
                                                env_prefix(l) + "_FILE");
  }
  return fs::read_passphrase_file(secret_path(l));
}

Result<std::unique_ptr<keys::KeySigner>> DataDir::load_signer(
    ca::CaLevel l, const std::optional<std::string>& passphrase_file) const {
  HERALD_TRY(auto pass, ca_passphrase(l, passphrase_file));
  auto pem = fs::read_file(key_path(l), 1 << 20);
  if (!pem) {
    if (pem.error().code == ErrorCode::kNotFound) {
      return make_error(ErrorCode::kNotFound, "the " + std::string(ca::ca_level_name(l)) +
                                                  " CA key is not in " + key_path(l).string() +
                                                  " (kept offline?)");
    }
    return tl::unexpected(pem.error());
  }
  auto key = keys::decrypt_private_key(*pem, pass);
  if (!key) {
    return tl::unexpected(std::move(key.error()).with("key", key_path(l).string()));
  }
  return keys::KeySigner::create(std::move(*key));
}

Status DataDir::write_crl(ca::CaLevel l, const Bytes& der) const {
  using fs::Overwrite;
  const std::string pem = ossl::pem_encode(der, "X509 CRL");
  const std::string der_text(der.begin(), der.end());
  HERALD_TRY_VOID(fs::make_dir(root_ / "crl", fs::kPublicDir));
  HERALD_TRY_VOID(fs::write_file(crl_path(l, false), der_text, fs::kPublic, Overwrite::kReplace));
  HERALD_TRY_VOID(fs::write_file(crl_path(l, true), pem, fs::kPublic, Overwrite::kReplace));
  std::error_code ec;
  if (fsys::exists(trust_dir(), ec)) {
    HERALD_TRY_VOID(fs::write_file(trust_dir() / (std::string(ca::ca_level_name(l)) + ".crl"),
                                   der_text, fs::kPublic, Overwrite::kReplace));
  }
  return {};
}

Result<OpenedCa> open_ca(const DataDir& dir, const Clock& clock, IssuingKey key,
                         const std::optional<std::string>& passphrase_file) {
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto issuing, dir.load_ca_cert(ca::CaLevel::kIssuing));
  HERALD_TRY(auto intermediate, dir.load_ca_cert(ca::CaLevel::kIntermediate));
  HERALD_TRY(auto root, dir.load_ca_cert(ca::CaLevel::kRoot));
  std::unique_ptr<keys::KeySigner> signer;
  if (key == IssuingKey::kLoad) {
    HERALD_TRY(signer, dir.load_signer(ca::CaLevel::kIssuing, passphrase_file));
    if (EVP_PKEY_eq(X509_get0_pubkey(&issuing.x509()), signer->public_key().pkey.get()) != 1) {
      ossl::clear_errors();
      return make_error(ErrorCode::kConflict, "the issuing key does not match ca/issuing.pem");
    }
  }
  HERALD_TRY(auto store, dir.open_store(clock));
  return OpenedCa{std::move(issuing), std::move(intermediate), std::move(root), std::move(store),
                  std::move(signer)};
}

}  // namespace herald::datadir
