#include "cli/output.h"

#include <iostream>

#include "store/record_json.h"

namespace herald::cli {

std::string join_sans(const std::vector<x509::San>& sans) {
  std::string out;
  for (const auto& s : sans) out += (out.empty() ? "" : ",") + s.to_string();
  return out;
}

nlohmann::json record_json(const store::CertRecord& r, TimePoint now) {
  return store::to_json(r, now);
}

nlohmann::json ca_json(const x509::Certificate& c) {
  auto path_len = c.path_len();
  return {
      {"serial", c.serial().hex()},
      {"subject", c.subject()},
      {"issuer", c.issuer()},
      {"not_before", format_time(c.not_before())},
      {"not_after", format_time(c.not_after())},
      {"key_type", c.key_info().name()},
      {"signature_algorithm", c.signature_algorithm()},
      {"fingerprint_sha256", c.fingerprint_sha256()},
      {"path_len", path_len ? nlohmann::json(*path_len) : nlohmann::json()},
  };
}

std::string record_text(const store::CertRecord& r, TimePoint now) {
  std::string owner;
  for (const auto& [k, v] : r.owner) owner += (owner.empty() ? "" : ",") + k + "=" + v;
  std::string eku;
  for (const auto& e : r.ext_key_usage) eku += (eku.empty() ? "" : ",") + e;
  std::string out;
  auto line = [&](const char* k, const std::string& v) {
    if (!v.empty()) out += std::string(k) + std::string(20 - std::string(k).size(), ' ') + v + "\n";
  };
  line("serial:", r.serial.hex());
  line("status:",
       r.status_at(now) + (r.revocation_reason
                               ? " (" + std::string(x509::reason_name(*r.revocation_reason)) +
                                     " at " + format_time(*r.revoked_at) + ")"
                               : ""));
  line("profile:", r.profile);
  line("subject:", r.subject.empty() ? "(empty)" : r.subject);
  line("sans:", join_sans(r.sans));
  line("issuer:", r.issuer + " (serial " + r.issuer_serial.hex() + ")");
  line("not before:", format_time(r.not_before));
  line("not after:", format_time(r.not_after));
  line("key:", r.key_algorithm);
  line("signature:", r.signature_algorithm);
  line("eku:", eku);
  line("owner:", owner);
  line("sha256:", r.fingerprint_sha256);
  return out;
}

void warn(const std::string& message) { std::cerr << "herald: warning: " << message << "\n"; }

nlohmann::json finding_json(const verify::Finding& f) {
  return {{"code", f.code},
          {"severity", f.severity == verify::Severity::kError ? "error" : "warning"},
          {"depth", f.depth},
          {"subject", f.subject},
          {"serial", f.serial},
          {"expected", f.expected},
          {"found", f.found},
          {"hint", f.hint}};
}

std::string finding_text(const verify::Finding& f) {
  std::string out = (f.severity == verify::Severity::kError ? "error " : "warning ") + f.code;
  if (f.depth >= 0) out += " at depth " + std::to_string(f.depth);
  if (!f.subject.empty()) out += " (" + f.subject + ")";
  return out + ": expected " + f.expected + "; found " + f.found + "\n  -> " + f.hint + "\n";
}

}  // namespace herald::cli
