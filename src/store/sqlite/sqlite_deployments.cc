// Deployments on SQLite (store/deployments.h): the deployments and
// discovered_certificates tables of migration 12.
#include <sqlite3.h>

#include "store/deployment_codec.h"
#include "store/sqlite/fingerprint_column.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {

namespace {

using sqlite::Connection;
using sqlite::Stmt;
namespace codec = deployment_codec;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

constexpr const char* kDeploymentColumns =
    "endpoint, sni, fingerprint_sha256, serial_hex, is_foreign, subject, not_after, chain, "
    "problems, first_seen, last_seen";

DeploymentRecord read_deployment(Stmt& s) {
  DeploymentRecord d;
  d.endpoint = s.text(0);
  d.sni = s.text(1);
  d.fingerprint_sha256 = s.text(2);
  d.serial_hex = s.text(3);
  d.foreign = s.integer(4) != 0;
  d.subject = s.text(5);
  d.not_after = at(s.integer(6));
  d.chain_der = codec::decode_chain(s.text(7));
  d.problems = codec::decode_problems(s.text(8));
  d.first_seen = at(s.integer(9));
  d.last_seen = at(s.integer(10));
  return d;
}

Result<std::vector<DeploymentRecord>> read_deployments(Connection& c, Stmt& q) {
  std::vector<DeploymentRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_deployment(q));
  if (!q.ok() || rc != SQLITE_DONE) return c.error("cannot read deployments");
  return out;
}

}  // namespace

Result<SightingResult> SqliteInventory::record_sighting(const Sighting& s) {
  if (s.endpoint.empty() || s.leaf.fingerprint_sha256.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a sighting needs an endpoint and the leaf's fingerprint");
  }
  SightingResult result;
  const std::string chain = codec::encode_chain(s.chain_der);
  const std::string problems = codec::encode_problems(s.problems);
  auto st = write([&](Connection& c) -> Status {
    result = {};
    {
      // As stored, or as text (rows written before fingerprint_column.h).
      Stmt q(c, "SELECT 1 FROM certificates WHERE fingerprint_sha256 IN (?, ?)");
      sqlite::bind_fingerprint(q, 1, s.leaf.fingerprint_sha256);
      q.bind(2, s.leaf.fingerprint_sha256);
      int rc = q.step();
      if (!q.ok() || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        return c.error("cannot look up the inventory");
      }
      result.foreign = rc != SQLITE_ROW;
    }
    if (result.foreign) {
      Stmt d(c,
             "INSERT INTO discovered_certificates (fingerprint_sha256, serial_hex, subject, "
             "issuer, sans, not_before, not_after, key_algorithm, key_bits, signature_algorithm, "
             "der, first_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
             "ON CONFLICT (fingerprint_sha256) DO NOTHING");
      d.bind(1, s.leaf.fingerprint_sha256);
      d.bind(2, s.leaf.serial_hex);
      d.bind(3, s.leaf.subject);
      d.bind(4, s.leaf.issuer);
      d.bind(5, codec::encode_strings(s.leaf.sans));
      d.bind(6, secs(s.leaf.not_before));
      d.bind(7, secs(s.leaf.not_after));
      d.bind(8, s.leaf.key_algorithm);
      d.bind(9, int64_t{s.leaf.key_bits});
      d.bind(10, s.leaf.signature_algorithm);
      d.bind_blob(11, s.leaf.der);
      d.bind(12, secs(s.at));
      if (!d.ok() || d.step() != SQLITE_DONE)
        return c.error("cannot record discovered certificate");
    }
    {
      Stmt q(c,
             "SELECT 1 FROM deployments WHERE endpoint = ? AND sni = ? AND fingerprint_sha256 = ?");
      q.bind(1, s.endpoint);
      q.bind(2, s.sni);
      q.bind(3, s.leaf.fingerprint_sha256);
      int rc = q.step();
      if (!q.ok() || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        return c.error("cannot look up deployments");
      }
      result.new_deployment = rc != SQLITE_ROW;
    }
    Stmt u(c, std::string("INSERT INTO deployments (") + kDeploymentColumns +
                  ") VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                  "ON CONFLICT (endpoint, sni, fingerprint_sha256) DO UPDATE SET "
                  "is_foreign = excluded.is_foreign, chain = excluded.chain, "
                  "problems = excluded.problems, "
                  "first_seen = min(first_seen, excluded.first_seen), "
                  "last_seen = max(last_seen, excluded.last_seen)");
    u.bind(1, s.endpoint);
    u.bind(2, s.sni);
    u.bind(3, s.leaf.fingerprint_sha256);
    u.bind(4, s.leaf.serial_hex);
    u.bind(5, int64_t{result.foreign ? 1 : 0});
    u.bind(6, s.leaf.subject);
    u.bind(7, secs(s.leaf.not_after));
    u.bind(8, chain);
    u.bind(9, problems);
    u.bind(10, secs(s.at));
    u.bind(11, secs(s.at));
    if (!u.ok() || u.step() != SQLITE_DONE) return c.error("cannot record deployment");
    return {};
  });
  if (!st) return tl::unexpected(st.error());
  return result;
}

Result<std::vector<DeploymentRecord>> SqliteInventory::deployments_of_serial(const Serial& serial) {
  auto lease = reader();
  std::string fingerprint;
  {
    Stmt f(lease.conn, "SELECT fingerprint_sha256 FROM certificates WHERE serial = ?");
    f.bind(1, serial.hex());
    int rc = f.step();
    if (!f.ok() || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
      return lease.conn.error("cannot look up the inventory");
    }
    if (rc == SQLITE_DONE) return std::vector<DeploymentRecord>{};
    fingerprint = sqlite::read_fingerprint(f, 0);
  }
  Stmt q(lease.conn, std::string("SELECT ") + kDeploymentColumns +
                         " FROM deployments WHERE fingerprint_sha256 = ? "
                         "ORDER BY last_seen DESC, endpoint, sni");
  q.bind(1, fingerprint);
  return read_deployments(lease.conn, q);
}

Result<std::vector<DeploymentRecord>> SqliteInventory::deployments_of_fingerprint(
    std::string_view fingerprint_sha256) {
  auto lease = reader();
  Stmt q(lease.conn, std::string("SELECT ") + kDeploymentColumns +
                         " FROM deployments WHERE fingerprint_sha256 = ? "
                         "ORDER BY last_seen DESC, endpoint, sni");
  q.bind(1, fingerprint_sha256);
  return read_deployments(lease.conn, q);
}

Result<std::vector<DeploymentRecord>> SqliteInventory::deployments(const DeploymentFilter& f) {
  std::string sql = std::string("SELECT ") + kDeploymentColumns + " FROM deployments WHERE 1 = 1";
  if (f.not_seen_since) sql += " AND last_seen < ?";
  if (f.kind == DeploymentKind::kForeign) sql += " AND is_foreign = 1";
  if (f.kind == DeploymentKind::kInventory) sql += " AND is_foreign = 0";
  sql += " ORDER BY last_seen, endpoint, sni, fingerprint_sha256 LIMIT ? OFFSET ?";
  auto lease = reader();
  Stmt q(lease.conn, sql);
  int i = 1;
  if (f.not_seen_since) q.bind(i++, secs(*f.not_seen_since));
  q.bind(i++, f.limit == 0 ? int64_t{-1} : static_cast<int64_t>(f.limit));
  q.bind(i++, static_cast<int64_t>(f.offset));
  return read_deployments(lease.conn, q);
}

Result<std::vector<DiscoveredCertificate>> SqliteInventory::discovered_certificates(size_t limit,
                                                                                    size_t offset) {
  auto lease = reader();
  Connection& c = lease.conn;
  Stmt q(c,
         "SELECT fingerprint_sha256, serial_hex, subject, issuer, sans, not_before, not_after, "
         "key_algorithm, key_bits, signature_algorithm, der, first_seen "
         "FROM discovered_certificates ORDER BY not_after, fingerprint_sha256 LIMIT ? OFFSET ?");
  q.bind(1, limit == 0 ? int64_t{-1} : static_cast<int64_t>(limit));
  q.bind(2, static_cast<int64_t>(offset));
  std::vector<DiscoveredCertificate> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    DiscoveredCertificate d;
    d.fingerprint_sha256 = q.text(0);
    d.serial_hex = q.text(1);
    d.subject = q.text(2);
    d.issuer = q.text(3);
    d.sans = codec::decode_strings(q.text(4));
    d.not_before = at(q.integer(5));
    d.not_after = at(q.integer(6));
    d.key_algorithm = q.text(7);
    d.key_bits = static_cast<int>(q.integer(8));
    d.signature_algorithm = q.text(9);
    d.der = q.blob(10);
    d.first_seen = at(q.integer(11));
    out.push_back(std::move(d));
  }
  if (!q.ok() || rc != SQLITE_DONE) return c.error("cannot read discovered certificates");
  return out;
}

Result<DeploymentCounts> SqliteInventory::deployment_counts() {
  auto lease = reader();
  Connection& c = lease.conn;
  Stmt q(c,
         "SELECT (SELECT count(DISTINCT endpoint) FROM deployments), "
         "(SELECT count(*) FROM deployments), (SELECT count(*) FROM discovered_certificates)");
  if (!q.ok() || q.step() != SQLITE_ROW) return c.error("cannot count deployments");
  DeploymentCounts out;
  out.endpoints = q.integer(0);
  out.deployments = q.integer(1);
  out.foreign_certificates = q.integer(2);
  return out;
}

}  // namespace herald::store
