#pragma once
// How the CLI shows records: JSON objects and human tables.

#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.h"
#include "store/inventory.h"
#include "verify/verify.h"
#include "x509/certificate.h"

namespace herald::cli {

[[nodiscard]] nlohmann::json record_json(const store::CertRecord& r, TimePoint now);
[[nodiscard]] nlohmann::json ca_json(const x509::Certificate& c);
// Multi-line "key: value" description of one record.
[[nodiscard]] std::string record_text(const store::CertRecord& r, TimePoint now);
[[nodiscard]] std::string join_sans(const std::vector<x509::San>& sans);
// A verification finding (herald verify, herald probe): as JSON, and as the
// two lines "error CODE at depth D (SUBJECT): expected ...; found ..." and
// "  -> HINT".
[[nodiscard]] nlohmann::json finding_json(const verify::Finding& f);
[[nodiscard]] std::string finding_text(const verify::Finding& f);
// Prints to stderr, prefixed "herald: warning: ".
void warn(const std::string& message);

}  // namespace herald::cli
