// GET /v1/trust/bundle and /v1/spiffe/bundle: unauthenticated, cheap. Both
// documents are built once and served from memory; a request costs a
// pointer copy under a mutex, and If-None-Match turns it into a 304.
#include <sys/stat.h>

#include <iostream>

#include "base/fs.h"
#include "ca/trust.h"
#include "datadir/partners.h"
#include "server/app.h"
#include "server/problem.h"

namespace herald::server {

namespace {

// What a file looks like now (inode, size, modification time), "-" if absent:
// every writer replaces the file by rename, so a change always shows here.
std::string file_stamp(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "-";
  return std::to_string(st.st_ino) + "/" + std::to_string(st.st_size) + "/" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

Status App::refresh_trust_bundles(bool force) {
  const datadir::PartnerStore partners(dir_.partners_dir());
  const std::string stamp = file_stamp(dir_.ca_cert_path(ca::CaLevel::kRoot)) + " " +
                            file_stamp(partners.manifest_path());
  {
    std::lock_guard lock(trust_mu_);
    if (!force &&
        ((trust_bundles_ && trust_bundles_->stamp == stamp) || trust_failed_stamp_ == stamp))
      return {};
  }
  auto build = [&]() -> Result<std::shared_ptr<const TrustBundles>> {
    HERALD_TRY(auto root_pem, fs::read_file(dir_.ca_cert_path(ca::CaLevel::kRoot), 1 << 20));
    HERALD_TRY(auto own, x509::Certificate::from_pem(root_pem));
    HERALD_TRY(auto list, partners.list());
    std::vector<x509::Certificate> all = own;
    for (auto& p : list) all.push_back(p.cert);
    auto b = std::make_shared<TrustBundles>();
    for (const auto& c : own) b->anchors.push_back({"own", c.subject(), c.not_after()});
    for (const auto& p : list) b->anchors.push_back({"partner", p.name, p.cert.not_after()});
    b->stamp = stamp;
    b->pem = ca::pem_bundle(all);
    b->pem_etag = ca::content_etag(b->pem);
    // The SPIFFE bundle is this trust domain's alone: partners are other
    // trust domains, each with its own bundle.
    ca::SpiffeBundleOptions o;
    o.refresh_hint = kTrustBundleMaxAge;
    HERALD_TRY(b->spiffe, ca::spiffe_bundle_json(own, o));
    b->spiffe_etag = ca::content_etag(b->spiffe);
    return std::shared_ptr<const TrustBundles>(std::move(b));
  };
  auto built = build();
  std::lock_guard lock(trust_mu_);
  if (!built) {
    trust_failed_stamp_ = stamp;
    return tl::unexpected(std::move(built.error()).with("purpose", "the trust bundles"));
  }
  trust_failed_stamp_.clear();
  trust_bundles_ = std::move(*built);
  return {};
}

void App::register_trust_metrics() {
  registry_.gauge_callback(
      "herald_trust_anchor_not_after_seconds",
      "When each root in /v1/trust/bundle expires (Unix time): this CA's own and the partners'",
      {"kind", "name"}, [this] {
        std::shared_ptr<const TrustBundles> b;
        {
          std::lock_guard lock(trust_mu_);
          b = trust_bundles_;
        }
        std::vector<obs::CallbackSample> out;
        if (!b) return out;
        for (const auto& a : b->anchors) {
          out.push_back(
              {{a.kind, a.name}, static_cast<double>(a.not_after.time_since_epoch().count())});
        }
        return out;
      });
}

namespace {

void serve_cached(const net::Request& req, net::Response& res, const std::string& body,
                  const std::string& etag, const char* content_type, std::chrono::seconds max_age) {
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "public, max-age=" + std::to_string(max_age.count()));
  if (ca::if_none_match(req.header("if-none-match"), etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.body = body;
  res.set_header("Content-Type", content_type);
}

}  // namespace

void App::get_trust_bundle(const net::Request& req, net::Response& res) {
  std::shared_ptr<const TrustBundles> b;
  {
    std::lock_guard lock(trust_mu_);
    b = trust_bundles_;
  }
  if (!b) return problem(res, ErrorCode::kInternal, "the trust bundle is not built");
  serve_cached(req, res, b->pem, b->pem_etag, "application/pem-certificate-chain",
               kTrustBundleMaxAge);
}

void App::get_spiffe_bundle(const net::Request& req, net::Response& res) {
  std::shared_ptr<const TrustBundles> b;
  {
    std::lock_guard lock(trust_mu_);
    b = trust_bundles_;
  }
  if (!b) return problem(res, ErrorCode::kInternal, "the SPIFFE bundle is not built");
  serve_cached(req, res, b->spiffe, b->spiffe_etag, "application/json", kTrustBundleMaxAge);
}

}  // namespace herald::server
