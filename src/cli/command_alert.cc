// herald alert: silences for expiry alerts, and what was sent or dead-lettered
// (the store's AlertStore; herald serve evaluates and delivers, see
// src/alerts/ and docs/operations.md "Expiry alerts and webhooks").
#include <unistd.h>

#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "cli/cli.h"
#include "datadir/data_dir.h"
#include "store/inventory.h"

namespace herald::cli {

namespace {

using nlohmann::json;

struct SilenceFlags {
  std::optional<std::string> owner;
  std::optional<std::string> serial;
  std::string until;
  std::string reason;
  bool json = false;
  int64_t id = 0;
};

struct ListFlags {
  bool dead_letters = false;
  bool json = false;
  size_t limit = 50;
};

// "2026-12-31", "2026-12-31T18:00:00Z" (UTC), or a duration from now ("7d", "12h").
Result<TimePoint> parse_until(const std::string& text, TimePoint now) {
  if (auto d = parse_duration(text)) return now + *d;
  std::tm tm{};
  const char* end = nullptr;
  if (text.size() == 10) {
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  } else if (text.size() == 20 && text.back() == 'Z') {
    end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  if (!end || *end != '\0')
    return make_error(ErrorCode::kInvalidArgument,
                      "--until: '" + text +
                          "' is neither a date (2026-12-31, 2026-12-31T18:00:00Z) nor a "
                          "duration (7d, 12h)");
  const TimePoint t{std::chrono::seconds(timegm(&tm))};
  if (t <= now) return make_error(ErrorCode::kInvalidArgument, "--until is in the past");
  return t;
}

std::string who() {
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user && *user ? user : std::to_string(getuid()));
}

Status run_silence_add(Context& ctx, const SilenceFlags& f) {
  if (f.owner.has_value() == f.serial.has_value())
    return make_error(ErrorCode::kInvalidArgument, "give exactly one of --owner and --serial");
  if (f.reason.empty()) return make_error(ErrorCode::kInvalidArgument, "--reason is required");
  const TimePoint now = ctx.clock->now();
  store::Silence s;
  HERALD_TRY(s.ends_at, parse_until(f.until, now));
  if (f.owner) {
    const auto eq = f.owner->find('=');
    if (eq == std::string::npos)
      return make_error(ErrorCode::kInvalidArgument, "--owner must be KEY=VALUE (team=payments)");
    s.owner_key = f.owner->substr(0, eq);
    s.owner_value = f.owner->substr(eq + 1);
    HERALD_TRY_VOID(store::check_label(s.owner_key, s.owner_value));
  } else {
    HERALD_TRY(auto serial, Serial::parse(*f.serial));
    s.serial = serial.hex();
  }
  s.reason = f.reason;
  s.created_by = who();
  s.created_at = now;
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto st, dir.open_store(*ctx.clock));
  HERALD_TRY(auto id, st->add_silence(s));
  std::cout << "Silence " << id << ": no alerts for "
            << (s.serial.empty() ? "owner " + s.owner_key + "=" + s.owner_value
                                 : "serial " + s.serial)
            << " until " << format_time(s.ends_at) << "\n";
  return {};
}

Status run_silence_list(Context& ctx, const SilenceFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto st, dir.open_store(*ctx.clock));
  HERALD_TRY(auto list, st->active_silences(ctx.clock->now()));
  if (f.json) {
    json out = json::array();
    for (const auto& s : list) {
      json j = {{"id", s.id},
                {"until", format_time(s.ends_at)},
                {"reason", s.reason},
                {"created_by", s.created_by},
                {"created_at", format_time(s.created_at)}};
      if (s.serial.empty()) {
        j["owner"] = s.owner_key + "=" + s.owner_value;
      } else {
        j["serial"] = s.serial;
      }
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return {};
  }
  if (list.empty()) {
    std::cout << "No active silences.\n";
    return {};
  }
  for (const auto& s : list) {
    std::cout << s.id << "  "
              << (s.serial.empty() ? "owner " + s.owner_key + "=" + s.owner_value
                                   : "serial " + s.serial)
              << "  until " << format_time(s.ends_at) << "  by " << s.created_by << "  " << s.reason
              << "\n";
  }
  return {};
}

Status run_silence_remove(Context& ctx, const SilenceFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto st, dir.open_store(*ctx.clock));
  HERALD_TRY_VOID(st->remove_silence(f.id));
  std::cout << "Silence " << f.id << " removed.\n";
  return {};
}

Status run_list(Context& ctx, const ListFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto st, dir.open_store(*ctx.clock));
  if (f.dead_letters) {
    HERALD_TRY(auto list, st->dead_letters(f.limit));
    if (f.json) {
      json out = json::array();
      for (const auto& d : list) {
        out.push_back({{"id", d.id},
                       {"at", format_time(d.at)},
                       {"target", d.target},
                       {"url", d.url},
                       {"attempts", d.attempts},
                       {"last_error", d.last_error},
                       {"payload", json::parse(d.payload, nullptr, false)}});
      }
      std::cout << out.dump(2) << "\n";
      return {};
    }
    if (list.empty()) std::cout << "No dead letters.\n";
    for (const auto& d : list) {
      std::cout << format_time(d.at) << "  " << d.target << "  " << d.url << "  " << d.attempts
                << " attempts  " << d.last_error << "\n    " << d.payload << "\n";
    }
    return {};
  }
  HERALD_TRY(auto list, st->recent_alerts(f.limit));
  if (f.json) {
    json out = json::array();
    for (const auto& a : list) {
      out.push_back({{"id", a.id},
                     {"at", format_time(a.at)},
                     {"key", a.key},
                     {"kind", a.kind},
                     {"serial", a.serial},
                     {"target", a.target},
                     {"result", a.result}});
    }
    std::cout << out.dump(2) << "\n";
    return {};
  }
  if (list.empty()) std::cout << "No alerts sent.\n";
  for (const auto& a : list) {
    std::cout << format_time(a.at) << "  " << a.key << "  " << a.target << "  " << a.result << "\n";
  }
  return {};
}

}  // namespace

void add_alert_commands(CLI::App& app, Context& ctx) {
  auto* alert = app.add_subcommand(
      "alert",
      "Expiry alerts (sent by herald serve, see [alerts] in herald.toml): silences, and\n"
      "the alerts sent and deliveries that failed every retry (dead letters)");
  alert->require_subcommand(1);

  auto* silence = alert->add_subcommand("silence", "Hold back alerts for an owner or a serial");
  silence->require_subcommand(1);
  auto sf = std::make_shared<SilenceFlags>();
  auto* add = silence->add_subcommand(
      "add",
      "Silence alerts for certificates whose owner has the label KEY=VALUE, or for one\n"
      "serial, until a date or for a duration. A silenced alert is not sent (nor marked\n"
      "sent): if the certificate is still within the threshold when the silence ends, it\n"
      "goes out then.");
  add_dir_option(*add, ctx);
  add->add_option("--owner", sf->owner, "Owner label KEY=VALUE (e.g. team=payments)");
  add->add_option("--serial", sf->serial, "A certificate's serial (hex)");
  add->add_option("--until", sf->until,
                  "End: a date (2026-12-31, 2026-12-31T18:00:00Z, UTC) or a duration (7d, 12h)")
      ->required();
  add->add_option("--reason", sf->reason, "Why (shown by `herald alert silence list`)")->required();
  add->callback([&ctx, sf] { ctx.result = run_silence_add(ctx, *sf); });

  auto* list = silence->add_subcommand("list", "The silences in force, oldest first");
  add_dir_option(*list, ctx);
  list->add_flag("--json", sf->json, "JSON output");
  list->callback([&ctx, sf] { ctx.result = run_silence_list(ctx, *sf); });

  auto* rm = silence->add_subcommand("remove", "End a silence now");
  add_dir_option(*rm, ctx);
  rm->add_option("ID", sf->id, "The silence's id (from `herald alert silence list`)")->required();
  rm->callback([&ctx, sf] { ctx.result = run_silence_remove(ctx, *sf); });

  auto lf = std::make_shared<ListFlags>();
  auto* ls = alert->add_subcommand("list",
                                   "The most recent alerts sent (target and result), newest first");
  add_dir_option(*ls, ctx);
  ls->add_flag("--dead-letters", lf->dead_letters,
               "Instead: webhook deliveries that failed every attempt, with their payload "
               "and last error");
  ls->add_option("--limit", lf->limit, "At most this many (default 50)");
  ls->add_flag("--json", lf->json, "JSON output");
  ls->callback([&ctx, lf] { ctx.result = run_list(ctx, *lf); });
}

}  // namespace herald::cli
