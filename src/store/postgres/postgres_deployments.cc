// Deployments on PostgreSQL (store/deployments.h): the tables of
// migrations/0005_deployments.sql.
#include "store/deployment_codec.h"
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

namespace {

using postgres::Conn;
using postgres::Param;
using postgres::Rows;
namespace codec = deployment_codec;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

constexpr const char* kDeploymentColumns =
    "endpoint, sni, fingerprint_sha256, serial_hex, is_foreign, subject, not_after, chain, "
    "problems, first_seen, last_seen";

std::vector<DeploymentRecord> read_deployments(const Rows& r) {
  std::vector<DeploymentRecord> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    DeploymentRecord d;
    d.endpoint = r.text(i, 0);
    d.sni = r.text(i, 1);
    d.fingerprint_sha256 = r.text(i, 2);
    d.serial_hex = r.text(i, 3);
    d.foreign = r.boolean(i, 4);
    d.subject = r.text(i, 5);
    d.not_after = at(r.integer(i, 6));
    d.chain_der = codec::decode_chain(r.text(i, 7));
    d.problems = codec::decode_problems(r.text(i, 8));
    d.first_seen = at(r.integer(i, 9));
    d.last_seen = at(r.integer(i, 10));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

Result<SightingResult> PostgresStore::record_sighting(const Sighting& s) {
  if (s.endpoint.empty() || s.leaf.fingerprint_sha256.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a sighting needs an endpoint and the leaf's fingerprint");
  }
  SightingResult result;
  const std::string chain = codec::encode_chain(s.chain_der);
  const std::string problems = codec::encode_problems(s.problems);
  auto st = write([&](Conn& c) -> Status {
    result = {};
    // By the primary key: the certificates table has no fingerprint index
    // (migration 0004), and a certificate's fingerprint fixes its serial.
    result.foreign = true;
    if (auto serial = Serial::parse(s.leaf.serial_hex)) {
      HERALD_TRY(auto known,
                 c.exec("SELECT 1 FROM certificates WHERE serial = $1 AND fingerprint_sha256 = $2",
                        {Param(serial->hex()), Param(s.leaf.fingerprint_sha256)}));
      result.foreign = known.size() == 0;
    }
    if (result.foreign) {
      HERALD_TRY_VOID(c.exec(
          "INSERT INTO discovered_certificates (fingerprint_sha256, serial_hex, subject, issuer, "
          "sans, not_before, not_after, key_algorithm, key_bits, signature_algorithm, der, "
          "first_seen) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) "
          "ON CONFLICT (fingerprint_sha256) DO NOTHING",
          {Param(s.leaf.fingerprint_sha256), Param(s.leaf.serial_hex), Param(s.leaf.subject),
           Param(s.leaf.issuer), Param(codec::encode_strings(s.leaf.sans)),
           Param(secs(s.leaf.not_before)), Param(secs(s.leaf.not_after)),
           Param(s.leaf.key_algorithm), Param(int64_t{s.leaf.key_bits}),
           Param(s.leaf.signature_algorithm), Param::bytes(s.leaf.der), Param(secs(s.at))}));
    }
    // xmax = 0 only on a freshly inserted row.
    HERALD_TRY(auto up,
               c.exec(std::string("INSERT INTO deployments (") + kDeploymentColumns +
                          ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10) "
                          "ON CONFLICT (endpoint, sni, fingerprint_sha256) DO UPDATE SET "
                          "is_foreign = EXCLUDED.is_foreign, chain = EXCLUDED.chain, "
                          "problems = EXCLUDED.problems, "
                          "first_seen = LEAST(deployments.first_seen, EXCLUDED.first_seen), "
                          "last_seen = GREATEST(deployments.last_seen, EXCLUDED.last_seen) "
                          "RETURNING (xmax = 0)",
                      {Param(s.endpoint), Param(s.sni), Param(s.leaf.fingerprint_sha256),
                       Param(s.leaf.serial_hex), Param(result.foreign ? "true" : "false"),
                       Param(s.leaf.subject), Param(secs(s.leaf.not_after)), Param(chain),
                       Param(problems), Param(secs(s.at))}));
    result.new_deployment = up.size() == 1 && up.boolean(0, 0);
    return {};
  });
  if (!st) return tl::unexpected(st.error());
  return result;
}

Result<std::vector<DeploymentRecord>> PostgresStore::deployments_of_serial(const Serial& serial) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kDeploymentColumns +
                                 " FROM deployments WHERE fingerprint_sha256 = (SELECT "
                                 "fingerprint_sha256 FROM certificates WHERE serial = $1) "
                                 "ORDER BY last_seen DESC, endpoint, sni",
                             {Param(serial.hex())}));
  return read_deployments(r);
}

Result<std::vector<DeploymentRecord>> PostgresStore::deployments_of_fingerprint(
    std::string_view fingerprint_sha256) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kDeploymentColumns +
                                 " FROM deployments WHERE fingerprint_sha256 = $1 "
                                 "ORDER BY last_seen DESC, endpoint, sni",
                             {Param(fingerprint_sha256)}));
  return read_deployments(r);
}

Result<std::vector<DeploymentRecord>> PostgresStore::deployments(const DeploymentFilter& f) {
  std::string sql = std::string("SELECT ") + kDeploymentColumns + " FROM deployments WHERE TRUE";
  std::vector<Param> params;
  if (f.not_seen_since) {
    params.emplace_back(secs(*f.not_seen_since));
    sql += " AND last_seen < $" + std::to_string(params.size());
  }
  if (f.kind == DeploymentKind::kForeign) sql += " AND is_foreign";
  if (f.kind == DeploymentKind::kInventory) sql += " AND NOT is_foreign";
  sql += " ORDER BY last_seen, endpoint, sni, fingerprint_sha256";
  if (f.limit != 0) {
    params.emplace_back(static_cast<int64_t>(f.limit));
    sql += " LIMIT $" + std::to_string(params.size());
  }
  params.emplace_back(static_cast<int64_t>(f.offset));
  sql += " OFFSET $" + std::to_string(params.size());
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(sql, params));
  return read_deployments(r);
}

Result<std::vector<DiscoveredCertificate>> PostgresStore::discovered_certificates(size_t limit,
                                                                                  size_t offset) {
  std::string sql =
      "SELECT fingerprint_sha256, serial_hex, subject, issuer, sans, not_before, not_after, "
      "key_algorithm, key_bits, signature_algorithm, der, first_seen "
      "FROM discovered_certificates ORDER BY not_after, fingerprint_sha256";
  std::vector<Param> params;
  if (limit != 0) {
    params.emplace_back(static_cast<int64_t>(limit));
    sql += " LIMIT $1";
  }
  params.emplace_back(static_cast<int64_t>(offset));
  sql += " OFFSET $" + std::to_string(params.size());
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(sql, params));
  std::vector<DiscoveredCertificate> out;
  for (int i = 0; i < r.size(); ++i) {
    DiscoveredCertificate d;
    d.fingerprint_sha256 = r.text(i, 0);
    d.serial_hex = r.text(i, 1);
    d.subject = r.text(i, 2);
    d.issuer = r.text(i, 3);
    d.sans = codec::decode_strings(r.text(i, 4));
    d.not_before = at(r.integer(i, 5));
    d.not_after = at(r.integer(i, 6));
    d.key_algorithm = r.text(i, 7);
    d.key_bits = static_cast<int>(r.integer(i, 8));
    d.signature_algorithm = r.text(i, 9);
    d.der = r.bytes(i, 10);
    d.first_seen = at(r.integer(i, 11));
    out.push_back(std::move(d));
  }
  return out;
}

Result<DeploymentCounts> PostgresStore::deployment_counts() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT (SELECT count(DISTINCT endpoint) FROM deployments), "
                             "(SELECT count(*) FROM deployments), "
                             "(SELECT count(*) FROM discovered_certificates)"));
  DeploymentCounts out;
  out.endpoints = r.integer(0, 0);
  out.deployments = r.integer(0, 1);
  out.foreign_certificates = r.integer(0, 2);
  return out;
}

}  // namespace herald::store
