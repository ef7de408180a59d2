// Automatic retention in `herald serve` ([server] retention; the rule is
// store/retention.h): on the node holding the singleton lease, at most one
// batch per interval, each its own short transaction, so issuance waits at
// most one batch (SQLite: one write of the group commit; PostgreSQL: one
// statement that skips locked rows).
#include <nlohmann/json.hpp>

#include "obs/log.h"
#include "server/app.h"

namespace herald::server {

namespace {
// On SQLite a batch holds the writer (issuance queues behind it): 200
// records took ~0.1-0.2 s on a loaded 2-core machine at 200,000 records.
constexpr size_t kRetentionBatch = 200;
// After a full batch (a backlog): the next one soon; else rarely.
constexpr std::chrono::seconds kRetentionBacklogInterval{1};
constexpr std::chrono::seconds kRetentionIdleInterval{60};
}  // namespace

void App::run_retention(TimePoint now) {
  if (!server_config_.retention || now < retention_next_) return;
  const TimePoint expired_before = now - *server_config_.retention;
  auto gone = inventory_->prune_expired(expired_before, now, kRetentionBatch);
  if (!gone) {
    retention_next_ = now + kRetentionIdleInterval;
    obs::log(obs::LogLevel::kError, "retention: cannot prune expired certificates",
             {{"error", gone.error().describe()}});
    return;
  }
  retention_next_ =
      now + (gone->size() == kRetentionBatch ? kRetentionBacklogInterval : kRetentionIdleInterval);
  if (gone->empty()) return;
  nlohmann::json detail{{"expired_before", format_time(expired_before)},
                        {"count", gone->size()},
                        {"archive", nullptr},
                        {"by", "serve"},
                        {"node", node_id_}};
  if (auto s = inventory_->record_audit("prune", detail.dump()); !s) {
    obs::log(obs::LogLevel::kError, "retention: cannot write the audit entry",
             {{"error", s.error().describe()}});
  }
  obs::log(obs::LogLevel::kInfo, "retention: pruned expired certificates",
           {{"count", gone->size()},
            {"expired_before", format_time(expired_before)},
            {"first", gone->front().hex()},
            {"last", gone->back().hex()}});
}

}  // namespace herald::server
