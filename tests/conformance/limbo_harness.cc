// x509-limbo conformance harness for herald::verify (docs/conformance.md).
//
// Reads limbo.json once, runs every test case through herald::verify::verify,
// writes the results in limbo's result format and prints how far they agree
// with the expected results, per id prefix, next to any baseline results
// files given (other validators' runs of the same limbo.json).
//
//   limbo_harness LIMBO_JSON [--results OUT.json] [--disagreements OUT.md]
//                 [--baseline FILE]... [--floor N | --floor-file FILE]
//                 [--case-limit-ms MS] [--abort-case-ms MS] [--only PREFIX]
//
// Exit status: 0 all checks passed; 1 a check failed (agreement below the
// floor, a case SKIPPED, a case slower than --case-limit-ms, an exception out
// of the library); 2 bad usage or unreadable input; 3 a case ran longer than
// --abort-case-ms (the watchdog ends the process and names the case).
//
// Mapping of a limbo test case onto herald::verify (see docs/conformance.md):
// - trusted_certs / untrusted_intermediates / peer_certificate / crls: PEM
//   decoded to DER (not parsed: malformed DER reaches the library as is).
// - validation_time: RFC 3339; null (limbo: "now") is the fixed kNullTime
//   below, so that results do not depend on the day the test runs.
// - validation_kind: SERVER -> Purpose::kServer, CLIENT -> Purpose::kClient.
// - expected_peer_name(s): DNS -> Options.dns_name, IP -> Options.ip (one
//   verify call per name when there are several); RFC822 cannot be expressed
//   in Options: the case is reported FAILURE with the note
//   "unsupported_peer_name" whatever the library says (skipping none).
// - max_chain_depth: Options.max_depth (both count the intermediates allowed
//   between the leaf and the anchor); null keeps the library's default.
// - extended_key_usage: serverAuth / clientAuth are what kServer / kClient
//   require; any other EKU, and any key_usage or signature_algorithms
//   constraint, has no Options field: it is recorded in the context as
//   "not checked", and the library's verdict is reported unchanged.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "ossl/ossl.h"
#include "verify/verify.h"

namespace {

using json = nlohmann::json;
using herald::Bytes;
using herald::TimePoint;
namespace hv = herald::verify;
using Clock = std::chrono::steady_clock;

// Validation time for cases whose validation_time is null. Every certificate
// of those cases is valid from 1970-01-01 to 2969 (limbo generates them so),
// except the ones a case makes expired on purpose.
constexpr const char* kNullTimeText = "2026-01-01T00:00:00Z";

// The id prefixes reported, in this order; any other prefix follows them.
const std::vector<std::string> kPrefixOrder = {
    "rfc5280::", "webpki::", "bettertls::nameconstraints::", "bettertls::pathbuilding::",
    "pathlen::", "crl::",    "cve::",                         "pathological::",
    "online::"};

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string prefix_of(const std::string& id) {
  size_t p = id.find("::");
  if (p == std::string::npos) return "(none)";
  if (id.compare(0, p, "bettertls") == 0) {
    size_t q = id.find("::", p + 2);
    if (q != std::string::npos) return id.substr(0, q + 2);
  }
  return id.substr(0, p + 2);
}

// "1970-01-01T00:00:03+00:00", "2024-01-01T00:00:00Z", fractions allowed.
std::optional<TimePoint> parse_rfc3339(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char t = 0;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &t, &h, &mi, &sec, &n) != 7 ||
      (t != 'T' && t != 't' && t != ' ')) {
    return std::nullopt;
  }
  size_t i = static_cast<size_t>(n);
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0, m = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &m) != 2) return std::nullopt;
    offset = (s[i] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    i += 1 + static_cast<size_t>(m);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  TimePoint tp = std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
                 std::chrono::seconds{sec} - std::chrono::seconds{offset};
  return tp;
}

struct Tally {
  int total = 0, agreed = 0, disagreed = 0, skipped = 0;
  void add(const std::string& expected, const std::string& actual) {
    ++total;
    if (actual == "SKIPPED" || actual.empty()) {
      ++skipped;
    } else if (actual == expected) {
      ++agreed;
    } else {
      ++disagreed;
    }
  }
};

struct CaseResult {
  std::string id;
  std::string expected;
  std::string actual;  // SUCCESS | FAILURE | SKIPPED
  std::string context;
  double ms = 0;
  bool harness_error = false;  // the case could not be run as limbo describes it
};

struct Baseline {
  std::string name;
  std::map<std::string, std::string> actual;  // id -> actual_result
};

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string finding_text(const hv::Finding& f) {
  std::string s = f.code.empty() ? "(no code)" : f.code;
  std::string detail;
  if (!f.found.empty()) detail += "found " + f.found;
  if (!f.expected.empty()) detail += (detail.empty() ? "" : "; ") + std::string("expected ") + f.expected;
  if (!detail.empty()) s += ": " + detail;
  if (f.depth >= 0) s += " [depth " + std::to_string(f.depth) + "]";
  return s;
}

const hv::Finding* first_error(const hv::Result& r) {
  for (const auto& f : r.findings) {
    if (f.severity == hv::Severity::kError) return &f;
  }
  return r.findings.empty() ? nullptr : &r.findings.front();
}

// PEM text -> DER blocks of the label, or an error message.
bool decode(const std::string& pem, const char* label, std::vector<Bytes>& out, std::string& err) {
  auto blocks = herald::ossl::pem_blocks(pem, label);
  if (!blocks) {
    err = std::string("PEM ") + label + ": " + blocks.error().message;
    return false;
  }
  for (auto& b : *blocks) out.push_back(std::move(b));
  return true;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::vector<std::string> strings_of(const json& tc, const char* key) {
  std::vector<std::string> out;
  if (tc.contains(key) && tc[key].is_array()) {
    for (const auto& v : tc[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// Cases where the caching Verifier (fast leaves, remembered signatures)
// disagreed with the reference verify(): each one a bug, so the test fails.
std::vector<std::string> g_fast_mismatches;

std::string codes_of(const hv::Result& r) {
  std::string out = r.valid ? "valid" : "invalid";
  for (const auto& f : r.findings) out += " " + f.code + "@" + std::to_string(f.depth);
  return out;
}

CaseResult run_case(const json& tc, TimePoint null_time) {
  CaseResult r;
  r.id = tc.value("id", std::string("(no id)"));
  r.expected = tc.value("expected_result", std::string());
  std::vector<std::string> notes;

  auto harness_failure = [&](const std::string& why) {
    r.actual = "FAILURE";
    r.context = "harness: " + why;
    r.harness_error = true;
    return r;
  };

  // Certificates and CRLs.
  std::vector<Bytes> anchors, intermediates, leaf, crls;
  std::string err;
  for (const auto& pem : strings_of(tc, "trusted_certs")) {
    if (!decode(pem, "CERTIFICATE", anchors, err)) return harness_failure("trusted_certs: " + err);
  }
  for (const auto& pem : strings_of(tc, "untrusted_intermediates")) {
    if (!decode(pem, "CERTIFICATE", intermediates, err)) {
      return harness_failure("untrusted_intermediates: " + err);
    }
  }
  if (!tc.contains("peer_certificate") || !tc["peer_certificate"].is_string() ||
      !decode(tc["peer_certificate"].get<std::string>(), "CERTIFICATE", leaf, err) || leaf.size() != 1) {
    return harness_failure("peer_certificate: " + (err.empty() ? "not exactly one certificate" : err));
  }
  for (const auto& pem : strings_of(tc, "crls")) {
    if (!decode(pem, "X509 CRL", crls, err)) return harness_failure("crls: " + err);
  }

  hv::Options base;
  if (!crls.empty()) base.revocation = hv::RevocationPolicy::kHard;  // limbo: a CRL for every certificate
  base.crls = std::move(crls);

  // Time.
  if (tc.contains("validation_time") && tc["validation_time"].is_string()) {
    auto t = parse_rfc3339(tc["validation_time"].get<std::string>());
    if (!t) return harness_failure("unparsable validation_time " + tc["validation_time"].get<std::string>());
    base.at = *t;
  } else {
    base.at = null_time;
  }

  // Purpose and EKU.
  std::string kind = tc.value("validation_kind", std::string());
  std::string implied_eku;
  if (kind == "SERVER") {
    base.purpose = hv::Purpose::kServer;
    implied_eku = "serverAuth";
  } else if (kind == "CLIENT") {
    base.purpose = hv::Purpose::kClient;
    implied_eku = "clientAuth";
  } else {
    return harness_failure("unknown validation_kind '" + kind + "'");
  }
  std::vector<std::string> other_ekus;
  for (const auto& e : strings_of(tc, "extended_key_usage")) {
    if (e != implied_eku) other_ekus.push_back(e);
  }
  if (!other_ekus.empty()) {
    notes.push_back("EKU " + join(other_ekus, ",") + " not checked (Options has no EKU list)");
  }
  if (auto ku = strings_of(tc, "key_usage"); !ku.empty()) {
    notes.push_back("key_usage " + join(ku, ",") + " not checked (Options has no key-usage requirement)");
  }
  if (auto sa = strings_of(tc, "signature_algorithms"); !sa.empty()) {
    notes.push_back("signature_algorithms " + join(sa, ",") + " not checked (no Options field)");
  }

  // Depth.
  if (tc.contains("max_chain_depth") && tc["max_chain_depth"].is_number_integer()) {
    base.max_depth = tc["max_chain_depth"].get<int>();
  }

  // Peer names.
  std::vector<json> names;
  if (tc.contains("expected_peer_name") && tc["expected_peer_name"].is_object()) {
    names.push_back(tc["expected_peer_name"]);
  }
  if (tc.contains("expected_peer_names") && tc["expected_peer_names"].is_array()) {
    for (const auto& n : tc["expected_peer_names"]) names.push_back(n);
  }
  std::vector<std::string> dns, ips, emails, unsupported;
  for (const auto& n : names) {
    std::string k = n.value("kind", std::string());
    std::string v = n.value("value", std::string());
    if (k == "DNS") {
      dns.push_back(v);
    } else if (k == "IP") {
      ips.push_back(v);
    } else if (k == "RFC822") {
      emails.push_back(v);
    } else {
      unsupported.push_back(k + " " + v);
    }
  }

  // One call per DNS/IP name (pairwise), at least one call.
  size_t calls = std::max<size_t>({1, dns.size(), ips.size(), emails.size()});
  bool all_valid = true;
  std::string first_failure;
  size_t chain_len = 0;
  int paths = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < calls; ++i) {
    hv::Options o = base;
    if (i < dns.size()) o.dns_name = dns[i];
    if (i < ips.size()) o.ip = ips[i];
    if (i < emails.size()) o.email = emails[i];
    hv::Result res;
    try {
      res = hv::verify(leaf.front(), intermediates, anchors, o);
      // The same case through the caching Verifier, twice (cold, then with
      // its caches warm): verdict and findings must be the reference's.
      hv::Verifier fast(anchors);
      for (int round = 0; round < 2; ++round) {
        auto f = fast.verify(leaf.front(), intermediates, o);
        if (codes_of(f) != codes_of(res)) {
          g_fast_mismatches.push_back(tc.value("id", std::string("?")) + ": reference " + codes_of(res) +
                                      ", Verifier " + codes_of(f));
          break;
        }
      }
    } catch (const std::exception& e) {
      r.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      return harness_failure(std::string("exception from herald::verify::verify: ") + e.what());
    }
    paths += res.paths_tried;
    if (res.valid) {
      chain_len = res.chain.size();
    } else if (all_valid) {
      all_valid = false;
      const hv::Finding* f = first_error(res);
      first_failure = f ? finding_text(*f) : "invalid (no finding given)";
    }
  }
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

  if (!unsupported.empty()) {
    // limbo asks for a name Options cannot carry: the harness cannot confirm
    // the case, so it reports FAILURE (never SKIPPED), saying what the
    // library found without the name.
    std::string names_text = join(unsupported, ", ");
    if (all_valid) {
      first_failure = "unsupported_peer_name: " + names_text +
                      " cannot be checked (Options has dns_name, ip and email only); the path is otherwise valid";
    } else {
      notes.insert(notes.begin(), "unsupported_peer_name " + names_text + " not checked");
    }
    all_valid = false;
  }
  if (all_valid) {
    r.actual = "SUCCESS";
    r.context = "valid: chain of " + std::to_string(chain_len) + ", " + std::to_string(paths) + " path(s) tried";
  } else {
    r.actual = "FAILURE";
    r.context = first_failure;
  }
  for (const auto& n : notes) r.context += (r.context.empty() ? "" : "; ") + n;
  return r;
}

std::optional<Baseline> load_baseline(const std::string& path, std::string& err) {
  auto text = read_file(path);
  if (!text) {
    err = "cannot read baseline " + path;
    return std::nullopt;
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("results") || !j["results"].is_array()) {
    err = "baseline " + path + " is not a limbo results file";
    return std::nullopt;
  }
  Baseline b;
  b.name = j.value("harness", path);
  for (const auto& r : j["results"]) {
    if (r.contains("id") && r["id"].is_string() && r.contains("actual_result") && r["actual_result"].is_string()) {
      b.actual[r["id"].get<std::string>()] = r["actual_result"].get<std::string>();
    }
  }
  return b;
}

std::string fmt_tally(const Tally& t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%5d %4d %4d", t.agreed, t.disagreed, t.skipped);
  return buf;
}

[[noreturn]] void usage(const char* msg) {
  std::cerr << "limbo_harness: " << msg << "\n"
            << "usage: limbo_harness LIMBO_JSON [--results OUT.json] [--disagreements OUT.md]\n"
               "                     [--baseline FILE]... [--floor N | --floor-file FILE]\n"
               "                     [--case-limit-ms MS] [--abort-case-ms MS] [--only PREFIX]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string limbo_path, results_path, disagreements_path, only;
  std::vector<std::string> baseline_paths;
  std::optional<long> floor;
  double case_limit_ms = 2000;
  double abort_case_ms = 60000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--results") {
      results_path = next();
    } else if (a == "--disagreements") {
      disagreements_path = next();
    } else if (a == "--baseline") {
      baseline_paths.push_back(next());
    } else if (a == "--floor") {
      floor = std::strtol(next().c_str(), nullptr, 10);
    } else if (a == "--floor-file") {
      std::string p = next();
      auto text = read_file(p);
      if (!text) usage(("cannot read floor file " + p).c_str());
      char* end = nullptr;
      long v = std::strtol(text->c_str(), &end, 10);
      if (end == text->c_str()) usage(("floor file " + p + " holds no integer").c_str());
      floor = v;
    } else if (a == "--case-limit-ms") {
      case_limit_ms = std::strtod(next().c_str(), nullptr);
    } else if (a == "--abort-case-ms") {
      abort_case_ms = std::strtod(next().c_str(), nullptr);
    } else if (a == "--only") {
      only = next();
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else if (!a.empty() && a[0] == '-') {
      usage(("unknown option " + a).c_str());
    } else if (limbo_path.empty()) {
      limbo_path = a;
    } else {
      usage("more than one limbo.json given");
    }
  }
  if (limbo_path.empty()) usage("no limbo.json given");

  auto t_start = Clock::now();
  auto text = read_file(limbo_path);
  if (!text) {
    std::cerr << "limbo_harness: ERROR: cannot read " << limbo_path << "\n"
              << "  The x509-limbo suite is expected at ../shared/conformance/limbo.json, i.e. in a\n"
              << "  'shared' folder next to the repository clone (CI provides it). Put it there, or\n"
              << "  run the harness by hand with the path of a limbo.json.\n";
    return 2;
  }
  json limbo = json::parse(*text, nullptr, false);
  text.reset();
  if (limbo.is_discarded() || !limbo.contains("testcases") || !limbo["testcases"].is_array()) {
    std::cerr << "limbo_harness: ERROR: " << limbo_path << " is not a limbo test suite (no testcases array)\n";
    return 2;
  }
  double parse_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_start).count();

  std::vector<Baseline> baselines;
  for (const auto& p : baseline_paths) {
    std::string err;
    auto b = load_baseline(p, err);
    if (!b) {
      std::cerr << "limbo_harness: ERROR: " << err << "\n";
      return 2;
    }
    baselines.push_back(std::move(*b));
  }

  TimePoint null_time = *parse_rfc3339(kNullTimeText);

  // Watchdog: a case that runs past --abort-case-ms ends the process, named.
  std::atomic<long long> case_started_ns{0};  // 0 = between cases
  std::atomic<const std::string*> current_id{nullptr};
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      long long s = case_started_ns.load();
      if (s == 0) continue;
      double ms = static_cast<double>(now_ns() - s) / 1e6;
      const std::string* id = current_id.load();
      if (ms > abort_case_ms && id != nullptr) {
        std::fprintf(stderr, "limbo_harness: ABORT: case %s still running after %.0f ms (--abort-case-ms %.0f)\n",
                     id->c_str(), ms, abort_case_ms);
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
  });

  std::vector<CaseResult> results;
  results.reserve(limbo["testcases"].size());
  auto t_run = Clock::now();
  for (const auto& tc : limbo["testcases"]) {
    std::string id = tc.value("id", std::string());
    if (!only.empty() && id.rfind(only, 0) != 0) continue;
    current_id.store(&id);
    case_started_ns.store(now_ns());
    results.push_back(run_case(tc, null_time));
    case_started_ns.store(0);
    current_id.store(nullptr);
  }
  double run_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_run).count();
  done.store(true);
  watchdog.join();

  // Results file.
  if (!results_path.empty()) {
    json out;
    out["version"] = 1;
    out["harness"] = "herald";
    json arr = json::array();
    for (const auto& r : results) {
      arr.push_back({{"id", r.id}, {"actual_result", r.actual}, {"context", r.context}});
    }
    out["results"] = std::move(arr);
    std::ofstream f(results_path, std::ios::binary);
    f << out.dump(2) << "\n";
    if (!f) {
      std::cerr << "limbo_harness: ERROR: cannot write " << results_path << "\n";
      return 2;
    }
  }

  // Tallies per prefix: herald, then each baseline.
  std::map<std::string, std::vector<Tally>> by_prefix;
  std::vector<Tally> total(1 + baselines.size());
  for (const auto& r : results) {
    auto& row = by_prefix[prefix_of(r.id)];
    row.resize(1 + baselines.size());
    row[0].add(r.expected, r.actual);
    total[0].add(r.expected, r.actual);
    for (size_t b = 0; b < baselines.size(); ++b) {
      auto it = baselines[b].actual.find(r.id);
      std::string a = it == baselines[b].actual.end() ? std::string() : it->second;
      row[1 + b].add(r.expected, a);
      total[1 + b].add(r.expected, a);
    }
  }
  std::vector<std::string> order;
  for (const auto& p : kPrefixOrder) {
    if (by_prefix.count(p)) order.push_back(p);
  }
  for (const auto& [p, _] : by_prefix) {
    if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
  }

  std::printf("x509-limbo: %zu cases from %s (parsed in %.0f ms, run in %.0f ms)\n", results.size(),
              limbo_path.c_str(), parse_ms, run_ms);
  std::printf("validation_time null -> %s\n\n", kNullTimeText);
  std::printf("%-30s %5s  %-16s", "prefix", "cases", "herald agr dis skp");
  for (size_t b = 0; b < baselines.size(); ++b) std::printf("  | [%zu] %-11.11s", b + 1, baselines[b].name.c_str());
  std::printf("\n");
  auto print_row = [&](const std::string& name, const std::vector<Tally>& row) {
    std::printf("%-30s %5d  %s", name.c_str(), row[0].total, ("      " + fmt_tally(row[0])).c_str());
    for (size_t b = 0; b < baselines.size(); ++b) std::printf("  | %s", fmt_tally(row[1 + b]).c_str());
    std::printf("\n");
  };
  for (const auto& p : order) print_row(p, by_prefix[p]);
  print_row("total", total);
  std::printf("(columns per validator: agreed, disagreed, skipped)\n");
  for (size_t b = 0; b < baselines.size(); ++b) {
    std::printf("[%zu] %s (%s)\n", b + 1, baselines[b].name.c_str(), baseline_paths[b].c_str());
  }

  // Slowest cases.
  std::vector<const CaseResult*> by_time;
  for (const auto& r : results) by_time.push_back(&r);
  std::sort(by_time.begin(), by_time.end(), [](auto* a, auto* b) { return a->ms > b->ms; });
  std::printf("\nslowest cases:\n");
  for (size_t i = 0; i < std::min<size_t>(5, by_time.size()); ++i) {
    std::printf("  %9.1f ms  %s\n", by_time[i]->ms, by_time[i]->id.c_str());
  }

  // Disagreements.
  std::vector<const CaseResult*> disagreements;
  for (const auto& r : results) {
    if (r.actual != r.expected) disagreements.push_back(&r);
  }
  std::printf("\ndisagreements (%zu):\n", disagreements.size());
  for (const auto& p : order) {
    for (auto* r : disagreements) {
      if (prefix_of(r->id) == p) {
        std::printf("  %s  expected %s, got %s: %s\n", r->id.c_str(), r->expected.c_str(), r->actual.c_str(),
                    r->context.c_str());
      }
    }
  }
  if (!disagreements_path.empty()) {
    std::ofstream f(disagreements_path, std::ios::binary);
    for (const auto& p : order) {
      std::vector<const CaseResult*> group;
      for (auto* r : disagreements) {
        if (prefix_of(r->id) == p) group.push_back(r);
      }
      if (group.empty()) continue;
      f << "### `" << p << "` (" << group.size() << ")\n\n";
      for (auto* r : group) {
        f << "- `" << r->id << "`: expected " << r->expected << ", Herald " << r->actual << " (`" << r->context
          << "`). *TODO: argue.*\n";
      }
      f << "\n";
    }
  }

  // Checks.
  int failures = 0;
  int harness_errors = 0;
  for (const auto& r : results) {
    if (r.harness_error) {
      ++harness_errors;
      std::printf("HARNESS ERROR: %s: %s\n", r.id.c_str(), r.context.c_str());
    }
  }
  if (harness_errors > 0) ++failures;
  if (total[0].skipped > 0) {
    std::printf("FAIL: %d case(s) SKIPPED; none may be\n", total[0].skipped);
    ++failures;
  }
  int slow = 0;
  for (const auto& r : results) {
    if (r.ms > case_limit_ms) {
      std::printf("FAIL: %s took %.0f ms (--case-limit-ms %.0f)\n", r.id.c_str(), r.ms, case_limit_ms);
      ++slow;
    }
  }
  if (slow > 0) ++failures;
  for (const auto& m : g_fast_mismatches) std::printf("FAIL: Verifier differs from verify(): %s\n", m.c_str());
  if (!g_fast_mismatches.empty()) ++failures;
  std::printf("\nherald agrees on %d of %d cases", total[0].agreed, total[0].total);
  if (floor) {
    std::printf(" (floor %ld)\n", *floor);
    if (total[0].agreed < *floor) {
      std::printf("FAIL: agreement %d is below the recorded floor %ld (tests/conformance/limbo_floor.txt)\n",
                  total[0].agreed, *floor);
      ++failures;
    } else if (total[0].agreed > *floor) {
      std::printf("note: above the floor: raise tests/conformance/limbo_floor.txt to %d\n", total[0].agreed);
    }
  } else {
    std::printf("\n");
  }
  return failures > 0 ? 1 : 0;
}
