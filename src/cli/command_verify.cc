// `herald verify`: is this certificate chain good for this use, and if not,
// exactly why? The library (src/verify) decides; this file reads the files,
// the time and the purpose, and prints the chain and the findings.
#include <cstring>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <openssl/x509.h>

#include "base/fs.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "fetch/revocation.h"
#include "ossl/ossl.h"
#include "verify/verify.h"
#include "x509/certificate.h"
#include "x509/san.h"

namespace herald::cli {

namespace {

struct VerifyFlags {
  std::string cert;
  std::vector<std::string> chain;
  std::vector<std::string> trust;
  std::vector<std::string> crls;
  bool crl_fetch = false;
  bool ocsp = false;
  std::string revocation;  // hard | soft | off; "" = hard with any source, else off
  std::string purpose;
  std::string host;
  std::string ip;
  std::string uri;
  std::vector<std::string> ekus;
  std::string at;
  int max_depth = 8;
  bool json = false;
};

constexpr size_t kMaxFile = 16 << 20;

// Certificates (or CRLs) of a PEM or DER file, in order.
Result<std::vector<Bytes>> read_objects(const std::string& path, std::string_view pem_label) {
  HERALD_TRY(auto text, fs::read_file(path, kMaxFile));
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  if (ossl::looks_like_pem(bytes)) {
    auto blocks = ossl::pem_blocks(text, pem_label);
    if (!blocks) {
      return make_error(ErrorCode::kMalformedInput,
                        path + ": no readable " + std::string(pem_label) + " PEM block");
    }
    return std::move(*blocks);
  }
  if (text.empty()) return make_error(ErrorCode::kMalformedInput, path + ": empty file");
  return std::vector<Bytes>{Bytes(bytes.begin(), bytes.end())};
}

// RFC 3339 ("2021-01-01T00:00:00Z", "+02:00" offsets, fractions ignored) or
// seconds since 1970.
Result<TimePoint> parse_at(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() <= 12) {
    return TimePoint{std::chrono::seconds(std::stoll(s))};
  }
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) rest = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  auto bad = [&] {
    return make_error(ErrorCode::kInvalidArgument,
                      "--at '" + s + "': use RFC 3339 (2021-01-01T00:00:00Z) or seconds since 1970");
  };
  if (!rest) return bad();
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  int64_t offset = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
    int h = std::atoi(std::string(rest + 1, 2).c_str()), m = std::atoi(rest + 4);
    offset = (rest[0] == '+' ? 1 : -1) * (h * 3600 + m * 60);
    rest += 6;
  } else {
    return bad();
  }
  if (*rest != '\0') return bad();
  return TimePoint{std::chrono::seconds(static_cast<int64_t>(timegm(&tm)) - offset)};
}

Status run_verify(Context& ctx, const VerifyFlags& f) {
  HERALD_TRY(auto leaf_file, read_objects(f.cert, "CERTIFICATE"));
  std::vector<Bytes> intermediates(leaf_file.begin() + 1, leaf_file.end());  // a fullchain file
  for (const auto& path : f.chain) {
    HERALD_TRY(auto certs, read_objects(path, "CERTIFICATE"));
    intermediates.insert(intermediates.end(), certs.begin(), certs.end());
  }
  std::vector<std::string> trust = f.trust;
  if (trust.empty()) {
    std::string dir = ctx.dir.value_or("");
    if (dir.empty()) {
      if (const char* home = std::getenv("HERALD_HOME")) dir = home;
    }
    if (dir.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "no trust anchor: give --trust FILE (repeatable), or --dir DIR for its "
                        "ca/root.pem");
    }
    trust.push_back((std::filesystem::path(dir) / "ca" / "root.pem").string());
  }
  std::vector<Bytes> anchors;
  for (const auto& path : trust) {
    HERALD_TRY(auto certs, read_objects(path, "CERTIFICATE"));
    anchors.insert(anchors.end(), certs.begin(), certs.end());
  }
  verify::Options o;
  o.at = ctx.clock->now();
  if (!f.at.empty()) {
    HERALD_TRY(o.at, parse_at(f.at));
  }
  if (f.purpose == "server") {
    o.purpose = verify::Purpose::kServer;
  } else if (f.purpose == "client") {
    o.purpose = verify::Purpose::kClient;
  } else if (!f.purpose.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--purpose must be server or client");
  }
  if (!f.host.empty()) o.dns_name = f.host;
  if (!f.ip.empty()) {
    if (x509::ip_octets(f.ip).empty())
      return make_error(ErrorCode::kInvalidArgument, "--ip '" + f.ip + "' is not an IP address");
    o.ip = f.ip;
  }
  if (!f.uri.empty()) o.uri = f.uri;
  for (const auto& e : f.ekus) {
    ossl::Asn1ObjectPtr obj(OBJ_txt2obj(e.c_str(), 0));
    if (!obj) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--eku '" + e + "': give an OID (1.3.6.1.5.5.7.3.2) or a name (clientAuth)");
    }
    char dotted[128];
    OBJ_obj2txt(dotted, sizeof dotted, obj.get(), 1);
    o.ekus.push_back(dotted);
  }
  o.max_depth = f.max_depth;
  for (const auto& path : f.crls) {
    HERALD_TRY(auto crls, read_objects(path, "X509 CRL"));
    o.crls.insert(o.crls.end(), crls.begin(), crls.end());
  }
  const bool any_source = !f.crls.empty() || f.crl_fetch || f.ocsp;
  if (f.revocation.empty()) {
    o.revocation = any_source ? verify::RevocationPolicy::kHard : verify::RevocationPolicy::kOff;
  } else if (f.revocation == "hard") {
    o.revocation = verify::RevocationPolicy::kHard;
  } else if (f.revocation == "soft") {
    o.revocation = verify::RevocationPolicy::kSoft;
  } else if (f.revocation == "off") {
    o.revocation = verify::RevocationPolicy::kOff;
  } else {
    return make_error(ErrorCode::kInvalidArgument, "--revocation must be hard, soft or off");
  }
  // Fetching needs the path (which certificates, which issuer): a first
  // verification without revocation builds it, the second one judges it with
  // what was fetched. Nothing is fetched for a path that is invalid anyway.
  fetch::Fetched fetched;
  if ((f.crl_fetch || f.ocsp) && o.revocation != verify::RevocationPolicy::kOff) {
    verify::Options path_only = o;
    path_only.revocation = verify::RevocationPolicy::kOff;
    const auto first = verify::verify(leaf_file.front(), intermediates, anchors, path_only);
    if (first.valid) {
      fetched = fetch::fetch_revocation(first.chain, fetch::FetchWhat{f.crl_fetch, f.ocsp});
      o.crls.insert(o.crls.end(), fetched.crls.begin(), fetched.crls.end());
      o.ocsp_responses = fetched.ocsp_responses;
      o.ocsp_nonce = fetched.nonce;
    }
  }
  auto r = verify::verify(leaf_file.front(), intermediates, anchors, o);
  // A certificate left uncovered because its fetch failed says so in its own
  // finding (the first finding of an invalid result is its reason); the
  // other fetch failures follow the verdict's findings as warnings.
  std::vector<bool> folded(fetched.problems.size(), false);
  for (auto& fd : r.findings) {
    if (fd.code != "revocation_unavailable") continue;
    for (size_t i = 0; i < fetched.problems.size(); ++i) {
      const auto& p = fetched.problems[i];
      if (p.depth != fd.depth) continue;
      const std::string failed = p.expected + ": " + p.found;
      fd.found = fd.found == "no CRL or OCSP response from its issuer" ? "nothing fetched: " + failed
                                                                       : fd.found + "; fetching " + failed;
      fd.hint = p.hint;
      folded[i] = true;
      break;
    }
  }
  for (size_t i = 0; i < fetched.problems.size(); ++i) {
    if (!folded[i]) r.findings.push_back(std::move(fetched.problems[i]));
  }

  std::vector<x509::Certificate> chain;
  for (const auto& der : r.chain) {
    if (auto c = x509::Certificate::from_der(der)) chain.push_back(std::move(*c));
  }
  if (f.json) {
    nlohmann::json j{{"valid", r.valid}, {"at", format_time(o.at)}, {"chain", nlohmann::json::array()},
                     {"findings", nlohmann::json::array()}};
    for (size_t i = 0; i < chain.size(); ++i) {
      j["chain"].push_back({{"depth", i},
                            {"subject", chain[i].subject()},
                            {"serial", chain[i].serial().hex()},
                            {"not_after", format_time(chain[i].not_after())}});
    }
    for (const auto& fd : r.findings) j["findings"].push_back(finding_json(fd));
    if (f.crl_fetch || f.ocsp) j["fetched"] = fetched.log;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << (r.valid ? "valid" : "NOT VALID") << " at " << format_time(o.at);
    if (o.dns_name) std::cout << " for " << *o.dns_name;
    if (o.ip) std::cout << " for " << *o.ip;
    if (!f.purpose.empty()) std::cout << " (" << f.purpose << ")";
    std::cout << "\n";
    if (!chain.empty()) std::cout << "chain:\n";
    for (size_t i = 0; i < chain.size(); ++i) {
      // An empty subject (a SPIFFE workload): name it by its first SAN.
      std::string who = chain[i].subject();
      if (who.empty()) {
        auto sans = chain[i].sans();
        who = sans.empty() ? "(empty subject)" : "(empty subject; SAN " + sans.front().to_string() + ")";
      }
      std::cout << "  " << i << "  " << who << "  serial " << chain[i].serial().hex()
                << "  until " << format_time(chain[i].not_after())
                << (i + 1 == chain.size() ? "  (trust anchor)" : "") << "\n";
    }
    for (const auto& line : fetched.log) std::cout << "fetched " << line << "\n";
    for (const auto& fd : r.findings) std::cout << finding_text(fd);
  }
  if (r.valid) return {};
  const std::string code = r.findings.empty() ? "invalid" : r.findings.front().code;
  return make_error(ErrorCode::kNotValid, "the certificate is not valid (" + code + ")");
}

}  // namespace

void add_verify_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<VerifyFlags>();
  auto* cmd = app.add_subcommand(
      "verify",
      "Verify a certificate chain for a use, and explain every problem found. Builds a path from "
      "CERT through the intermediates (any order, extras allowed) to a trust anchor, checks it "
      "(RFC 5280: validity, CA constraints, path length, key usage, EKU, name constraints, "
      "signatures, key strength, revocation by CRL and OCSP) and matches --host/--ip/--uri against the SANs only. Exit 0 when "
      "valid, 81 when not (docs/cli.md).");
  add_dir_option(*cmd, ctx);
  cmd->add_option("CERT", f->cert,
                  "The certificate (PEM or DER); further certificates in a PEM file count as "
                  "intermediates (fullchain.pem)")
      ->required();
  cmd->add_option("--chain", f->chain, "Intermediates (PEM or DER), any order (repeatable)");
  cmd->add_option("--trust", f->trust,
                  "Trust anchors (PEM or DER; repeatable); default DIR/ca/root.pem with --dir or "
                  "$HERALD_HOME");
  cmd->add_option("--purpose", f->purpose, "server | client (default: the path only, any EKU)");
  auto* host = cmd->add_option("--host", f->host, "DNS name the certificate must carry (a SAN)");
  cmd->add_option("--ip", f->ip, "IP address the certificate must carry (a SAN)")->excludes(host);
  cmd->add_option("--uri", f->uri,
                  "URI the certificate must carry as a URI SAN, exactly (a SPIFFE ID: "
                  "spiffe://example.org/ns/web)");
  cmd->add_option("--eku", f->ekus,
                  "Extended key usage the certificate must list, by name (clientAuth) or OID "
                  "(repeatable; a certificate without the extension serves any purpose)");
  cmd->add_option("--at", f->at,
                  "Verification time: RFC 3339 (2021-01-01T00:00:00Z) or seconds since 1970 "
                  "(default: now)");
  cmd->add_option("--crl", f->crls, "CRLs (PEM or DER; repeatable): every certificate of the path "
                                    "is then checked against its issuer's CRL")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--crl-fetch", f->crl_fetch,
                "Fetch each certificate's CRL from its CRL distribution points (http:// only, 5 s "
                "timeouts, 10 MiB cap)");
  cmd->add_flag("--ocsp", f->ocsp,
                "Ask each certificate's OCSP responder (AIA, http:// only) with a nonce (5 s timeouts, "
                "1 MiB cap); a certificate without a responder has its CRL fetched instead");
  cmd->add_option("--revocation", f->revocation,
                  "hard | soft | off: soft lets a certificate whose revocation status is unknown "
                  "pass with a warning (a revoked one never passes). Default: hard when --crl, "
                  "--crl-fetch or --ocsp is given, off otherwise")
      ->check(CLI::IsMember({"hard", "soft", "off"}));
  cmd->add_option("--max-depth", f->max_depth, "Intermediates allowed between CERT and the anchor")
      ->check(CLI::Range(0, 32));
  cmd->add_flag("--json", f->json, "Print the verdict, chain and findings as JSON");
  cmd->callback([&ctx, f] { ctx.result = run_verify(ctx, *f); });
}

}  // namespace herald::cli
