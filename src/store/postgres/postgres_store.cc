// The PostgreSQL store: inventory, tokens, audit log, migrations (ACME state
// in postgres_acme.cc). Mirrors the SQLite adapter's semantics; where SQLite
// relied on its single writer, advisory locks and single statements keep
// several nodes consistent (see postgres_store.h).
#include "store/postgres/postgres_store.h"

#include <set>

#include <nlohmann/json.hpp>

#include "store/postgres/migrations.h"
#include "store/postgres/list_filter_sql.h"
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

namespace {

using nlohmann::json;
using postgres::Conn;
using postgres::Param;
using postgres::Rows;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

constexpr const char* kColumns = postgres_sql::kCertColumns;

Result<CertRecord> read_row(const Rows& s, int i) {
  CertRecord r;
  auto serial = Serial::parse(s.text(i, 0));
  auto issuer = Serial::parse(s.text(i, 1));
  if (!serial || !issuer) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
  r.serial = *serial;
  r.issuer_serial = *issuer;
  r.subject = s.text(i, 2);
  r.common_name = s.text(i, 3);
  for (const auto& v : json::parse(s.text(i, 4), nullptr, false)) {
    if (!v.is_string()) continue;
    auto san = x509::parse_san(v.get<std::string>());
    if (san) r.sans.push_back(*san);
  }
  r.issuer = s.text(i, 5);
  r.not_before = at(s.integer(i, 6));
  r.not_after = at(s.integer(i, 7));
  r.key_algorithm = s.text(i, 8);
  r.key_bits = static_cast<int>(s.integer(i, 9));
  r.signature_algorithm = s.text(i, 10);
  for (const auto& v : json::parse(s.text(i, 11), nullptr, false)) {
    if (v.is_string()) r.ext_key_usage.push_back(v.get<std::string>());
  }
  r.profile = s.text(i, 12);
  r.fingerprint_sha256 = s.text(i, 13);
  auto owner = json::parse(s.text(i, 14), nullptr, false);
  if (owner.is_object()) {
    for (auto& [k, v] : owner.items()) {
      if (v.is_string()) r.owner[k] = v.get<std::string>();
    }
  }
  r.status = s.text(i, 15) == "revoked" ? CertStatus::kRevoked : CertStatus::kValid;
  if (!s.is_null(i, 16)) r.revoked_at = at(s.integer(i, 16));
  if (!s.is_null(i, 17))
    r.revocation_reason = static_cast<x509::RevocationReason>(s.integer(i, 17));
  r.issued_at = at(s.integer(i, 18));
  r.der = s.bytes(i, 19);
  return r;
}

tl::unexpected<Error> not_found(const Serial& serial) {
  return make_error(ErrorCode::kNotFound,
                    "no certificate with serial " + serial.hex() + " in the inventory");
}

Status lock_xact(Conn& c, int64_t key) {
  HERALD_TRY_VOID(c.exec("SELECT pg_advisory_xact_lock($1)", {Param(key)}));
  return {};
}

}  // namespace

int PostgresStore::known_schema_version() {
  int v = 0;
  for (const auto& m : postgres::migrations()) v = std::max(v, m.version);
  return v;
}

Result<std::unique_ptr<Store>> open_postgres(const PostgresOptions& options, OpenMode mode,
                                             const Clock& clock) {
  HERALD_TRY(auto store, PostgresStore::open(options, mode, clock));
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const PostgresOptions& options,
                                                           OpenMode mode, const Clock& clock) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(options, clock));
  HERALD_TRY(auto lease, store->pool_.get());
  store->describe_ = "postgresql://" + lease->describe();
  HERALD_TRY_VOID(store->migrate(*lease, mode));
  return store;
}

std::string PostgresStore::describe() const { return describe_; }

// Under a session advisory lock, so two nodes opening an empty database at
// once apply each migration exactly once; each migration in its own
// transaction, recorded in schema_migrations.
Status PostgresStore::migrate(Conn& c, OpenMode mode) {
  HERALD_TRY_VOID(c.exec("SELECT pg_advisory_lock($1)", {Param(kMigrationLock)}));
  auto run = [&]() -> Status {
    HERALD_TRY(auto exists, c.exec("SELECT to_regclass('schema_migrations') IS NOT NULL"));
    if (!exists.boolean(0, 0)) {
      if (mode == OpenMode::kExisting) {
        return make_error(ErrorCode::kNotFound,
                          "no Herald schema in PostgreSQL database " + describe_);
      }
      HERALD_TRY_VOID(
          c.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
                 "NULL, applied_at BIGINT NOT NULL)"));
    }
    HERALD_TRY(int current, schema_version_on(c));
    const int known = known_schema_version();
    if (current > known) {
      return make_error(ErrorCode::kStore, "the PostgreSQL database has schema version " +
                                               std::to_string(current) +
                                               ", newer than this herald understands (" +
                                               std::to_string(known) + "); upgrade herald");
    }
    // Every migration not recorded yet, not only those past the newest:
    // numbers are reserved ahead and may land out of order (0009 before
    // 0008), and a database migrated in between must still get the gap.
    HERALD_TRY(auto done, c.exec("SELECT version FROM schema_migrations"));
    std::set<int64_t> applied_versions;
    for (int i = 0; i < done.size(); ++i) applied_versions.insert(done.integer(i, 0));
    for (const auto& m : postgres::migrations()) {
      if (applied_versions.count(m.version)) continue;
      auto applied = c.transaction([&](Conn& t) -> Status {
        HERALD_TRY_VOID(t.exec_script(m.sql));
        HERALD_TRY_VOID(
            t.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                   {Param(int64_t{m.version}), Param(m.name), Param(secs(clock_.now()))}));
        return {};
      });
      if (!applied) {
        Error e = applied.error();
        e.message = std::string("migration ") + m.name + ": " + e.message;
        return tl::unexpected(std::move(e));
      }
    }
    return {};
  };
  Status s = run();
  auto unlocked = c.exec("SELECT pg_advisory_unlock($1)", {Param(kMigrationLock)});
  if (s && !unlocked) return tl::unexpected(unlocked.error());
  return s;
}

Result<int> PostgresStore::schema_version_on(Conn& c) {
  HERALD_TRY(auto r, c.exec("SELECT coalesce(max(version), 0) FROM schema_migrations"));
  return static_cast<int>(r.integer(0, 0));
}

Result<int> PostgresStore::schema_version() {
  HERALD_TRY(auto c, pool_.get());
  return schema_version_on(*c);
}

Status PostgresStore::write(const std::function<Status(Conn&)>& body) {
  HERALD_TRY(auto c, pool_.get());
  return c->transaction(body);
}

Status PostgresStore::record_audit(std::string_view action, const std::string& detail) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(
      c->exec("INSERT INTO audit_log (at, action, serial, detail) VALUES ($1, $2, NULL, $3)",
              {Param(secs(clock_.now())), Param(action), Param(detail)}));
  return {};
}

Result<std::vector<std::pair<TimePoint, std::string>>> PostgresStore::audit_entries(
    std::string_view action) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT at, detail FROM audit_log WHERE action = $1 ORDER BY id",
                             {Param(action)}));
  std::vector<std::pair<TimePoint, std::string>> out;
  for (int i = 0; i < r.size(); ++i) out.emplace_back(at(r.integer(i, 0)), r.text(i, 1));
  return out;
}

// One statement, so atomic without BEGIN/COMMIT: one round trip and one
// commit (durable before the answer: synchronous_commit is on).
Status PostgresStore::insert(const CertRecord& r) {
  HERALD_TRY(auto c, pool_.get());
  return insert_one(*c, r);
}

// The same statement per row, in one transaction: all rows or none.
Status PostgresStore::insert_batch(std::span<const CertRecord> records) {
  return write([&](Conn& c) -> Status {
    for (const auto& r : records) {
      HERALD_TRY_VOID(insert_one(c, r));
    }
    return {};
  });
}

namespace {
// The 20 columns of kColumns, in order, as parameters $1..$20.
std::vector<Param> row_params(const CertRecord& r) {
  json sans = json::array();
  for (const auto& s : r.sans) sans.push_back(s.to_string());
  json owner = json::object();
  for (const auto& [k, v] : r.owner) owner[k] = v;
  return {Param(r.serial.hex()),
          Param(r.issuer_serial.hex()),
          Param(r.subject),
          Param(r.common_name),
          Param(sans.dump()),
          Param(r.issuer),
          Param(secs(r.not_before)),
          Param(secs(r.not_after)),
          Param(r.key_algorithm),
          Param(int64_t{r.key_bits}),
          Param(r.signature_algorithm),
          Param(json(r.ext_key_usage).dump()),
          Param(r.profile),
          Param(r.fingerprint_sha256),
          Param(owner.dump()),
          Param(r.status == CertStatus::kRevoked ? "revoked" : "valid"),
          Param::optional(r.revoked_at ? std::optional<int64_t>(secs(*r.revoked_at))
                                       : std::nullopt),
          Param::optional(r.revocation_reason
                              ? std::optional<int64_t>(static_cast<int64_t>(*r.revocation_reason))
                              : std::nullopt),
          Param(secs(r.issued_at)),
          Param::bytes(r.der)};
}

// The search rows of 0008_search.sql, as data-modifying CTEs after "cert"
// (the inserted row's serial), so in the certificate's statement: $21 the
// search keys (store::name_search_keys) and $22 the owner labels, as JSON.
const std::string kSearchRows =
    "names AS (INSERT INTO cert_names (name, serial) "
    "SELECT n, serial FROM cert, jsonb_array_elements_text($21::jsonb) AS n), "
    "labels AS (INSERT INTO cert_labels (key, value, serial) "
    "SELECT l.key, l.value, serial FROM cert, jsonb_each_text($22::jsonb) AS l) ";

void add_search_params(const CertRecord& r, std::vector<Param>& params) {
  params.emplace_back(json(name_search_keys(r.sans)).dump());
  json owner = json::object();
  for (const auto& [k, v] : r.owner) owner[k] = v;
  params.emplace_back(owner.dump());
}

Status insert_result(const Result<Rows>& inserted, const CertRecord& r) {
  if (!inserted) {
    if (postgres::sqlstate(inserted.error()) == postgres::kUniqueViolation) {
      return make_error(ErrorCode::kAlreadyExists,
                        "serial " + r.serial.hex() + " is already in the inventory");
    }
    return tl::unexpected(inserted.error());
  }
  return {};
}
}  // namespace

Status PostgresStore::insert_one(Conn& c, const CertRecord& r) {
  // The row and its audit entry in one statement (a data-modifying CTE): both
  // or neither, in one round trip.
  static const std::string sql =
      std::string("WITH cert AS (INSERT INTO certificates (") + kColumns +
      ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) "
      "RETURNING serial), " +
      kSearchRows +
      "INSERT INTO audit_log (at, action, serial, detail) "
      "SELECT $23::bigint, 'issue', serial, $24::text FROM cert";
  auto params = row_params(r);
  add_search_params(r, params);
  params.emplace_back(secs(clock_.now()));
  params.emplace_back(issue_audit_detail(r));
  return insert_result(c.exec(sql, params), r);
}

Status PostgresStore::insert_row(Conn& c, const CertRecord& r) {
  static const std::string sql =
      std::string("WITH cert AS (INSERT INTO certificates (") + kColumns +
      ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) "
      "RETURNING serial), " +
      kSearchRows + "SELECT 1";
  auto params = row_params(r);
  add_search_params(r, params);
  return insert_result(c.exec(sql, params), r);
}

Result<std::optional<CertRecord>> PostgresStore::find(const Serial& serial) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r,
             c->exec(std::string("SELECT ") + kColumns + " FROM certificates WHERE serial = $1",
                     {Param(serial.hex())}));
  if (r.size() == 0) return std::optional<CertRecord>{};
  HERALD_TRY(auto rec, read_row(r, 0));
  return std::optional<CertRecord>(std::move(rec));
}

Result<std::optional<CertStatus>> PostgresStore::status(const Serial& serial) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r,
             c->exec("SELECT status FROM certificates WHERE serial = $1", {Param(serial.hex())}));
  if (r.size() == 0) return std::optional<CertStatus>{};
  return std::optional<CertStatus>(r.text(0, 0) == "revoked" ? CertStatus::kRevoked
                                                             : CertStatus::kValid);
}

Result<std::optional<RevocationState>> PostgresStore::revocation_state(const Serial& serial) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT issuer_serial, status, revoked_at, revocation_reason, "
                             "not_after FROM certificates WHERE serial = $1",
                             {Param(serial.hex())}));
  if (r.size() == 0) return std::optional<RevocationState>{};
  auto issuer = Serial::parse(r.text(0, 0));
  if (!issuer) return make_error(ErrorCode::kStore, "corrupt issuer serial in inventory");
  RevocationState st{*issuer, r.text(0, 1) == "revoked" ? CertStatus::kRevoked : CertStatus::kValid,
                     std::nullopt, std::nullopt};
  if (!r.is_null(0, 2)) st.revoked_at = at(r.integer(0, 2));
  if (!r.is_null(0, 3)) st.reason = static_cast<x509::RevocationReason>(r.integer(0, 3));
  st.not_after = at(r.integer(0, 4));
  return std::optional<RevocationState>(std::move(st));
}

Result<std::vector<CertRecord>> PostgresStore::list(const ListFilter& f) {
  // From the SAN's or an owner label's set of serials, or a walk of the
  // notAfter order (list_filter_sql.h).
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto search_plan, postgres_sql::plan(*c, f, false));
  const auto q = postgres_sql::list_sql(f, search_plan, kColumns);
  HERALD_TRY(auto r, c->exec_unprepared(q.sql, q.params));
  std::vector<CertRecord> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    HERALD_TRY(auto rec, read_row(r, i));
    out.push_back(std::move(rec));
  }
  return out;
}

// Revocation events take their audit-log ids under kRevocationLock, held to
// commit: an event committed later never has a smaller id than one a
// follower has already seen.
Status PostgresStore::revoke(const Serial& serial, x509::RevocationReason reason, TimePoint when) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_xact(c, kRevocationLock));
    HERALD_TRY(auto q, c.exec("SELECT status, revocation_reason FROM certificates WHERE serial = "
                              "$1 FOR UPDATE",
                              {Param(serial.hex())}));
    if (q.size() == 0) return not_found(serial);
    if (q.text(0, 0) == "revoked") {
      auto current = static_cast<x509::RevocationReason>(q.integer(0, 1));
      bool on_hold = current == x509::RevocationReason::kCertificateHold;
      if (!on_hold || reason == x509::RevocationReason::kCertificateHold) {
        return make_error(ErrorCode::kConflict, "certificate " + serial.hex() +
                                                    " is already revoked (" +
                                                    std::string(x509::reason_name(current)) + ")");
      }
    }
    HERALD_TRY_VOID(
        c.exec("UPDATE certificates SET status = 'revoked', revoked_at = $1, "
               "revocation_reason = $2 WHERE serial = $3",
               {Param(secs(when)), Param(static_cast<int64_t>(reason)), Param(serial.hex())}));
    HERALD_TRY_VOID(
        c.exec("INSERT INTO audit_log (at, action, serial, detail) VALUES ($1, 'revoke', $2, $3)",
               {Param(secs(clock_.now())), Param(serial.hex()),
                Param(json{{"reason", x509::reason_name(reason)}}.dump())}));
    return {};
  });
}

Status PostgresStore::release_hold(const Serial& serial) {
  bool released = false;
  HERALD_TRY_VOID(write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_xact(c, kRevocationLock));
    HERALD_TRY(auto u, c.exec("UPDATE certificates SET status = 'valid', revoked_at = NULL, "
                              "revocation_reason = NULL WHERE serial = $1 AND status = 'revoked' "
                              "AND revocation_reason = 6",
                              {Param(serial.hex())}));
    if (u.affected() != 1) return {};
    HERALD_TRY_VOID(c.exec(
        "INSERT INTO audit_log (at, action, serial, detail) VALUES ($1, 'release_hold', $2, '{}')",
        {Param(secs(clock_.now())), Param(serial.hex())}));
    released = true;
    return {};
  }));
  if (released) return {};
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto q,
             c->exec("SELECT 1 FROM certificates WHERE serial = $1", {Param(serial.hex())}));
  if (q.size() == 0) return not_found(serial);
  return make_error(ErrorCode::kConflict,
                    "certificate " + serial.hex() +
                        " is not on hold; removeFromCRL only releases a certificateHold");
}

Result<std::vector<x509::RevokedEntry>> PostgresStore::revoked_by(const Serial& issuer,
                                                                  TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT serial, revoked_at, revocation_reason FROM certificates "
                             "WHERE issuer_serial = $1 AND status = 'revoked' AND "
                             "serial != issuer_serial AND not_after > $2",
                             {Param(issuer.hex()), Param(secs(now))}));
  std::vector<x509::RevokedEntry> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    auto serial = Serial::parse(r.text(i, 0));
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    out.push_back(
        {*serial, at(r.integer(i, 1)), static_cast<x509::RevocationReason>(r.integer(i, 2))});
  }
  return out;
}

Result<uint64_t> PostgresStore::next_crl_number(std::string_view ca) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("INSERT INTO crl_numbers (ca, number) VALUES ($1, 1) "
                             "ON CONFLICT (ca) DO UPDATE SET number = crl_numbers.number + 1 "
                             "RETURNING number",
                             {Param(ca)}));
  if (r.size() != 1) return make_error(ErrorCode::kStore, "cannot advance CRL number");
  return static_cast<uint64_t>(r.integer(0, 0));
}

Result<int64_t> PostgresStore::count() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT count(*) FROM certificates"));
  return r.integer(0, 0);
}

Result<int64_t> PostgresStore::count_expiring(TimePoint now, TimePoint before) {
  HERALD_TRY(auto c, pool_.get());
  // Both counts from indexes (0007, 0010): a row-by-row filter took 0.7 s
  // at 1M certificates.
  HERALD_TRY(auto r, c->exec("SELECT (SELECT count(*) FROM certificates WHERE status = 'valid' "
                             "AND not_after > $1 AND not_after <= $2) - (SELECT count(*) FROM "
                             "certificates WHERE (profile = 'ocsp-signer' OR (owner::jsonb ->> "
                             "'service') = 'herald-serve') AND status = 'valid' AND not_after > "
                             "$1 AND not_after <= $2)",
                             {Param(secs(now)), Param(secs(before))}));
  return r.integer(0, 0);
}

Result<std::vector<RevocationEvent>> PostgresStore::revocations_since(int64_t after, size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT id, serial FROM audit_log WHERE action IN ('revoke', "
                             "'release_hold') AND id > $1 ORDER BY id LIMIT $2",
                             {Param(after), Param(static_cast<int64_t>(limit))}));
  std::vector<RevocationEvent> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    auto serial = Serial::parse(r.text(i, 1));
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in audit log");
    out.push_back({r.integer(i, 0), *serial});
  }
  return out;
}

Result<int64_t> PostgresStore::last_revocation_id() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT coalesce(max(id), 0) FROM audit_log WHERE action IN "
                             "('revoke', 'release_hold')"));
  return r.integer(0, 0);
}

Result<int64_t> PostgresStore::add_token(const TokenRecord& t) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("INSERT INTO api_tokens (provisioner, description, sha256, "
                             "created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                             {Param(t.provisioner), Param(t.description), Param(t.sha256_hex),
                              Param(secs(t.created_at))}));
  return r.integer(0, 0);
}

namespace {
constexpr const char* kTokenColumns = "id, provisioner, description, sha256, created_at, revoked";
TokenRecord read_token(const Rows& r, int i) {
  return TokenRecord{r.integer(i, 0), r.text(i, 1),        r.text(i, 2),
                     r.text(i, 3),    at(r.integer(i, 4)), r.boolean(i, 5)};
}
}  // namespace

Result<std::optional<TokenRecord>> PostgresStore::find_token(std::string_view sha256_hex) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(token_mu_);
    auto it = token_cache_.find(std::string(sha256_hex));
    if (it != token_cache_.end()) {
      if (now - it->second.fetched < kTokenCacheTtl)
        return std::optional<TokenRecord>(it->second.token);
      token_cache_.erase(it);
    }
  }
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r,
             c->exec(std::string("SELECT ") + kTokenColumns + " FROM api_tokens WHERE sha256 = $1",
                     {Param(sha256_hex)}));
  if (r.size() == 0) return std::optional<TokenRecord>{};
  TokenRecord token = read_token(r, 0);
  std::lock_guard lock(token_mu_);
  if (token_cache_.size() >= kTokenCacheMax) token_cache_.clear();
  token_cache_.insert_or_assign(std::string(sha256_hex), CachedToken{token, now});
  return std::optional<TokenRecord>(std::move(token));
}

Result<std::vector<TokenRecord>> PostgresStore::list_tokens() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r,
             c->exec(std::string("SELECT ") + kTokenColumns + " FROM api_tokens ORDER BY id"));
  std::vector<TokenRecord> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_token(r, i));
  return out;
}

Status PostgresStore::revoke_token(int64_t id) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("UPDATE api_tokens SET revoked = true WHERE id = $1", {Param(id)}));
  {
    std::lock_guard lock(token_mu_);
    token_cache_.clear();
  }
  if (r.affected() != 1)
    return make_error(ErrorCode::kNotFound, "no API token with id " + std::to_string(id));
  return {};
}

Status PostgresStore::use_token_id(std::string_view jti, TimePoint expires_at, TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(c->exec("DELETE FROM used_token_ids WHERE expires_at < $1", {Param(secs(now))}));
  HERALD_TRY(auto r, c->exec("INSERT INTO used_token_ids (jti, expires_at) VALUES ($1, $2) "
                             "ON CONFLICT (jti) DO NOTHING",
                             {Param(jti), Param(secs(expires_at))}));
  if (r.affected() != 1)
    return make_error(ErrorCode::kConflict, "this one-time token was already used");
  return {};
}

// ------------------------------------------------------------ store migrate

Status PostgresStore::insert_record_only(const CertRecord& r) {
  HERALD_TRY(auto c, pool_.get());
  return insert_row(*c, r);
}

Status PostgresStore::insert_records_only(std::span<const CertRecord> records) {
  HERALD_TRY(auto c, pool_.get());
  return c->transaction([&](Conn& t) -> Status {
    for (const auto& r : records) {
      HERALD_TRY_VOID(insert_row(t, r));
    }
    return {};
  });
}

Result<std::vector<AuditRecord>> PostgresStore::audit_records(int64_t after, size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT id, at, action, serial, detail FROM audit_log WHERE id > $1 "
                             "ORDER BY id LIMIT $2",
                             {Param(after), Param(static_cast<int64_t>(limit))}));
  std::vector<AuditRecord> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    AuditRecord a;
    a.id = r.integer(i, 0);
    a.at = at(r.integer(i, 1));
    a.action = r.text(i, 2);
    if (!r.is_null(i, 3)) a.serial = r.text(i, 3);
    a.detail = r.text(i, 4);
    out.push_back(std::move(a));
  }
  return out;
}

// Under the revocation lock, as revoke() writes: revocation events among the
// rows keep their ids in commit order for the feed's followers.
Status PostgresStore::append_audit_records(const std::vector<AuditRecord>& rows) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_xact(c, kRevocationLock));
    for (const auto& a : rows) {
      HERALD_TRY_VOID(
          c.exec("INSERT INTO audit_log (at, action, serial, detail) VALUES ($1, $2, $3, $4)",
                 {Param(secs(a.at)), Param(a.action),
                  a.serial ? Param(*a.serial) : Param(std::nullopt), Param(a.detail)}));
    }
    return {};
  });
}

Result<std::vector<AcmeAccountRecord>> PostgresStore::acme_accounts() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT id, provisioner, thumbprint, data, created_at FROM "
                             "acme_accounts ORDER BY created_at, id"));
  std::vector<AcmeAccountRecord> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), at(r.integer(i, 4))});
  }
  return out;
}

Result<std::vector<UsedTokenId>> PostgresStore::used_token_ids(TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT jti, expires_at FROM used_token_ids WHERE expires_at >= $1 "
                             "ORDER BY jti",
                             {Param(secs(now))}));
  std::vector<UsedTokenId> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back({r.text(i, 0), at(r.integer(i, 1))});
  return out;
}

}  // namespace herald::store
