#include "store/migrate.h"

namespace herald::store {

Result<MigrateReport> migrate(Store& from, Store& to, TimePoint now) {
  MigrateReport report;
  HERALD_TRY(const int64_t already, to.count());
  if (already > 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      to.describe() + " already holds " + std::to_string(already) +
                          " certificates; migrate needs an empty store");
  }
  HERALD_TRY(const int64_t source_count, from.count());

  ListFilter all;
  all.now = now;
  HERALD_TRY(auto records, from.list(all));
  for (const auto& r : records) {
    if (auto s = to.insert(r); !s) {
      return tl::unexpected(std::move(s.error())
                                .with("serial", r.serial.hex())
                                .with("note", "the destination is partly filled: drop and "
                                              "recreate it before trying again"));
    }
    ++report.certificates;
    if (r.status == CertStatus::kRevoked) ++report.revoked;
  }

  HERALD_TRY(auto tokens, from.list_tokens());
  for (const auto& t : tokens) {
    HERALD_TRY(const int64_t id, to.add_token(t));
    if (t.revoked) HERALD_TRY_VOID(to.revoke_token(id));
    ++report.tokens;
  }

  HERALD_TRY(auto eab, from.acme_eab_list());
  for (const auto& k : eab) {
    if (!k.account_id.empty()) {
      ++report.eab_keys_bound;
      continue;
    }
    HERALD_TRY_VOID(to.acme_insert_eab(k));
    ++report.eab_keys;
  }

  // CRL numbers never go back: take the source's next number (spending it
  // there is harmless, the source is being left) and bring the destination's
  // counter up to it.
  for (const char* ca : {"root", "intermediate", "issuing"}) {
    HERALD_TRY(const uint64_t next, from.next_crl_number(ca));
    const uint64_t used = next - 1;
    uint64_t at = 0;
    while (at < used) {
      HERALD_TRY(at, to.next_crl_number(ca));
    }
    report.crl_numbers[ca] = used;
  }

  HERALD_TRY(const int64_t moved, to.count());
  if (moved != source_count || report.certificates != source_count) {
    return make_error(ErrorCode::kConflict,
                      "count check failed: the source holds " + std::to_string(source_count) +
                          " certificates, " + std::to_string(report.certificates) +
                          " were copied and the destination holds " + std::to_string(moved));
  }
  ListFilter revoked;
  revoked.now = now;
  revoked.status = "revoked";
  HERALD_TRY(auto source_revoked, from.list(revoked));
  HERALD_TRY(auto dest_revoked, to.list(revoked));
  if (source_revoked.size() != dest_revoked.size()) {
    return make_error(ErrorCode::kConflict,
                      "count check failed: " + std::to_string(source_revoked.size()) +
                          " revoked certificates in the source, " +
                          std::to_string(dest_revoked.size()) + " in the destination");
  }
  HERALD_TRY(auto dest_tokens, to.list_tokens());
  if (dest_tokens.size() != tokens.size()) {
    return make_error(ErrorCode::kConflict, "count check failed: tokens " +
                                                std::to_string(tokens.size()) + " vs " +
                                                std::to_string(dest_tokens.size()));
  }
  return report;
}

}  // namespace herald::store
