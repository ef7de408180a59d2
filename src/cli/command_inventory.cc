// herald list | show
#include <limits>
#include <ctime>
#include <iostream>

#include "base/duration.h"
#include "cli/output.h"
#include "cli/session.h"

namespace herald::cli {

namespace {

struct ListFlags {
  std::optional<std::string> expiring;
  std::optional<std::string> profile;
  std::optional<std::string> status;
  std::vector<std::string> owner;
  std::optional<std::string> san;
  std::optional<size_t> limit;
  bool json = false;
  // Deployments seen by `herald scan` (store/deployments.h).
  bool deployed = false;
  std::optional<std::string> not_seen_since;
  bool foreign = false;
};

struct ShowFlags {
  std::string serial;
  bool pem = false;
  bool json = false;
};

std::string pad(std::string s, size_t n) {
  if (s.size() < n) s += std::string(n - s.size(), ' ');
  return s;
}

// --not-seen-since: a duration back from now (7d, 12h) or a date
// (2026-01-31, 2026-01-31T12:00:00Z) or seconds since 1970.
Result<TimePoint> parse_since(const std::string& text, TimePoint now) {
  if (auto d = parse_duration(text)) return now - *d;
  if (!text.empty() && text.size() <= 12 && text.find_first_not_of("0123456789") == std::string::npos) {
    return TimePoint{std::chrono::seconds(std::stoll(text))};
  }
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest && (*rest == 'Z' || *rest == 'z')) ++rest;
  if (!rest) {
    tm = {};
    rest = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (!rest || *rest != '\0') {
    return make_error(ErrorCode::kInvalidArgument,
                      "--not-seen-since '" + text +
                          "': give a duration (7d, 12h) or a UTC date (2026-01-31, "
                          "2026-01-31T12:00:00Z)");
  }
  return TimePoint{std::chrono::seconds(static_cast<int64_t>(timegm(&tm)))};
}

nlohmann::json deployment_json(const store::DeploymentRecord& d) {
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& p : d.problems) problems.push_back({{"code", p.code}, {"message", p.message}});
  std::string chain;
  for (const auto& der : d.chain_der) chain += ossl::pem_encode(der, "CERTIFICATE");
  return {{"endpoint", d.endpoint},
          {"sni", d.sni},
          {"serial", d.serial_hex},
          {"fingerprint_sha256", d.fingerprint_sha256},
          {"foreign", d.foreign},
          {"subject", d.subject},
          {"not_after", format_time(d.not_after)},
          {"first_seen", format_time(d.first_seen)},
          {"last_seen", format_time(d.last_seen)},
          {"problems", problems},
          {"chain_pem", chain}};
}

// --deployed, --not-seen-since, --foreign: what `herald scan` recorded.
Status run_list_deployments(Context& ctx, const ListFlags& f) {
  if (f.expiring || f.profile || f.status || !f.owner.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--deployed, --foreign and --not-seen-since do not combine with --expiring, "
                      "--profile, --status or --owner");
  }
  if (f.deployed && f.foreign) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--deployed lists Herald's certificates, --foreign the others: give one");
  }
  const TimePoint now = ctx.clock->now();
  store::DeploymentFilter filter;
  if (f.not_seen_since) {
    HERALD_TRY(filter.not_seen_since, parse_since(*f.not_seen_since, now));
  }
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  if (f.foreign && !f.not_seen_since) {
    HERALD_TRY(auto certs, s->inventory->discovered_certificates(0, 0));
    if (f.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& c : certs) {
        arr.push_back({{"fingerprint_sha256", c.fingerprint_sha256},
                       {"serial", c.serial_hex},
                       {"subject", c.subject},
                       {"issuer", c.issuer},
                       {"sans", c.sans},
                       {"not_before", format_time(c.not_before)},
                       {"not_after", format_time(c.not_after)},
                       {"status", c.not_after < now ? "expired" : "valid"},
                       {"key_algorithm", c.key_algorithm},
                       {"signature_algorithm", c.signature_algorithm},
                       {"first_seen", format_time(c.first_seen)},
                       {"pem", ossl::pem_encode(c.der, "CERTIFICATE")}});
      }
      std::cout << arr.dump(2) << "\n";
      return {};
    }
    std::cout << pad("SERIAL", 34) << pad("NOT AFTER", 22) << pad("FIRST SEEN", 22)
              << "SUBJECT / ISSUER\n";
    for (const auto& c : certs) {
      std::string serial = c.serial_hex.size() > 32 ? c.serial_hex.substr(0, 31) + "~" : c.serial_hex;
      std::cout << pad(serial, 34) << pad(format_time(c.not_after), 22)
                << pad(format_time(c.first_seen), 22) << c.subject << "  (issuer " << c.issuer
                << ")\n";
    }
    std::cout << certs.size() << " foreign certificate" << (certs.size() == 1 ? "" : "s") << "\n";
    return {};
  }
  if (f.deployed) filter.kind = store::DeploymentKind::kInventory;
  if (f.foreign) filter.kind = store::DeploymentKind::kForeign;
  HERALD_TRY(auto rows, s->inventory->deployments(filter));
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& d : rows) arr.push_back(deployment_json(d));
    std::cout << arr.dump(2) << "\n";
    return {};
  }
  std::cout << pad("SERIAL", 36) << pad("ENDPOINT", 28) << pad("SNI", 20) << pad("LAST SEEN", 22)
            << "PROBLEMS\n";
  for (const auto& d : rows) {
    std::string serial = d.serial_hex.size() > 32 ? d.serial_hex.substr(0, 31) + "~" : d.serial_hex;
    if (d.foreign) serial += " *";
    std::string problems;
    for (const auto& p : d.problems) problems += (problems.empty() ? "" : ",") + p.code;
    std::cout << pad(serial, 36) << pad(d.endpoint, 28) << pad(d.sni.empty() ? "-" : d.sni, 20)
              << pad(format_time(d.last_seen), 22) << (problems.empty() ? "-" : problems) << "\n";
  }
  std::cout << rows.size() << " deployment" << (rows.size() == 1 ? "" : "s");
  if (!f.deployed) std::cout << " (* = foreign: not issued by this CA)";
  std::cout << "\n";
  return {};
}

Status run_list(Context& ctx, const ListFlags& f) {
  if (f.deployed || f.foreign || f.not_seen_since) return run_list_deployments(ctx, f);
  store::ListFilter filter;
  filter.now = ctx.clock->now();
  if (f.expiring) {
    HERALD_TRY(auto d, parse_duration(*f.expiring));
    filter.expiring_before = filter.now + d;
  }
  filter.profile = f.profile;
  if (f.status) {
    if (*f.status != "valid" && *f.status != "revoked" && *f.status != "expired") {
      return make_error(ErrorCode::kInvalidArgument,
                        "unknown status '" + *f.status + "' (choose valid|revoked|expired)");
    }
    filter.status = f.status;
  }
  HERALD_TRY(filter.owner, parse_owner_flags(f.owner));
  filter.san_label_prefix = f.san;
  if (f.limit && *f.limit == 0) return make_error(ErrorCode::kInvalidArgument, "--limit must be at least 1");
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  // A page at a time (keyset, in the listing's order), printed as it
  // comes: memory stays bounded however large the inventory.
  constexpr size_t kPage = 1000;
  const size_t want = f.limit ? *f.limit : std::numeric_limits<size_t>::max();
  size_t printed = 0;
  if (f.json) {
    std::cout << "[";
  } else {
    std::cout << pad("SERIAL", 34) << pad("PROFILE", 17) << pad("STATUS", 9)
              << pad("NOT AFTER", 22) << "SUBJECT / SANS\n";
  }
  for (;;) {
    filter.limit = std::min(kPage, want - printed);
    HERALD_TRY(auto page, s->inventory->list(filter));
    for (const auto& r : page) {
      if (f.json) {
        // The element pretty-printed as a whole array's would be.
        std::string text = record_json(r, filter.now).dump(2);
        std::string indented = "\n  ";
        for (char ch : text) {
          indented += ch;
          if (ch == '\n') indented += "  ";
        }
        std::cout << (printed ? "," : "") << indented;
      } else {
        std::string who = r.subject.empty() ? join_sans(r.sans) : r.subject;
        if (!r.subject.empty() && !r.sans.empty()) who += "  " + join_sans(r.sans);
        std::cout << pad(r.serial.hex(), 34) << pad(r.profile, 17)
                  << pad(r.status_at(filter.now), 9) << pad(format_time(r.not_after), 22) << who
                  << "\n";
      }
      ++printed;
    }
    if (page.size() < filter.limit || printed >= want) break;
    filter.after = std::pair{page.back().not_after, page.back().serial};
  }
  if (f.json) {
    std::cout << (printed ? "\n]\n" : "]\n");
    return {};
  }
  std::cout << printed << " certificate" << (printed == 1 ? "" : "s")
            << (f.limit && printed == want ? " (--limit reached)" : "") << "\n";
  return {};
}

Status run_show(Context& ctx, const ShowFlags& f) {
  HERALD_TRY(auto serial, Serial::parse(f.serial));
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto rec, s->inventory->find(serial));
  if (!rec)
    return make_error(ErrorCode::kNotFound,
                      "no certificate with serial " + serial.hex() + " in the inventory");
  const std::string pem = ossl::pem_encode(rec->der, "CERTIFICATE");
  if (f.json) {
    auto j = record_json(*rec, ctx.clock->now());
    j["pem"] = pem;
    std::cout << j.dump(2) << "\n";
  } else if (f.pem) {
    std::cout << pem;
  } else {
    std::cout << record_text(*rec, ctx.clock->now());
  }
  return {};
}

}  // namespace

void add_inventory_commands(CLI::App& app, Context& ctx) {
  auto fl = std::make_shared<ListFlags>();
  auto* list = app.add_subcommand(
      "list", "List the inventory (every certificate issued, and the CAs'), soonest expiry first");
  add_dir_option(*list, ctx);
  list->add_option("--expiring", fl->expiring,
                   "Only valid certificates expiring within this time, e.g. 30d");
  list->add_option("--profile", fl->profile,
                   "Only this profile (server, client, spiffe, issuing-ca, ...)");
  list->add_option("--status", fl->status, "valid | revoked | expired");
  list->add_option("--owner", fl->owner,
                   "Only certificates with these owner labels, e.g. team=payments (repeatable)");
  list->add_option("--san", fl->san,
                   "Only certificates with a SAN (or a part of one after a '.', '@', '/' or ':') "
                   "starting with this, any case: example.com finds every name under example.com, "
                   "api finds api.example.com and x.api.example.com");
  list->add_option("--limit", fl->limit,
                   "Print at most this many (the soonest to expire first)");
  list->add_flag("--json", fl->json, "Print a JSON array");
  list->add_flag("--deployed", fl->deployed,
                 "Herald's certificates seen deployed by herald scan, with where (endpoint, SNI), "
                 "first/last seen and the chain problems found");
  list->add_option("--not-seen-since", fl->not_seen_since,
                   "Deployments whose last sighting is older than this: a duration back from now "
                   "(7d) or a UTC date (2026-01-31[T12:00:00Z])");
  list->add_flag("--foreign", fl->foreign,
                 "Certificates herald scan found that this CA did not issue (with "
                 "--not-seen-since: their deployments)");
  list->callback([&ctx, fl] { ctx.result = run_list(ctx, *fl); });

  auto fs_ = std::make_shared<ShowFlags>();
  auto* show = app.add_subcommand("show", "Show one certificate of the inventory by serial");
  add_dir_option(*show, ctx);
  show->add_option("serial", fs_->serial, "Serial number (hex, colons optional)")->required();
  show->add_flag("--pem", fs_->pem, "Print only the certificate PEM");
  show->add_flag("--json", fs_->json, "Print JSON (with the PEM)");
  show->callback([&ctx, fs_] { ctx.result = run_show(ctx, *fs_); });
}

}  // namespace herald::cli
