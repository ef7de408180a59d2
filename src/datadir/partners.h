#pragma once
// Partner trust anchors: other organisations' roots this Herald trusts
// (`herald trust import|list|remove`), published with its own roots in the
// trust bundle (`GET /v1/trust/bundle`).
//
//   DIR/partners/partners.json   the manifest: name, file, SHA-256, subject,
//                                validity and import time of each partner
//   DIR/partners/NAME.pem        the partner's root certificate
//   DIR/partners/.lock           serialises writers (flock)
//
// The manifest is the source of truth: a NAME.pem it does not list (left by
// a crash between the two writes) is ignored and overwritten by the next
// import of NAME. Every file is written atomically (temporary file, fsync,
// rename); the certificate before the manifest on import, the manifest
// before the certificate's removal on remove, so a reader never sees a listed
// partner without its certificate. Reading checks each file's SHA-256
// against the manifest.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "x509/certificate.h"

namespace herald::datadir {

struct Partner {
  std::string name;
  x509::Certificate cert;
  TimePoint imported_at;
};

struct ImportReport {
  Partner partner;
  std::vector<std::string> warnings;  // from ca::check_partner_root
};

class PartnerStore {
 public:
  // `dir` is DIR/partners (DataDir::partners_dir()); it need not exist yet.
  explicit PartnerStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  [[nodiscard]] std::filesystem::path manifest_path() const { return dir_ / "partners.json"; }

  // The partners in the manifest, in name order. kMalformedInput if the
  // manifest or a certificate is unreadable, kConflict if a certificate's
  // SHA-256 differs from the manifest's.
  [[nodiscard]] Result<std::vector<Partner>> list() const;

  // Checks `pem` (exactly one certificate) with ca::check_partner_root
  // against `fingerprint` at `now`, refuses an invalid or already used
  // `name` (kInvalidArgument, kAlreadyExists) and a root already imported
  // under another name (kAlreadyExists), then records it.
  [[nodiscard]] Result<ImportReport> import(std::string_view pem, const std::string& name,
                                            std::string_view fingerprint, TimePoint now);

  // Forgets the partner (kNotFound if there is none of that name) and
  // returns the SHA-256 fingerprint the manifest recorded for it.
  [[nodiscard]] Result<std::string> remove(const std::string& name);

 private:
  std::filesystem::path dir_;
};

}  // namespace herald::datadir
