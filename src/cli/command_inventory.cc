// herald list | show
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
  bool json = false;
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

Status run_list(Context& ctx, const ListFlags& f) {
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
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto records, s->inventory->list(filter));
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : records) arr.push_back(record_json(r, filter.now));
    std::cout << arr.dump(2) << "\n";
    return {};
  }
  std::cout << pad("SERIAL", 34) << pad("PROFILE", 17) << pad("STATUS", 9) << pad("NOT AFTER", 22)
            << "SUBJECT / SANS\n";
  for (const auto& r : records) {
    std::string who = r.subject.empty() ? join_sans(r.sans) : r.subject;
    if (!r.subject.empty() && !r.sans.empty()) who += "  " + join_sans(r.sans);
    std::cout << pad(r.serial.hex(), 34) << pad(r.profile, 17) << pad(r.status_at(filter.now), 9)
              << pad(format_time(r.not_after), 22) << who << "\n";
  }
  std::cout << records.size() << " certificate" << (records.size() == 1 ? "" : "s") << "\n";
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
  list->add_flag("--json", fl->json, "Print a JSON array");
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
