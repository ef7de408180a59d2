// Expiry alerts and webhooks in the PostgreSQL store (store/alerts.h):
// claims (INSERT ... ON CONFLICT DO NOTHING: one node wins each key), alerts
// sent, silences and dead letters (schema: migrations/0006_alerts.sql).
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

using postgres::Param;

namespace {
int64_t unix_secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint from_secs(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }
}  // namespace

Result<bool> PostgresStore::claim_alert(std::string_view key, TimePoint at) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("INSERT INTO alert_claims (key, claimed_at) VALUES ($1, $2) "
                             "ON CONFLICT (key) DO NOTHING",
                             {Param(key), Param(unix_secs(at))}));
  return r.affected() == 1;
}

Status PostgresStore::record_alert(const AlertRecord& a) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(
      c->exec("INSERT INTO alerts_sent (key, kind, serial, at, target, result) "
              "VALUES ($1, $2, $3, $4, $5, $6)",
              {Param(a.key), Param(a.kind), Param(a.serial), Param(unix_secs(a.at)),
               Param(a.target), Param(a.result)}));
  return {};
}

Result<std::vector<AlertRecord>> PostgresStore::recent_alerts(size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto rows, c->exec("SELECT id, key, kind, serial, at, target, result FROM "
                                "alerts_sent ORDER BY id DESC LIMIT $1",
                                {Param(static_cast<int64_t>(limit))}));
  std::vector<AlertRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    AlertRecord a;
    a.id = rows.integer(i, 0);
    a.key = rows.text(i, 1);
    a.kind = rows.text(i, 2);
    a.serial = rows.text(i, 3);
    a.at = from_secs(rows.integer(i, 4));
    a.target = rows.text(i, 5);
    a.result = rows.text(i, 6);
    out.push_back(std::move(a));
  }
  return out;
}

Result<int64_t> PostgresStore::add_silence(const Silence& si) {
  const bool by_owner = !si.owner_key.empty();
  if (by_owner == !si.serial.empty() || (by_owner && si.owner_value.empty()))
    return make_error(ErrorCode::kInvalidArgument,
                      "a silence names either an owner label or a serial");
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto rows,
             c->exec("INSERT INTO alert_silences (owner_key, owner_value, serial, ends_at, "
                     "reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                     "RETURNING id",
                     {Param(si.owner_key), Param(si.owner_value), Param(si.serial),
                      Param(unix_secs(si.ends_at)), Param(si.reason), Param(si.created_by),
                      Param(unix_secs(si.created_at))}));
  if (rows.size() != 1) return make_error(ErrorCode::kStore, "no id for the new silence");
  return rows.integer(0, 0);
}

Result<std::vector<Silence>> PostgresStore::active_silences(TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto rows, c->exec("SELECT id, owner_key, owner_value, serial, ends_at, reason, "
                                "created_by, created_at FROM alert_silences WHERE ends_at > $1 "
                                "ORDER BY id",
                                {Param(unix_secs(now))}));
  std::vector<Silence> out;
  for (int i = 0; i < rows.size(); ++i) {
    Silence si;
    si.id = rows.integer(i, 0);
    si.owner_key = rows.text(i, 1);
    si.owner_value = rows.text(i, 2);
    si.serial = rows.text(i, 3);
    si.ends_at = from_secs(rows.integer(i, 4));
    si.reason = rows.text(i, 5);
    si.created_by = rows.text(i, 6);
    si.created_at = from_secs(rows.integer(i, 7));
    out.push_back(std::move(si));
  }
  return out;
}

Status PostgresStore::remove_silence(int64_t id) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("DELETE FROM alert_silences WHERE id = $1", {Param(id)}));
  if (r.affected() != 1)
    return make_error(ErrorCode::kNotFound, "no silence " + std::to_string(id));
  return {};
}

Status PostgresStore::add_dead_letter(const DeadLetter& d) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(
      c->exec("INSERT INTO alert_dead_letters (target, url, payload, last_error, "
              "attempts, at) VALUES ($1, $2, $3, $4, $5, $6)",
              {Param(d.target), Param(d.url), Param(d.payload), Param(d.last_error),
               Param(int64_t{d.attempts}), Param(unix_secs(d.at))}));
  return {};
}

Result<std::vector<DeadLetter>> PostgresStore::dead_letters(size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto rows, c->exec("SELECT id, target, url, payload, last_error, attempts, at FROM "
                                "alert_dead_letters ORDER BY id DESC LIMIT $1",
                                {Param(static_cast<int64_t>(limit))}));
  std::vector<DeadLetter> out;
  for (int i = 0; i < rows.size(); ++i) {
    DeadLetter d;
    d.id = rows.integer(i, 0);
    d.target = rows.text(i, 1);
    d.url = rows.text(i, 2);
    d.payload = rows.text(i, 3);
    d.last_error = rows.text(i, 4);
    d.attempts = static_cast<int>(rows.integer(i, 5));
    d.at = from_secs(rows.integer(i, 6));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace herald::store
