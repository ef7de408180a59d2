#pragma once
// The trust package handed to relying parties and partner organisations:
// `herald trust export` and `GET /v1/ca/trust-package` both produce it with
// trust_package_archive(), so the two never differ.
//
// A ustar archive of DIR/trust/ (root.pem, intermediate.pem, ca-bundle.pem,
// the CAs' CRLs, endpoints.json, fingerprints.txt, README.txt) under
// "herald-trust/", plus herald-trust/manifest.json made at export time:
//
//   {"format": "herald-trust-package", "version": 1, "generated_at": "...",
//    "roots": [{"file", "subject", "serial", "not_before", "not_after",
//               "fingerprint_sha256", "key_type"}],
//    "intermediates": [...same...],
//    "crl_urls": {"root": URL, "intermediate": URL, "issuing": URL} | null,
//    "ocsp_urls": [URL...],
//    "files": [{"name", "size", "sha256"}]}      every other file of the archive

#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "datadir/data_dir.h"

namespace herald::datadir {

[[nodiscard]] Result<nlohmann::json> trust_package_manifest(const DataDir& dir, TimePoint now);
[[nodiscard]] Result<std::string> trust_package_archive(const DataDir& dir, TimePoint now);

}  // namespace herald::datadir
