// Pre-signed OCSP answers on PostgreSQL (store/ocsp_answers.h): the
// ocsp_answers table of 0009_ocsp_answers.sql, shared by every node.
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

using postgres::Param;

namespace {

int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint at(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

constexpr const char* kAnswerColumns =
    "serial, not_after, this_update, next_update, refresh_at, status, reason, sha1_der, "
    "sha256_der";

Result<OcspAnswer> read_answer(const postgres::Rows& r, int i) {
  OcspAnswer a;
  auto serial = Serial::parse(r.text(i, 0));
  if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in ocsp_answers");
  a.serial = *serial;
  a.not_after = at(r.integer(i, 1));
  a.this_update = at(r.integer(i, 2));
  a.next_update = at(r.integer(i, 3));
  a.refresh_at = at(r.integer(i, 4));
  a.status = r.text(i, 5) == "revoked" ? CertStatus::kRevoked : CertStatus::kValid;
  if (!r.is_null(i, 6)) a.reason = static_cast<int>(r.integer(i, 6));
  a.sha1_der = r.bytes(i, 7);
  if (!r.is_null(i, 8)) a.sha256_der = r.bytes(i, 8);
  return a;
}

}  // namespace

Status PostgresStore::put_ocsp_answers(const std::vector<OcspAnswer>& answers) {
  if (answers.empty()) return {};
  HERALD_TRY(auto c, pool_.get());
  return c->transaction([&](postgres::Conn& t) -> Status {
    for (const auto& a : answers) {
      // Stored only while the certificate is still in the state the answer
      // states, and never over a row signed later (a slower node's).
      HERALD_TRY_VOID(t.exec(
          "INSERT INTO ocsp_answers (serial, not_after, this_update, next_update, refresh_at, "
          "status, reason, sha1_der, sha256_der) "
          "SELECT $1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::text, "
          "$7::integer, $8::bytea, $9::bytea WHERE EXISTS (SELECT 1 FROM certificates "
          "WHERE serial = $1::text AND status = $6::text AND coalesce(revocation_reason, -1) = "
          "coalesce($7::integer, -1)) "
          "ON CONFLICT (serial) DO UPDATE SET not_after = EXCLUDED.not_after, "
          "this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, "
          "refresh_at = EXCLUDED.refresh_at, status = EXCLUDED.status, reason = EXCLUDED.reason, "
          "sha1_der = EXCLUDED.sha1_der, sha256_der = EXCLUDED.sha256_der "
          "WHERE EXCLUDED.this_update >= ocsp_answers.this_update",
          {Param(a.serial.hex()), Param(unix_seconds(a.not_after)),
           Param(unix_seconds(a.this_update)), Param(unix_seconds(a.next_update)),
           Param(unix_seconds(a.refresh_at)),
           Param(a.status == CertStatus::kRevoked ? "revoked" : "valid"),
           a.reason ? Param(int64_t{*a.reason}) : Param(std::nullopt), Param::bytes(a.sha1_der),
           a.sha256_der.empty() ? Param(std::nullopt) : Param::bytes(a.sha256_der)}));
    }
    return {};
  });
}

Result<std::optional<OcspAnswer>> PostgresStore::ocsp_answer(const Serial& serial) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kAnswerColumns +
                                 " FROM ocsp_answers WHERE serial = $1",
                             {Param(serial.hex())}));
  if (r.size() == 0) return std::optional<OcspAnswer>{};
  HERALD_TRY(auto a, read_answer(r, 0));
  return std::optional<OcspAnswer>(std::move(a));
}

Result<std::vector<OcspAnswer>> PostgresStore::ocsp_answers_due(TimePoint now, size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kAnswerColumns +
                                 " FROM ocsp_answers WHERE refresh_at <= $1 "
                                 "ORDER BY refresh_at LIMIT $2",
                             {Param(unix_seconds(now)), Param(static_cast<int64_t>(limit))}));
  std::vector<OcspAnswer> out;
  for (int i = 0; i < r.size(); ++i) {
    HERALD_TRY(auto a, read_answer(r, i));
    out.push_back(std::move(a));
  }
  return out;
}

Result<std::vector<OcspAnswer>> PostgresStore::latest_ocsp_answers(size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kAnswerColumns +
                                 " FROM ocsp_answers ORDER BY refresh_at DESC LIMIT $1",
                             {Param(static_cast<int64_t>(limit))}));
  std::vector<OcspAnswer> out;
  for (int i = 0; i < r.size(); ++i) {
    HERALD_TRY(auto a, read_answer(r, i));
    out.push_back(std::move(a));
  }
  return out;
}

Status PostgresStore::delete_ocsp_answers(const std::vector<Serial>& serials) {
  if (serials.empty()) return {};
  std::string list = "{";
  for (size_t i = 0; i < serials.size(); ++i) {
    if (i) list += ',';
    list += serials[i].hex();  // upper-case hex: nothing to quote in an array literal
  }
  list += '}';
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(
      c->exec("DELETE FROM ocsp_answers WHERE serial = ANY($1::text[])", {Param(list)}));
  return {};
}

Result<OcspGapPage> PostgresStore::certificates_without_ocsp_answer(
    const Serial& issuer, TimePoint now, const std::optional<std::pair<TimePoint, Serial>>& after,
    size_t limit) {
  std::vector<Param> params{Param(issuer.hex()), Param(unix_seconds(now))};
  std::string sql =
      "SELECT c.not_after, c.serial, c.issuer_serial = $1, o.serial IS NULL FROM certificates c "
      "LEFT JOIN ocsp_answers o ON o.serial = c.serial WHERE c.not_after > $2";
  if (after) {
    sql += " AND c.not_after >= $3 AND (c.not_after > $3 OR c.serial > $4)";
    params.emplace_back(unix_seconds(after->first));
    params.emplace_back(after->second.hex());
  }
  sql += " ORDER BY c.not_after, c.serial LIMIT $" + std::to_string(params.size() + 1);
  params.emplace_back(static_cast<int64_t>(limit));
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(sql, params));
  OcspGapPage page;
  for (int i = 0; i < r.size(); ++i) {
    if (r.text(i, 2) == "t" && r.text(i, 3) == "t") {
      auto serial = Serial::parse(r.text(i, 1));
      if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
      page.missing.push_back(*serial);
    }
  }
  if (limit > 0 && static_cast<size_t>(r.size()) == limit) {
    const int last = r.size() - 1;
    auto serial = Serial::parse(r.text(last, 1));
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    page.next = std::pair{at(r.integer(last, 0)), *serial};
  }
  return page;
}

Result<int64_t> PostgresStore::count_ocsp_answers() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT count(*) FROM ocsp_answers"));
  return r.integer(0, 0);
}

}  // namespace herald::store
