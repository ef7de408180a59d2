#pragma once
// The on-disk data directory (an adapter: the core never touches files).
//
//   DIR/herald.toml                      configuration and policy
//   DIR/herald.db                        the store (SQLite, WAL), unless herald.toml
//                                        names a PostgreSQL one ([store] url)
//   DIR/ca/{root,intermediate,issuing}.pem, ca/chain.pem (issuing + intermediate)
//   DIR/keys/{root,intermediate,issuing}.key.pem   encrypted PKCS#8, 0600, folder 0700
//   DIR/secrets/{root,intermediate,issuing}.pass   quick-start passphrases, 0600, folder 0700
//   DIR/crl/{root,intermediate,issuing}.crl (DER) and .pem
//   DIR/trust/                           trust package for relying parties
//   DIR/partners/                        partner roots this CA trusts (datadir/partners.h)
//   DIR/issued/<SERIAL>/                 default output of `herald issue`
//   DIR/serve/{tls,ocsp}.pem, .key.pem   `herald serve`'s own certificates, kept
//                                        across restarts (keys encrypted, 0600)
//
// DIR is --dir, else $HERALD_HOME, else ./herald-data.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "ca/hierarchy.h"
#include "keys/signer.h"
#include "policy/config.h"
#include "store/open.h"
#include "x509/certificate.h"

namespace herald::datadir {

class DataDir {
 public:
  explicit DataDir(std::filesystem::path root) : root_(std::move(root)) {}
  // --dir, else $HERALD_HOME, else ./herald-data.
  [[nodiscard]] static DataDir resolve(const std::optional<std::string>& flag);

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }
  [[nodiscard]] std::filesystem::path config_path() const { return root_ / "herald.toml"; }
  [[nodiscard]] std::filesystem::path db_path() const { return root_ / "herald.db"; }
  [[nodiscard]] std::filesystem::path ca_cert_path(ca::CaLevel l) const;
  [[nodiscard]] std::filesystem::path chain_path() const { return root_ / "ca" / "chain.pem"; }
  [[nodiscard]] std::filesystem::path key_path(ca::CaLevel l) const;
  [[nodiscard]] std::filesystem::path secret_path(ca::CaLevel l) const;
  [[nodiscard]] std::filesystem::path crl_path(ca::CaLevel l, bool pem) const;
  [[nodiscard]] std::filesystem::path trust_dir() const { return root_ / "trust"; }
  [[nodiscard]] std::filesystem::path issued_dir() const { return root_ / "issued"; }
  [[nodiscard]] std::filesystem::path partners_dir() const { return root_ / "partners"; }

  // True if any part of a hierarchy is present (init must refuse).
  [[nodiscard]] bool has_hierarchy() const;
  // kNotFound with a hint to run `herald ca init` if the directory is not initialised.
  [[nodiscard]] Status require_initialised() const;

  [[nodiscard]] Result<policy::Config> load_config() const;
  [[nodiscard]] Result<x509::Certificate> load_ca_cert(ca::CaLevel l) const;
  // Where the store is: herald.toml's [store] (url, password_file,
  // pool_size), else DIR/herald.db. The password comes from password_file,
  // else $HERALD_STORE_PASSWORD_FILE, else $HERALD_STORE_PASSWORD.
  [[nodiscard]] Result<store::StoreSpec> store_spec() const;
  [[nodiscard]] Result<std::unique_ptr<store::Store>> open_store(const Clock& clock) const;
  // Decrypts the CA's key. The passphrase comes from `passphrase_file` if
  // given, else $HERALD_<LEVEL>_PASSPHRASE_FILE, else $HERALD_<LEVEL>_PASSPHRASE,
  // else DIR/secrets/<level>.pass.
  // The passphrase of a CA key, looked up as load_signer does.
  [[nodiscard]] Result<std::string> ca_passphrase(
      ca::CaLevel l, const std::optional<std::string>& passphrase_file) const;
  // DIR/serve/: `herald serve`'s own TLS and OCSP-signing certificates and
  // their keys (encrypted with the issuing CA's passphrase), kept across
  // restarts.
  [[nodiscard]] std::filesystem::path serve_dir() const { return root_ / "serve"; }
  [[nodiscard]] Result<std::unique_ptr<keys::KeySigner>> load_signer(
      ca::CaLevel l, const std::optional<std::string>& passphrase_file) const;

  // Writes DIR/crl/<level>.crl and .pem, and the copy in the trust package.
  [[nodiscard]] Status write_crl(ca::CaLevel l, const Bytes& der) const;

 private:
  std::filesystem::path root_;
};

// The CA as the online server (`herald serve`) and the signing commands
// (`herald issue`, `sign`, `revoke`, `crl`) open it, in this one place: the
// hierarchy's certificates, the store, and (when asked for) the issuing key,
// checked against ca/issuing.pem. Never the intermediate's or the root's key.
struct OpenedCa {
  x509::Certificate issuing, intermediate, root;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<keys::KeySigner> signer;  // the issuing CA's; null unless asked for
};
enum class IssuingKey { kNo, kLoad };
[[nodiscard]] Result<OpenedCa> open_ca(const DataDir& dir, const Clock& clock, IssuingKey key,
                                       const std::optional<std::string>& passphrase_file);

// The store's password: `file` if given, else $HERALD_STORE_PASSWORD_FILE,
// else $HERALD_STORE_PASSWORD, else "". Trailing newlines are dropped.
[[nodiscard]] Result<std::string> store_password(const std::optional<std::string>& file);

// Passphrase lookup without the secrets/ fallback (for ca init).
[[nodiscard]] Result<std::optional<std::string>> passphrase_from(
    ca::CaLevel l, const std::optional<std::string>& file_flag);

}  // namespace herald::datadir
