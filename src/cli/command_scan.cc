// `herald scan`: which certificates are actually deployed, where, and what is
// wrong with them. Connects to the targets given (and no others), checks each
// presented chain with the verifier against the CA's root and the partner
// roots of DIR (what `herald verify` trusts), and records every sighting in
// the inventory's deployments (store/deployments.h). The engine is src/scan;
// this file reads the flags, prints progress and the summary.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "cli/session.h"
#include "datadir/partners.h"
#include "scan/scanner.h"
#include "scan/targets.h"

namespace herald::cli {

namespace {

struct ScanFlags {
  std::vector<std::string> targets;
  std::string file;
  std::vector<std::string> sni;
  size_t concurrency = 32;
  std::string timeout = "5s";
  bool json = false;
};

constexpr size_t kMaxTargetFile = 4 << 20;
constexpr size_t kMaxConcurrency = 1024;

// "5s", "1500ms", "1m", or plain seconds.
Result<std::chrono::milliseconds> parse_timeout(const std::string& text) {
  auto bad = [&] {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--timeout '" + text + "': give a duration between 100ms and 5m (5s, 1500ms)");
  };
  std::chrono::milliseconds ms{0};
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    const std::string num = text.substr(0, text.size() - 2);
    if (num.empty() || num.size() > 7 || num.find_first_not_of("0123456789") != std::string::npos) {
      return bad();
    }
    ms = std::chrono::milliseconds(std::stoll(num));
  } else if (!text.empty() && text.size() <= 7 &&
             text.find_first_not_of("0123456789") == std::string::npos) {
    ms = std::chrono::seconds(std::stoll(text));
  } else {
    auto d = parse_duration(text);
    if (!d) return bad();
    ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  if (ms < std::chrono::milliseconds(100) || ms > std::chrono::minutes(5)) return bad();
  return ms;
}

Result<std::vector<std::string>> check_sni(const std::vector<std::string>& names) {
  if (names.size() > scan::kMaxSniNames) {
    return make_error(ErrorCode::kInvalidArgument,
                      "at most " + std::to_string(scan::kMaxSniNames) + " --sni names");
  }
  std::vector<std::string> out;
  for (const auto& n : names) {
    // A name as a target host would be: reuse the target parser's rules.
    std::vector<scan::Target> t;
    auto st = scan::parse_target(n + ":1", t, 1);
    if (!st || t.front().is_ip) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--sni '" + n + "': give a DNS name (SNI carries no IP address)");
    }
    out.push_back(t.front().host);
  }
  return out;
}

class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), tty_(enabled && isatty(STDERR_FILENO)) {}
  void update(size_t done) {
    if (tty_) {
      const size_t width = 40;
      const size_t filled = total_ ? done * width / total_ : width;
      std::fprintf(stderr, "\rscanning [%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, total_);
      if (done == total_) std::fprintf(stderr, "\n");
      std::fflush(stderr);
      return;
    }
    // Plain lines: every tenth of the way.
    const size_t step = std::max<size_t>(1, total_ / 10);
    if (done == total_ || done % step == 0) {
      std::fprintf(stderr, "scan: %zu/%zu probes done\n", done, total_);
    }
  }

 private:
  size_t total_;
  bool tty_;
};

nlohmann::json outcome_json(const scan::ProbeOutcome& o) {
  nlohmann::json j{
      {"endpoint", o.endpoint}, {"sni", o.sni}, {"reachable", o.reachable}, {"tls", o.tls}};
  if (!o.error.empty()) j["error"] = o.error;
  if (o.tls) {
    j["protocol"] = o.protocol;
    j["verified_name"] = o.verified_name;
    j["fingerprint_sha256"] = o.fingerprint_sha256;
    j["serial"] = o.serial_hex;
    j["subject"] = o.subject;
    j["not_after"] = format_time(o.not_after);
    j["foreign"] = o.foreign;
    j["valid"] = o.valid;
    j["problems"] = nlohmann::json::array();
    for (const auto& p : o.problems)
      j["problems"].push_back({{"code", p.code}, {"message", p.message}});
    if (!o.store_error.empty()) j["store_error"] = o.store_error;
  }
  return j;
}

std::string outcome_line(const scan::ProbeOutcome& o) {
  std::string line = o.endpoint + (o.sni.empty() ? "" : " (sni " + o.sni + ")") + ": ";
  if (!o.tls) return line + (o.reachable ? "no TLS: " : "unreachable: ") + o.error;
  line += o.foreign ? "foreign " : "herald ";
  line += o.serial_hex + " " + o.subject;
  if (o.valid) {
    line += ", valid for " + o.verified_name;
  } else {
    line += ", problems:";
    for (const auto& p : o.problems) line += " " + p.code;
  }
  if (!o.store_error.empty()) line += " (not recorded: " + o.store_error + ")";
  return line;
}

Status run_scan_command(Context& ctx, const ScanFlags& f) {
  // Everything given is checked before anything is opened or contacted.
  std::string file_text;
  if (!f.file.empty()) {
    HERALD_TRY(file_text, fs::read_file(f.file, kMaxTargetFile));
  }
  if (f.targets.empty() && f.file.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "give targets (HOST:PORT, CIDR:PORT) or --file F");
  }
  HERALD_TRY(auto targets, scan::parse_targets(f.targets, file_text));
  HERALD_TRY(auto sni, check_sni(f.sni));
  if (f.concurrency < 1 || f.concurrency > kMaxConcurrency) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--concurrency must be 1-" + std::to_string(kMaxConcurrency));
  }
  if (targets.size() * std::max<size_t>(1, sni.size()) > scan::kMaxTargets) {
    return make_error(ErrorCode::kInvalidArgument, "targets x --sni names is above " +
                                                       std::to_string(scan::kMaxTargets) +
                                                       " probes; scan fewer at a time");
  }
  HERALD_TRY(auto timeout, parse_timeout(f.timeout));

  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  std::vector<Bytes> anchors;
  if (s->root) anchors.push_back(s->root->der());
  HERALD_TRY(auto partners, datadir::PartnerStore(s->dir.partners_dir()).list());
  for (const auto& p : partners) anchors.push_back(p.cert.der());
  if (anchors.empty()) {
    return make_error(ErrorCode::kNotFound, "the data directory has no root certificate to trust");
  }
  verify::Verifier verifier(anchors);

  const auto probes = scan::make_probes(targets, sni);
  scan::ScanOptions opts;
  opts.concurrency = f.concurrency;
  opts.timeout = timeout;
  Progress progress(probes.size(), true);
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::string> lines;
  auto summary = scan::run_scan(probes, opts, verifier, s->inventory.get(), *ctx.clock,
                                [&](const scan::ProbeOutcome& o, size_t done) {
                                  if (f.json) {
                                    results.push_back(outcome_json(o));
                                  } else {
                                    lines.push_back(outcome_line(o));
                                  }
                                  progress.update(done);
                                });
  if (f.json) {
    nlohmann::json problems = nlohmann::json::object();
    for (const auto& [code, n] : summary.problems) problems[code] = n;
    nlohmann::json j{
        {"targets", summary.targets},
        {"probes", summary.probes},
        {"reachable", summary.reachable},
        {"tls", summary.tls},
        {"valid", summary.valid},
        {"certificates",
         {{"herald", summary.herald_certificates}, {"foreign", summary.foreign_certificates}}},
        {"problems", problems},
        {"store_errors", summary.store_errors},
        {"results", results}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::sort(lines.begin(), lines.end());
    for (const auto& l : lines) std::cout << l << "\n";
    std::cout << "\ntargets " << summary.targets << ", probes " << summary.probes << ", reachable "
              << summary.reachable << ", TLS " << summary.tls << ", valid " << summary.valid << "\n"
              << "certificates found: "
              << summary.herald_certificates + summary.foreign_certificates << " (Herald's "
              << summary.herald_certificates << ", foreign " << summary.foreign_certificates
              << ")\n";
    if (summary.problems.empty()) {
      std::cout << "problems: none\n";
    } else {
      std::cout << "problems:";
      for (const auto& [code, n] : summary.problems) std::cout << " " << code << "=" << n;
      std::cout << "\n";
    }
    if (summary.store_errors) {
      std::cout << summary.store_errors << " sighting(s) could not be recorded\n";
    }
  }
  return {};
}

}  // namespace

void add_scan_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ScanFlags>();
  auto* cmd = app.add_subcommand(
      "scan",
      "Discover deployed certificates: connect with TLS to each target given (and nothing else), "
      "take the chain it presents without trusting it, check it with the verifier (the CA's root "
      "and partner roots of DIR; the name checked is the SNI name sent, else the target's host), "
      "and record the sighting (endpoint, SNI, certificate, problems, first/last seen) in the "
      "inventory. Certificates this CA did not issue are recorded as discovered (herald list "
      "--foreign). Exit 0 when the scan ran: chain problems are findings, not errors.");
  add_dir_option(*cmd, ctx);
  cmd->add_option("TARGET", f->targets,
                  "HOST:PORT, [IPv6]:PORT, or a range: 10.0.0.0/24:443, [fd00::/120]:443 "
                  "(at most 65536 targets in all)");
  cmd->add_option("--file", f->file,
                  "Targets from a file, one per line ('#' comments and blank lines skipped)");
  cmd->add_option("--sni", f->sni,
                  "A name to send as SNI (repeatable): each target is probed once per name; "
                  "by default a host name target sends itself, an IP address none");
  cmd->add_option("--concurrency", f->concurrency, "Connections at a time (default 32, max 1024)");
  cmd->add_option("--timeout", f->timeout,
                  "Per probe, for connect and handshake together (default 5s; 100ms-5m)");
  cmd->add_flag("--json", f->json, "Print one JSON document: the summary and every probe");
  cmd->callback([&ctx, f] { ctx.result = run_scan_command(ctx, *f); });
}

}  // namespace herald::cli
