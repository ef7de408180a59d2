#pragma once
// `herald ca init`: creates the hierarchy and the whole data directory
// atomically. Everything is written into a staging folder inside DIR and
// moved into place only when complete; on any error the staging folder is
// removed and DIR is as it was. An existing hierarchy is never touched.

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "ca/hierarchy.h"
#include "datadir/data_dir.h"
#include "policy/config.h"

namespace herald::datadir {

struct InitOptions {
  ca::HierarchyOptions hierarchy;
  std::optional<std::string> root_passphrase_file;
  std::optional<std::string> intermediate_passphrase_file;
  std::optional<std::string> issuing_passphrase_file;
  // The store: "" = DIR/herald.db (SQLite); else a postgresql:// URL, written
  // into herald.toml's [store] with the password file (if one is given; the
  // password may also come from $HERALD_STORE_PASSWORD[_FILE] at each run).
  std::string store_url;
  std::optional<std::string> store_password_file;
};

struct InitReport {
  std::vector<ca::CaLevel> generated_secrets;  // passphrases Herald generated into secrets/
  std::vector<std::string> warnings;
};

// herald.toml's [store] table for a PostgreSQL store (values quoted by
// toml++), with a comment; "" for an empty url.
[[nodiscard]] std::string store_section(const std::string& url,
                                        const std::optional<std::string>& password_file);

// The whole DIR/herald.toml `ca init` writes: [ca], [policy.*], [server], [[provisioners]].
[[nodiscard]] std::string default_config_file(const policy::CaSettings& ca);

[[nodiscard]] Result<InitReport> initialise(const DataDir& dir, const InitOptions& options,
                                            const Clock& clock);

// Writes DIR/trust/: root.pem, intermediate.pem, ca-bundle.pem, the CAs'
// current CRLs, endpoints.json (CRL/OCSP URLs), fingerprints.txt, README.txt.
[[nodiscard]] Status write_trust_package(const std::filesystem::path& trust_dir,
                                         const x509::Certificate& root,
                                         const x509::Certificate& intermediate,
                                         const std::string& base_url);

}  // namespace herald::datadir
