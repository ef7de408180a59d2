#pragma once
// What the signing commands (issue, sign, revoke, crl) open: the data
// directory, its config, the inventory, the issuing CA and its signer.

#include <memory>
#include <optional>
#include <string>

#include "ca/authority.h"
#include "cli/cli.h"
#include "datadir/data_dir.h"

namespace herald::cli {

struct Session {
  datadir::DataDir dir{""};
  policy::Config config;
  std::unique_ptr<store::Store> inventory;
  std::optional<x509::Certificate> issuing;
  std::optional<x509::Certificate> intermediate;
  std::optional<x509::Certificate> root;
  std::unique_ptr<keys::KeySigner> signer;  // the issuing CA's, when loaded
  std::unique_ptr<ca::Authority> authority;

  // leaf + issuing + intermediate
  [[nodiscard]] std::string chain_pem(const std::string& leaf_pem) const;
};

enum class LoadSigner { kNo, kIssuing };

// Opens everything; the issuing key only with LoadSigner::kIssuing.
[[nodiscard]] Result<std::unique_ptr<Session>> open_session(
    Context& ctx, LoadSigner load, const std::optional<std::string>& issuing_passphrase_file);

// Owner labels from repeated --owner flags.
[[nodiscard]] Result<store::Labels> parse_owner_flags(const std::vector<std::string>& flags,
                                                      bool for_issuance = false);

}  // namespace herald::cli
