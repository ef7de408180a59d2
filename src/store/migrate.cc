#include "store/migrate.h"

#include <functional>
#include <unordered_map>

namespace herald::store {

namespace {

tl::unexpected<Error> partly(Error e) {
  return tl::unexpected(std::move(e).with(
      "note", "the destination is partly filled: drop and recreate it before trying again"));
}

tl::unexpected<Error> mismatch(const std::string& what, int64_t source, int64_t dest) {
  return make_error(ErrorCode::kConflict, "count check failed: " + what + ": " +
                                              std::to_string(source) + " in the source, " +
                                              std::to_string(dest) + " in the destination");
}

constexpr size_t kAuditPage = 1000;
constexpr size_t kCertificatePage = 1000;

// Every audit row of `s`, oldest first, page by page.
Status each_audit_page(Store& s, const std::function<Status(std::vector<AuditRecord>&)>& f) {
  int64_t after = 0;
  for (;;) {
    HERALD_TRY(auto page, s.audit_records(after, kAuditPage));
    if (page.empty()) return {};
    after = page.back().id;
    HERALD_TRY_VOID(f(page));
    if (page.size() < kAuditPage) return {};
  }
}

Result<int64_t> audit_count(Store& s) {
  int64_t n = 0;
  HERALD_TRY_VOID(each_audit_page(s, [&](std::vector<AuditRecord>& page) -> Status {
    n += static_cast<int64_t>(page.size());
    return {};
  }));
  return n;
}

}  // namespace

Result<MigrateReport> migrate(Store& from, Store& to, TimePoint now) {
  MigrateReport report;
  HERALD_TRY(const int64_t already, to.count());
  if (already > 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      to.describe() + " already holds " + std::to_string(already) +
                          " certificates; migrate needs an empty store");
  }
  HERALD_TRY(const int64_t source_count, from.count());
  HERALD_TRY(const int64_t dest_audit_before, audit_count(to));

  // Certificates, without new 'issue' entries: the audit log follows as is.
  // A page at a time in the listing's order (keyset), one transaction per
  // page, so memory stays bounded at any inventory size.
  ListFilter page_filter;
  page_filter.now = now;
  page_filter.limit = kCertificatePage;
  for (;;) {
    HERALD_TRY(auto page, from.list(page_filter));
    if (page.empty()) break;
    if (auto s = to.insert_records_only(page); !s)
      return partly(std::move(s.error()).with("first_serial", page.front().serial.hex()));
    for (const auto& r : page) {
      ++report.certificates;
      if (r.status == CertStatus::kRevoked) ++report.revoked;
    }
    if (page.size() < kCertificatePage) break;
    page_filter.after = std::pair{page.back().not_after, page.back().serial};
  }

  // The audit log, in order (revocation events keep their order, so the
  // feed's followers on the destination see them as the source did).
  if (auto s = each_audit_page(from, [&](std::vector<AuditRecord>& page) -> Status {
        HERALD_TRY_VOID(to.append_audit_records(page));
        report.audit_entries += static_cast<int64_t>(page.size());
        return {};
      });
      !s) {
    return partly(std::move(s.error()));
  }

  HERALD_TRY(auto tokens, from.list_tokens());
  int64_t revoked_tokens = 0;
  for (const auto& t : tokens) {
    auto id = to.add_token(t);
    if (!id) return partly(std::move(id.error()));
    if (t.revoked) {
      if (auto s = to.revoke_token(*id); !s) return partly(std::move(s.error()));
      ++revoked_tokens;
    }
    ++report.tokens;
  }

  // EAB keys go in unbound; a used one is bound again by its account's
  // insert below (acme_insert_account_with_eab), never left usable.
  HERALD_TRY(auto eab, from.acme_eab_list());
  std::unordered_map<std::string, std::string> kid_of_account;
  for (auto k : eab) {
    if (!k.account_id.empty()) {
      kid_of_account[k.account_id] = k.kid;
      k.account_id.clear();
      ++report.eab_keys_bound;
    } else {
      ++report.eab_keys;
    }
    if (auto s = to.acme_insert_eab(k); !s) return partly(std::move(s.error()).with("kid", k.kid));
  }

  // ACME accounts with their ids: the account URL (the client's "kid") is
  // https://HOST/acme/PROVISIONER/acct/ID on every store.
  HERALD_TRY(auto accounts, from.acme_accounts());
  for (const auto& a : accounts) {
    auto kid = kid_of_account.find(a.id);
    auto s = kid == kid_of_account.end()
                 ? to.acme_insert_account(a.id, a.provisioner, a.thumbprint, a.data, a.created_at)
                 : to.acme_insert_account_with_eab(a.id, a.provisioner, a.thumbprint, a.data,
                                                   a.created_at, kid->second);
    if (!s) return partly(std::move(s.error()).with("account", a.id));
    ++report.accounts;
  }

  // One-time-token ids still within their token's lifetime: a token used
  // before the move stays refused after it.
  HERALD_TRY(auto used, from.used_token_ids(now));
  for (const auto& u : used) {
    if (auto s = to.use_token_id(u.jti, u.expires_at, now); !s) return partly(std::move(s.error()));
    ++report.used_token_ids;
  }

  // What herald scan saw: each deployment as two sightings, at its first and
  // its last time (the store keeps the earliest first_seen and the latest
  // last_seen), foreign leaves with what was discovered of them.
  HERALD_TRY(const auto source_deployments, from.deployment_counts());
  {
    std::unordered_map<std::string, DiscoveredCertificate> foreign;
    for (size_t offset = 0;; offset += kAuditPage) {
      HERALD_TRY(auto page, from.discovered_certificates(kAuditPage, offset));
      for (auto& d : page) foreign.emplace(d.fingerprint_sha256, std::move(d));
      if (page.size() < kAuditPage) break;
    }
    DeploymentFilter f;
    f.limit = kAuditPage;
    for (;; f.offset += kAuditPage) {
      HERALD_TRY(auto page, from.deployments(f));
      for (const auto& d : page) {
        Sighting s;
        s.endpoint = d.endpoint;
        s.sni = d.sni;
        if (auto it = foreign.find(d.fingerprint_sha256); it != foreign.end()) s.leaf = it->second;
        s.leaf.fingerprint_sha256 = d.fingerprint_sha256;
        s.leaf.serial_hex = d.serial_hex;
        s.leaf.subject = d.subject;
        s.leaf.not_after = d.not_after;
        s.chain_der = d.chain_der;
        s.problems = d.problems;
        for (TimePoint at : {d.first_seen, d.last_seen}) {
          s.at = at;
          if (auto r = to.record_sighting(s); !r)
            return partly(std::move(r.error()).with("deployment", d.endpoint));
        }
        ++report.deployments;
      }
      if (page.size() < kAuditPage) break;
    }
    report.discovered = static_cast<int64_t>(foreign.size());
  }

  // CRL numbers never go back: take the source's next number (spending it
  // there is harmless, the source is being left) and bring the destination's
  // counter up to it.
  for (const char* ca : {"root", "intermediate", "issuing"}) {
    HERALD_TRY(const uint64_t next, from.next_crl_number(ca));
    const uint64_t used_number = next - 1;
    uint64_t at = 0;
    while (at < used_number) {
      HERALD_TRY(at, to.next_crl_number(ca));
    }
    report.crl_numbers[ca] = used_number;
  }

  // The count check: each kind, source against destination.
  HERALD_TRY(const int64_t moved, to.count());
  if (moved != source_count || report.certificates != source_count)
    return mismatch("certificates (" + std::to_string(report.certificates) + " copied)",
                    source_count, moved);
  ListFilter revoked;
  revoked.now = now;
  revoked.status = "revoked";
  HERALD_TRY(const int64_t source_revoked, from.count_matching(revoked));
  HERALD_TRY(const int64_t dest_revoked, to.count_matching(revoked));
  if (source_revoked != dest_revoked)
    return mismatch("revoked certificates", source_revoked, dest_revoked);
  HERALD_TRY(const int64_t source_audit, audit_count(from));
  HERALD_TRY(const int64_t dest_audit, audit_count(to));
  if (dest_audit - dest_audit_before != source_audit || report.audit_entries != source_audit)
    return mismatch("audit log entries", source_audit, dest_audit - dest_audit_before);
  HERALD_TRY(auto dest_tokens, to.list_tokens());
  int64_t dest_revoked_tokens = 0;
  for (const auto& t : dest_tokens) dest_revoked_tokens += t.revoked ? 1 : 0;
  if (dest_tokens.size() != tokens.size())
    return mismatch("API tokens", static_cast<int64_t>(tokens.size()),
                    static_cast<int64_t>(dest_tokens.size()));
  if (dest_revoked_tokens != revoked_tokens)
    return mismatch("revoked API tokens", revoked_tokens, dest_revoked_tokens);
  HERALD_TRY(auto dest_eab, to.acme_eab_list());
  int64_t dest_bound = 0;
  for (const auto& k : dest_eab) dest_bound += k.account_id.empty() ? 0 : 1;
  if (dest_eab.size() != eab.size())
    return mismatch("EAB keys", static_cast<int64_t>(eab.size()),
                    static_cast<int64_t>(dest_eab.size()));
  if (dest_bound != report.eab_keys_bound)
    return mismatch("used EAB keys (bound to an account)", report.eab_keys_bound, dest_bound);
  HERALD_TRY(auto dest_accounts, to.acme_accounts());
  if (dest_accounts.size() != accounts.size())
    return mismatch("ACME accounts", static_cast<int64_t>(accounts.size()),
                    static_cast<int64_t>(dest_accounts.size()));
  HERALD_TRY(const auto dest_deployments, to.deployment_counts());
  if (dest_deployments.deployments != source_deployments.deployments)
    return mismatch("deployments", source_deployments.deployments, dest_deployments.deployments);
  if (dest_deployments.foreign_certificates != source_deployments.foreign_certificates)
    return mismatch("discovered certificates", source_deployments.foreign_certificates,
                    dest_deployments.foreign_certificates);
  HERALD_TRY(auto dest_used, to.used_token_ids(now));
  if (dest_used.size() != used.size())
    return mismatch("used one-time-token ids", static_cast<int64_t>(used.size()),
                    static_cast<int64_t>(dest_used.size()));
  return report;
}

}  // namespace herald::store
