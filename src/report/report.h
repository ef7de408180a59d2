#pragma once
// Reports over the inventory for people deciding something:
//
//   compliance     what breaks the rules of a well-run PKI today: weak keys,
//                  SHA-1 or MD5 signatures, lifetimes above policy, names
//                  only in the CN, certificates nobody owns, CAs that expire
//                  before what they sign or could sign.
//   blast radius   everything that chains to a certificate or CA, who owns
//                  it and what is still valid: what a revocation or a CA
//                  rotation would break, before it is done.
//
// Both walk the inventory page by page (keyset paging, 1,000 records per
// read), so memory stays bounded whatever its size; findings keep every
// rule's count and at most `max_examples` examples each.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "policy/config.h"
#include "store/deployments.h"
#include "store/inventory.h"

namespace herald::report {

// ---------------------------------------------------------------- compliance

struct Finding {
  std::string serial;   // hex
  std::string subject;  // subject, or the SANs when it has none
  std::string detail;   // what is wrong with this one, in words
};

struct Rule {
  std::string id;           // "weak-key", ...
  std::string severity;     // "high" | "medium" | "low"
  std::string description;  // what the rule checks, for the report's reader
  int64_t count = 0;
  std::vector<Finding> examples;  // the first max_examples
};

struct Compliance {
  TimePoint generated_at;
  int64_t certificates_checked = 0;  // valid at generated_at (CAs included)
  std::vector<Rule> rules;           // every rule, in a fixed order, also when clean
  [[nodiscard]] int64_t findings() const;
};

// The hierarchy's CA certificates, for the rules about CAs.
struct Hierarchy {
  store::CertRecord root, intermediate, issuing;
};

// Checks every valid certificate of `inventory` against `policy`, and with
// `deployments` (herald scan's sightings; null: none) what is deployed:
// expired certificates still presented, foreign certificates on the
// endpoints scanned, and the foreign ones against the key, signature and
// name rules too.
[[nodiscard]] Result<Compliance> compliance(store::Inventory& inventory,
                                            store::DeploymentStore* deployments,
                                            const policy::Policy& policy,
                                            const Hierarchy& hierarchy, TimePoint now,
                                            size_t max_examples = 20);

[[nodiscard]] nlohmann::json to_json(const Compliance& report);
[[nodiscard]] std::string to_text(const Compliance& report);
// A self-contained HTML page (no script, no external resource), every
// value escaped.
[[nodiscard]] std::string to_html(const Compliance& report);

// ---------------------------------------------------------------- blast radius

struct BlastRadius {
  store::CertRecord subject;   // the certificate or CA asked about
  TimePoint generated_at;
  int64_t total = 0;           // below it (not counting itself)
  int64_t valid = 0;           // of those, still valid: what a revocation breaks
  int64_t revoked = 0, expired = 0;
  std::map<std::string, int64_t> valid_by_profile;
  // Valid ones by owner: their owner labels other than the ones Herald sets,
  // as "k=v,k=v" ("(no owner)" when none).
  std::map<std::string, int64_t> valid_by_owner;
  std::vector<store::CertRecord> cas;          // CA certificates below it
  std::vector<store::CertRecord> valid_sample;  // the first valid ones (by notAfter)
  TimePoint last_valid_not_after{};             // when the last of them expires anyway
  // Where they were seen deployed (herald scan): how many sightings, and
  // the first ones, stalest first.
  int64_t deployed = 0;
  std::vector<store::DeploymentRecord> deployments_sample;
};

// What chains to `serial`: for a CA certificate, every certificate it signed
// and, for each CA among them, theirs; for a leaf, nothing but itself.
// kNotFound if the serial is not in the inventory.
// With `deployments` (null: none), also where they are deployed.
[[nodiscard]] Result<BlastRadius> blast_radius(store::Inventory& inventory,
                                               store::DeploymentStore* deployments,
                                               const Serial& serial, TimePoint now,
                                               size_t sample = 20);

[[nodiscard]] nlohmann::json to_json(const BlastRadius& report);
[[nodiscard]] std::string to_text(const BlastRadius& report);

// The owner labels a person set (not provisioner, renewed_from, acme_*),
// as "k=v,k=v", or "" if none.
[[nodiscard]] std::string owner_of(const store::CertRecord& record);

}  // namespace herald::report
