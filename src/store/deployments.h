#pragma once
// Deployments: where certificates were seen presented by TLS endpoints
// (`herald scan`), whoever issued them. A sighting is an upsert keyed by
// (endpoint, SNI name sent, leaf fingerprint): first_seen stays, last_seen,
// the presented chain and the problems found move to the newest sighting.
// A leaf the inventory does not know (no certificate record with its
// fingerprint: not issued by this CA) is "foreign" and is kept once in the
// discovered-certificates table. An interface the core owns; both adapters
// implement it (sqlite/sqlite_deployments.cc, postgres/postgres_deployments.cc).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"

namespace herald::store {

// A problem found on a presented chain: a short stable code (a verify
// finding's code, e.g. "expired", "hostname_mismatch", "untrusted_root",
// "missing_intermediate") and a human message.
struct ChainProblem {
  std::string code;
  std::string message;
  friend bool operator==(const ChainProblem&, const ChainProblem&) = default;
};

// What is known of a presented leaf, parsed by the caller (the store does not
// parse certificates).
struct DiscoveredCertificate {
  std::string fingerprint_sha256;  // "AB:CD:..." as in CertRecord
  std::string serial_hex;          // the certificate's serial, hex
  std::string subject;
  std::string issuer;
  std::vector<std::string> sans;  // "dns:a.example", "ip:10.0.0.1", ...
  TimePoint not_before;
  TimePoint not_after;
  std::string key_algorithm;  // "ec-p256", "rsa-2048", ...
  int key_bits = 0;
  std::string signature_algorithm;
  Bytes der;
  TimePoint first_seen;  // set by the store (ignored in a Sighting)
};

struct Sighting {
  std::string endpoint;  // "host:port" or "[v6]:port"
  std::string sni;       // the SNI name sent, "" for none
  DiscoveredCertificate leaf;
  std::vector<Bytes> chain_der;  // as presented, leaf first
  std::vector<ChainProblem> problems;
  TimePoint at;
};

struct DeploymentRecord {
  std::string endpoint;
  std::string sni;
  std::string fingerprint_sha256;
  std::string serial_hex;  // the leaf's serial
  bool foreign = false;    // not in the inventory
  std::string subject;
  TimePoint not_after;
  std::vector<Bytes> chain_der;  // the last presented chain, leaf first
  std::vector<ChainProblem> problems;
  TimePoint first_seen;
  TimePoint last_seen;
};

enum class DeploymentKind { kAll, kForeign, kInventory };

struct DeploymentFilter {
  std::optional<TimePoint> not_seen_since;  // last_seen < this
  DeploymentKind kind = DeploymentKind::kAll;
  size_t limit = 0;  // 0 = no limit
  size_t offset = 0;
};

struct DeploymentCounts {
  int64_t endpoints = 0;             // distinct endpoints with at least one deployment
  int64_t deployments = 0;           // (endpoint, sni, leaf) rows
  int64_t foreign_certificates = 0;  // discovered certificates
};

struct SightingResult {
  bool foreign = false;         // the leaf is not in the inventory
  bool new_deployment = false;  // first sighting of this (endpoint, sni, leaf)
};

class DeploymentStore {
 public:
  virtual ~DeploymentStore() = default;
  // Records one sighting (durable on return). kInvalidArgument for an empty
  // endpoint or fingerprint.
  [[nodiscard]] virtual Result<SightingResult> record_sighting(const Sighting& sighting) = 0;
  // Deployments of an inventory certificate (by serial), or of any leaf by
  // fingerprint; most recently seen first.
  [[nodiscard]] virtual Result<std::vector<DeploymentRecord>> deployments_of_serial(
      const Serial& serial) = 0;
  [[nodiscard]] virtual Result<std::vector<DeploymentRecord>> deployments_of_fingerprint(
      std::string_view fingerprint_sha256) = 0;
  // Ordered by last_seen ascending (stalest first), then endpoint, sni.
  [[nodiscard]] virtual Result<std::vector<DeploymentRecord>> deployments(
      const DeploymentFilter& filter) = 0;
  // Foreign certificates, ordered by not_after ascending; limit 0 = all.
  [[nodiscard]] virtual Result<std::vector<DiscoveredCertificate>> discovered_certificates(
      size_t limit, size_t offset) = 0;
  [[nodiscard]] virtual Result<DeploymentCounts> deployment_counts() = 0;
};

}  // namespace herald::store
