#include <deque>
#include <set>
#include <sstream>

#include "base/duration.h"
#include "report/report.h"

namespace herald::report {

namespace {
constexpr size_t kPage = 1000;
}  // namespace

Result<BlastRadius> blast_radius(store::Inventory& inventory, store::DeploymentStore* deployments,
                                 const Serial& serial, TimePoint now, size_t sample) {
  HERALD_TRY(auto subject, inventory.find(serial));
  if (!subject) {
    return make_error(ErrorCode::kNotFound,
                      "no certificate with serial " + serial.hex() + " in the inventory");
  }
  BlastRadius out;
  out.subject = std::move(*subject);
  out.generated_at = now;
  // Breadth first through the CAs below: each CA's certificates, keyset-paged.
  std::deque<Serial> cas{out.subject.serial};
  while (!cas.empty()) {
    const Serial issuer = cas.front();
    cas.pop_front();
    store::ListFilter f;
    f.now = now;
    f.issuer = issuer;
    f.limit = kPage;
    for (;;) {
      HERALD_TRY(auto page, inventory.list(f));
      for (auto& r : page) {
        if (r.serial == issuer) continue;  // the root signs itself
        ++out.total;
        const std::string status = r.status_at(now);
        if (r.profile.ends_with("-ca")) {
          cas.push_back(r.serial);
          out.cas.push_back(r);
        }
        if (status == "revoked") {
          ++out.revoked;
        } else if (status == "expired") {
          ++out.expired;
        } else {
          ++out.valid;
          ++out.valid_by_profile[r.profile];
          const std::string owner = owner_of(r);
          ++out.valid_by_owner[owner.empty() ? "(no owner)" : owner];
          out.last_valid_not_after = std::max(out.last_valid_not_after, r.not_after);
          if (out.valid_sample.size() < sample) {
            r.der.clear();
            out.valid_sample.push_back(std::move(r));
          }
        }
      }
      if (page.size() < kPage) break;
      f.after = std::make_pair(page.back().not_after, page.back().serial);
    }
  }
  if (deployments) {
    // Where they are deployed: every inventory deployment whose certificate
    // is the subject or was signed by it or by a CA below it.
    std::set<std::string> signers{out.subject.serial.hex()};
    for (const auto& ca : out.cas) signers.insert(ca.serial.hex());
    store::DeploymentFilter f;
    f.kind = store::DeploymentKind::kInventory;
    f.limit = kPage;
    for (;; f.offset += kPage) {
      HERALD_TRY(auto page, deployments->deployments(f));
      for (auto& d : page) {
        auto s = Serial::parse(d.serial_hex);
        if (!s) continue;
        bool below = *s == out.subject.serial;
        if (!below) {
          HERALD_TRY(auto state, inventory.revocation_state(*s));
          below = state && signers.count(state->issuer_serial.hex()) && *s != state->issuer_serial;
        }
        if (!below) continue;
        ++out.deployed;
        if (out.deployments_sample.size() < sample) {
          d.chain_der.clear();
          out.deployments_sample.push_back(std::move(d));
        }
      }
      if (page.size() < kPage) break;
    }
  }
  return out;
}

nlohmann::json to_json(const BlastRadius& b) {
  auto brief = [&](const store::CertRecord& r) {
    return nlohmann::json{{"serial", r.serial.hex()},
                          {"subject", r.subject},
                          {"profile", r.profile},
                          {"status", r.status_at(b.generated_at)},
                          {"not_after", format_time(r.not_after)},
                          {"owner", owner_of(r)}};
  };
  nlohmann::json cas = nlohmann::json::array(), sample = nlohmann::json::array(),
                 deployed = nlohmann::json::array();
  for (const auto& d : b.deployments_sample) {
    deployed.push_back({{"endpoint", d.endpoint},
                        {"sni", d.sni},
                        {"serial", d.serial_hex},
                        {"last_seen", format_time(d.last_seen)}});
  }
  for (const auto& r : b.cas) cas.push_back(brief(r));
  for (const auto& r : b.valid_sample) sample.push_back(brief(r));
  nlohmann::json j = {{"subject", brief(b.subject)},
                      {"generated_at", format_time(b.generated_at)},
                      {"total", b.total},
                      {"valid", b.valid},
                      {"revoked", b.revoked},
                      {"expired", b.expired},
                      {"valid_by_profile", b.valid_by_profile},
                      {"valid_by_owner", b.valid_by_owner},
                      {"cas", cas},
                      {"valid_sample", sample},
                      {"deployed", b.deployed},
                      {"deployments", deployed}};
  if (b.valid) j["last_valid_not_after"] = format_time(b.last_valid_not_after);
  return j;
}

std::string to_text(const BlastRadius& b) {
  std::ostringstream o;
  const auto& s = b.subject;
  o << "Blast radius of " << s.serial.hex() << " (" << s.profile << ", "
    << (s.subject.empty() ? "no subject" : s.subject) << ", " << s.status_at(b.generated_at)
    << ")\n";
  auto where = [&] {
    if (!b.deployed) return;
    o << "  deployed (herald scan): " << b.deployed << " sightings, stalest first:\n";
    for (const auto& d : b.deployments_sample) {
      o << "    " << d.endpoint << (d.sni.empty() ? "" : " SNI " + d.sni) << "  " << d.serial_hex
        << "  last seen " << format_time(d.last_seen) << "\n";
    }
  };
  if (b.total == 0) {
    o << "  nothing chains to it: revoking it affects this certificate alone\n";
    where();
    return o.str();
  }
  o << "  " << b.total << " certificates chain to it: " << b.valid << " valid, " << b.revoked
    << " revoked, " << b.expired << " expired\n";
  for (const auto& ca : b.cas)
    o << "  CA below it: " << ca.serial.hex() << " " << ca.subject << "\n";
  if (b.valid) {
    o << "  valid ones would stop working; the last expires on its own at "
      << format_time(b.last_valid_not_after) << "\n";
    o << "  by profile:";
    for (const auto& [p, n] : b.valid_by_profile) o << " " << p << " " << n;
    o << "\n  by owner:\n";
    for (const auto& [owner, n] : b.valid_by_owner) o << "    " << n << "  " << owner << "\n";
    o << "  first to expire:\n";
    for (const auto& r : b.valid_sample) {
      o << "    " << r.serial.hex() << "  " << r.profile << "  " << format_time(r.not_after)
        << "  " << (r.subject.empty() ? "-" : r.subject) << "\n";
    }
  }
  where();
  return o.str();
}

}  // namespace herald::report
