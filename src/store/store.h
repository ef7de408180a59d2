#pragma once
// The state of one CA, whichever database holds it: the inventory, API
// tokens and one-time-token ids, ACME state, and the audit log. `herald
// serve` and the CLI get a Store from store::open (store/open.h) and see
// only these interfaces; the adapters (sqlite/, postgres/) are chosen there
// and nowhere else.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "store/acme_store.h"
#include "store/inventory.h"

namespace herald::store {

// Operator actions that concern no certificate of the inventory (e.g.
// "trust_import"). Issuance and revocation are audited by the inventory
// itself, in the same transaction as the change.
class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // `detail` is a JSON object.
  [[nodiscard]] virtual Status record_audit(std::string_view action,
                                            const std::string& detail) = 0;
  // The entries for `action`, oldest first, as (at, detail).
  [[nodiscard]] virtual Result<std::vector<std::pair<TimePoint, std::string>>> audit_entries(
      std::string_view action) = 0;
};

class Store : public Inventory, public TokenStore, public AcmeStore, public AuditLog {
 public:
  // The schema version the database is at (each adapter counts its own).
  [[nodiscard]] virtual Result<int> schema_version() = 0;
  // Where the state lives, for logs and errors: "sqlite:/path/inventory.db",
  // "postgresql://user@host:5432/db" (never a password).
  [[nodiscard]] virtual std::string describe() const = 0;
};

enum class OpenMode { kCreate, kExisting };

}  // namespace herald::store
