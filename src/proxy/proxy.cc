#include "proxy/proxy.h"

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/fs.h"
#include "base/json_line.h"
#include "feed/follower.h"
#include "fetch/revocation.h"
#include "net/proxy.h"
#include "obs/metrics.h"
#include "proxy/revocation.h"
#include "proxy/route.h"
#include "verify/verify.h"
#include "x509/certificate.h"

namespace herald::proxy {

using namespace std::chrono;

namespace {

// What a file looks like now (inode, size, mtime), "-" if absent.
std::string stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "-";
  return std::to_string(st.st_ino) + "/" + std::to_string(st.st_size) + "/" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

struct ServerFiles {
  std::string chain_pem;  // leaf, then the intermediates (never a root)
  std::string key_pem;
  Bytes leaf_der, issuer_der;  // issuer: for OCSP stapling (empty if not in the chain)
  std::vector<Bytes> ca_ders;  // the CA certificates sent after the leaf
};

// The proxy's own certificate: the leaf from `cert`, the CA certificates
// from `chain` that are not the leaf and not self-signed (a root is never
// sent), the key; checked to match.
Result<ServerFiles> load_server_files(const RouteConfig& r) {
  HERALD_TRY(auto cert_pem, fs::read_file(r.cert, 1 << 20));
  HERALD_TRY(auto key_pem, fs::read_file(r.key, 1 << 20));
  HERALD_TRY(auto certs, x509::Certificate::from_pem(cert_pem));
  std::vector<x509::Certificate> chain;
  if (r.chain) {
    HERALD_TRY(auto chain_pem, fs::read_file(*r.chain, 1 << 20));
    HERALD_TRY(chain, x509::Certificate::from_pem(chain_pem));
  } else {
    chain.assign(certs.begin() + 1, certs.end());
  }
  ServerFiles f;
  const auto& leaf = certs.front();
  f.chain_pem = leaf.pem();
  f.leaf_der = leaf.der();
  for (const auto& c : chain) {
    if (c.der() == leaf.der() || c.subject() == c.issuer()) continue;
    if (f.issuer_der.empty() && c.subject() == leaf.issuer()) f.issuer_der = c.der();
    f.chain_pem += c.pem();
    f.ca_ders.push_back(c.der());
  }
  f.key_pem = std::move(key_pem);
  return f;
}

}  // namespace

struct Proxy::Impl {
  struct RouteState {
    RouteConfig cfg;
    std::unique_ptr<Route> route;
    std::shared_ptr<net::TlsContextHolder> tls;
    std::string stamp;  // of cert, key, chain and trust
    std::mutex staple_mu;
    std::shared_ptr<const Bytes> staple;
    TimePoint staple_next{};
    Bytes leaf_der, issuer_der;
    uint16_t port = 0;
  };

  ProxyConfig cfg;
  const Clock& clock;
  std::ostream& log_out;
  std::mutex log_mu;
  obs::Registry registry;
  std::unique_ptr<net::ProxyServer> server;
  RevocationCache revocation;
  std::vector<std::unique_ptr<RouteState>> routes;
  std::unique_ptr<feed::Follower> follower;
  uint16_t admin = 0;
  obs::Family<obs::Counter>* rejections = nullptr;
  obs::Family<obs::Counter>* requests = nullptr;
  obs::Family<obs::Counter>* reloads = nullptr;
  // The stapler's thread.
  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_stop = false;
  bool bg_kick = true;  // staple now: at start, and when a route's certificate changed
  std::thread stapler;

  Impl(ProxyConfig c, const Clock& cl, std::ostream& out)
      : cfg(std::move(c)), clock(cl), log_out(out), revocation(cl, [this](const std::string& l) {
          log(l);
        }) {}

  void log(const std::string& line) {
    std::lock_guard lock(log_mu);
    log_out << "herald proxy: " << format_time(clock.now()) << " " << line << "\n" << std::flush;
  }

  std::string file_stamp(const RouteConfig& r) const {
    return stamp_of(r.cert) + " " + stamp_of(r.key) + " " + (r.chain ? stamp_of(*r.chain) : "") +
           " " + stamp_of(r.trust);
  }

  Result<net::TlsConfig> tls_config(const RouteConfig& r, ServerFiles& files) {
    HERALD_TRY(files, load_server_files(r));
    HERALD_TRY(auto trust_pem, fs::read_file(r.trust, 16 << 20));
    net::TlsConfig t;
    t.cert_chain_pem = files.chain_pem;
    t.key_pem = files.key_pem;
    t.client_ca_pem = trust_pem;
    return t;
  }

  // Reloads one route's files if they changed (or `force`); a broken set is
  // refused with a log line and the old one kept.
  void reload(RouteState& rs, bool force) {
    const std::string stamp = file_stamp(rs.cfg);
    if (!force && stamp == rs.stamp) return;
    auto fail = [&](const Error& e) {
      rs.stamp = stamp;  // do not retry the same broken files every second
      if (reloads) reloads->with({rs.cfg.policy.name, "refused"}).inc();
      log("route " + rs.cfg.policy.name + ": new files refused, the current ones kept: " +
          e.describe());
    };
    ServerFiles files;
    auto t = tls_config(rs.cfg, files);
    if (!t) return fail(t.error());
    auto trust = load_trust(t->client_ca_pem);
    if (!trust) return fail(trust.error());
    if (auto st = rs.tls->reload(*t); !st) return fail(st.error());
    rs.route->set_trust(*trust);
    {
      std::lock_guard lock(rs.staple_mu);
      if (rs.leaf_der != files.leaf_der) {
        rs.staple.reset();
        rs.staple_next = {};
      }
      rs.leaf_der = files.leaf_der;
      rs.issuer_der = files.issuer_der;
    }
    {
      std::lock_guard lock(bg_mu);
      bg_kick = true;
    }
    bg_cv.notify_all();
    rs.stamp = stamp;
    if (reloads) reloads->with({rs.cfg.policy.name, "success"}).inc();
    auto leaf = x509::Certificate::from_der(files.leaf_der);
    log("route " + rs.cfg.policy.name + ": certificate " + (leaf ? leaf->serial().hex() : "?") +
        " and trust bundle (" + std::to_string((*trust)->anchors.size()) + " roots) loaded");
  }

  // OCSP stapling: the proxy's own certificate's status from its responder,
  // refreshed at half of the answer's validity (and when the certificate changes).
  void staple_loop() {
    for (;;) {
      {
        // Woken early by a kick (the notifications alone were no-ops under
        // this predicate: the first staple, and a rotated certificate's,
        // came up to 30 s late).
        std::unique_lock lock(bg_mu);
        bg_cv.wait_for(lock, seconds(30), [this] { return bg_stop || bg_kick; });
        if (bg_stop) return;
        bg_kick = false;
      }
      for (auto& rs : routes) {
        Bytes leaf, issuer;
        {
          std::lock_guard lock(rs->staple_mu);
          if (clock.now() < rs->staple_next) continue;
          leaf = rs->leaf_der;
          issuer = rs->issuer_der;
        }
        if (issuer.empty()) continue;
        std::string url;
        for (const auto& u : fetch::ocsp_urls(leaf)) {
          if (fetch::is_http(u)) {
            url = u;
            break;
          }
        }
        if (url.empty()) continue;
        auto der = fetch::fetch_ocsp(leaf, issuer, url);
        std::lock_guard lock(rs->staple_mu);
        if (!der) {
          rs->staple_next = clock.now() + seconds(60);
          continue;
        }
        rs->staple = std::make_shared<const Bytes>(std::move(*der));
        rs->staple_next = clock.now() + minutes(30);
      }
    }
  }

  std::string health_json(int& status) {
    nlohmann::json j;
    j["routes"] = routes.size();
    std::string feed = "off";
    if (follower) {
      feed = follower->caught_up() ? "following"
                                   : "lost: checking revocation with CRLs and OCSP meanwhile";
    }
    j["revocation_feed"] = feed;
    const auto st = revocation.stats();
    j["cached_crls"] = st.crls;
    j["cached_ocsp_responses"] = st.ocsp;
    const bool degraded = follower && !follower->caught_up();
    j["status"] = degraded ? "degraded" : "ok";
    status = 200;
    return j.dump();
  }

  void register_metrics() {
    rejections = &registry.counter("herald_proxy_rejections",
                                   "Connections and requests refused, by route and reason",
                                   {"route", "reason"});
    requests = &registry.counter("herald_proxy_requests",
                                 "Requests (HTTP) or connections (TCP) by route and verdict",
                                 {"route", "verdict"});
    reloads = &registry.counter("herald_proxy_reloads",
                                "Certificate and trust bundle reloads by route and result",
                                {"route", "result"});
    registry.gauge_callback(
        "herald_proxy_revocation_feed_connected",
        "1 while the CA's revocation feed is followed and caught up (0: CRLs/OCSP only)", {},
        [this] {
          return std::vector<obs::CallbackSample>{
              {{}, follower && follower->caught_up() ? 1.0 : 0.0}};
        });
    registry.gauge_callback(
        "herald_proxy_revocation_feed_last_page_age_seconds",
        "Seconds since the revocation feed last answered (a long poll answers at least every 30 s)",
        {}, [this] {
          std::vector<obs::CallbackSample> out;
          if (follower && follower->last_page().time_since_epoch().count() > 0) {
            out.push_back({{}, duration<double>(steady_clock::now() - follower->last_page()).count()});
          }
          return out;
        });
    registry.gauge_callback("herald_proxy_revocation_cache_entries",
                            "CRLs and OCSP responses held for checking client certificates",
                            {"kind"}, [this] {
                              const auto st = revocation.stats();
                              return std::vector<obs::CallbackSample>{
                                  {{"crl"}, static_cast<double>(st.crls)},
                                  {{"ocsp"}, static_cast<double>(st.ocsp)}};
                            });
  }

  Status start() {
    server = std::make_unique<net::ProxyServer>(cfg.threads > 0 ? cfg.threads
                                                                : static_cast<int>(std::max(
                                                                      1u, std::thread::hardware_concurrency())));
    register_metrics();
    server->attach_metrics(registry);
    for (const auto& rc : cfg.routes) {
      auto rs = std::make_unique<RouteState>();
      rs->cfg = rc;
      ServerFiles files;
      auto t = tls_config(rc, files);
      if (!t) return tl::unexpected(t.error().with("route", rc.policy.name));
      HERALD_TRY(auto trust, load_trust(t->client_ca_pem));
      HERALD_TRY(rs->tls, net::TlsContextHolder::create(*t));
      rs->route = std::make_unique<Route>(rc.policy, trust, revocation, clock);
      rs->leaf_der = files.leaf_der;
      rs->issuer_der = files.issuer_der;
      rs->stamp = file_stamp(rc);
      for (const auto& u : rc.crl_urls) revocation.prefetch_crl(u);
      // The CRLs along the proxy's own chain cover its peers from the same
      // CA: the leaf's CDP (the issuing CA's CRL) and those of the CA
      // certificates it sends (the intermediate's and the root's CRLs). A
      // peer's path needs every level under hard revocation: with the leaf's
      // alone, the first connections were refused revocation_unavailable.
      for (const auto& u : fetch::crl_urls(files.leaf_der)) {
        if (fetch::is_http(u)) revocation.prefetch_crl(u);
      }
      for (const auto& der : files.ca_ders) {
        for (const auto& u : fetch::crl_urls(der)) {
          if (fetch::is_http(u)) revocation.prefetch_crl(u);
        }
      }
      routes.push_back(std::move(rs));
    }
    for (auto& rsp : routes) {
      RouteState* rs = rsp.get();
      net::ProxyListener l;
      l.name = rs->cfg.policy.name;
      l.host = rs->cfg.listen_host;
      l.port = rs->cfg.listen_port;
      l.tls = rs->tls;
      l.mode = rs->cfg.mode;
      l.backend_host = rs->cfg.backend_host;
      l.backend_port = rs->cfg.backend_port;
      l.health_path = rs->cfg.health_path;
      l.limits.read_timeout = rs->cfg.timeout;
      l.limits.idle_timeout = std::max(rs->cfg.timeout, seconds(60));
      // The identity headers under every spelling a backend may fold into
      // the same name: CGI, WSGI, PHP and Rack turn '-' into '_'
      // (HTTP_X_CLIENT_CERT_SUBJECT), so a client's "X-Client-Cert_Subject"
      // or "X_Client_Cert_Subject" would reach them as the proxy's header.
      // The data plane compares lowercase prefixes.
      l.strip_header_prefixes.clear();
      for (const char* a : {"-", "_"}) {
        for (const char* b : {"-", "_"}) {
          for (const char* c : {"-", "_"}) {
            l.strip_header_prefixes.push_back(std::string("x") + a + "client" + b + "cert" + c);
          }
        }
      }
      const std::string name = l.name;
      l.admit = [this, rs, name](const net::PeerInfo& peer) {
        auto a = rs->route->admit(peer);
        // A connection without a certificate may only want the health path:
        // its refusal is logged and counted per request (on_request) instead.
        if (a.verdict != net::Admission::Verdict::kAllow && !peer.chain.empty()) {
          log("route " + name + ": refusing " + peer.remote_address + " (" + a.reason + "): " +
              a.detail + (a.identity.empty() ? "" : " [" + a.identity + "]"));
        }
        return a;
      };
      l.health = [this] {
        net::HealthAnswer h;
        h.body = health_json(h.status);
        return h;
      };
      l.on_request = [this, name](const net::AccessRecord& r) {
        requests->with({name, r.verdict}).inc();
        if (r.verdict == "refuse") {
          rejections->with({name, r.reason}).inc();
          if (r.reason == "no_certificate") {
            log("route " + name + ": refused " + r.remote_address + " (no_certificate)" +
                (r.target.empty() ? "" : " " + r.method + " " + r.target.substr(0, 128)));
          }
        }
        if (!cfg.access_log) return;
        // Written field by field (JsonLine): a JSON tree per request cost
        // a tenth of the proxy's CPU on small keep-alive requests.
        // The time is formatted once a second per thread (strftime per request was ~1 %).
        const auto now = clock.now();
        thread_local std::int64_t cached_second = -1;
        thread_local std::string cached_time;
        const std::int64_t second =
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        if (second != cached_second) {
          cached_time = format_time(now);
          cached_second = second;
        }
        JsonLine line;
        line.str("time", cached_time)
            .str("route", name)
            .str("remote", r.remote_address)
            .str("identity", r.identity)
            .str("verdict", r.verdict)
            .num("status", r.status)
            .unsigned_num("bytes_in", r.bytes_in)
            .unsigned_num("bytes_out", r.bytes_out)
            .fixed("duration_ms", static_cast<double>(r.duration.count()) / 1000.0, 3);
        if (!r.reason.empty()) line.str("reason", r.reason);
        if (!r.method.empty()) {
          line.str("method", r.method);
          line.str("target", std::string_view(r.target).substr(0, 256));
        }
        if (r.upstream_error) line.boolean("upstream_error", true);
        const std::string text = line.finish();
        std::lock_guard lock(log_mu);
        log_out << text << std::flush;
      };
      l.ocsp_staple = [rs]() -> std::shared_ptr<const Bytes> {
        std::lock_guard lock(rs->staple_mu);
        return rs->staple;
      };
      HERALD_TRY(rs->port, server->listen(std::move(l)));
      log("route " + name + ": https://" + rs->cfg.listen_host + ":" + std::to_string(rs->port) +
          " -> " + rs->cfg.backend_host + ":" + std::to_string(rs->cfg.backend_port) + " (" +
          (rs->cfg.mode == net::ProxyMode::kHttp ? "http" : "tcp") + ", client certificate " +
          (rs->cfg.policy.require_client_cert ? "required" : "optional") + ", revocation " +
          (rs->cfg.policy.revocation == RevocationMode::kHard   ? "hard"
           : rs->cfg.policy.revocation == RevocationMode::kSoft ? "soft"
                                                                : "off") +
          ")");
    }
    if (cfg.admin_host) {
      auto handler = [this](const net::Request& req, net::Response& res) {
        if (req.path == "/metrics" && (req.method == "GET" || req.method == "HEAD")) {
          res.body = registry.render();
          res.set_header("Content-Type", "text/plain; version=0.0.4");
        } else if (req.path == "/healthz" && (req.method == "GET" || req.method == "HEAD")) {
          res.body = health_json(res.status);
          res.set_header("Content-Type", "application/json");
        } else {
          res.status = 404;
          res.body = "GET /healthz or /metrics\n";
        }
      };
      HERALD_TRY(admin, server->listen_admin(*cfg.admin_host, cfg.admin_port, handler));
      log("admin: http://" + *cfg.admin_host + ":" + std::to_string(admin) + "/healthz, /metrics");
    }
    if (cfg.ca_feed) {
      HERALD_TRY(auto feed_trust_pem, fs::read_file(cfg.ca_feed_trust, 16 << 20));
      HERALD_TRY(auto anchors, x509::Certificate::from_pem(feed_trust_pem));
      // The feed answers for the paths that end at its CA's root: the root
      // the proxy's own certificate (its credential on the feed, a
      // certificate of that CA) chains to. Not merely the bundle's first
      // root: with a partner's root listed first, the partner's paths were
      // judged by Herald's feed alone and a certificate revoked on the
      // partner's CRL was let through.
      std::vector<Bytes> roots;
      for (const auto& a : anchors) {
        if (a.subject() == a.issuer()) roots.push_back(a.der());
      }
      std::optional<Bytes> feed_root;
      if (auto own = load_server_files(routes.front()->cfg)) {
        verify::Options vo;
        vo.at = clock.now();
        auto vr = verify::verify(own->leaf_der, own->ca_ders, roots, vo);
        if (vr.valid && !vr.chain.empty()) feed_root = vr.chain.back();
      }
      if (!feed_root && roots.size() == 1) feed_root = roots.front();
      if (feed_root) {
        revocation.set_feed_root(*feed_root);
      } else {
        log("revocation feed: route " + routes.front()->cfg.policy.name +
            "'s certificate does not chain to a root of " + cfg.ca_feed_trust +
            ": no path is judged by the feed (CRLs and OCSP for all)");
      }
      feed::Follower::Hooks hooks;
      RouteState* first = routes.front().get();
      hooks.credentials = [this, first]() -> std::optional<feed::Follower::Credentials> {
        ServerFiles files;
        auto f = load_server_files(first->cfg);
        if (!f) return std::nullopt;
        return feed::Follower::Credentials{f->chain_pem, f->key_pem};
      };
      hooks.page = [this](const std::vector<std::pair<std::string, bool>>& changes, bool reset) {
        revocation.feed_apply(changes, reset);
        if (!follower || !follower->caught_up()) return;  // reading the history: no line per entry
        for (const auto& [serial, revoked] : changes) {
          if (revoked) log("revocation feed: certificate " + serial + " revoked");
        }
      };
      hooks.log = [this](const std::string& line) { log("revocation feed: " + line); };
      follower = std::make_unique<feed::Follower>(*cfg.ca_feed, feed_trust_pem, std::move(hooks),
                                                  seconds(30), int64_t{0});
      follower->start();
      server->every(milliseconds(100), [this] { revocation.set_feed_connected(follower->caught_up()); });
    }
    revocation.start();
    stapler = std::thread([this] { staple_loop(); });
    bg_cv.notify_all();
    server->every(seconds(1), [this] {
      for (auto& rs : routes) reload(*rs, false);
    });
    server->handle_signals([this] {
      log("SIGHUP: reloading every route's files");
      for (auto& rs : routes) reload(*rs, true);
    });
    return {};
  }

  void shutdown() {
    if (follower) follower->stop();
    revocation.stop();
    {
      std::lock_guard lock(bg_mu);
      bg_stop = true;
    }
    bg_cv.notify_all();
    if (stapler.joinable()) stapler.join();
  }
};

Proxy::Proxy(ProxyConfig cfg, const Clock& clock, std::ostream& log)
    : impl_(std::make_unique<Impl>(std::move(cfg), clock, log)) {}

Proxy::~Proxy() {
  if (impl_) impl_->shutdown();
}

Status Proxy::start() { return impl_->start(); }

void Proxy::run() {
  impl_->server->run();
  impl_->log("stopped");
  impl_->shutdown();
}

void Proxy::stop() {
  if (impl_->server) impl_->server->stop();
}

std::vector<uint16_t> Proxy::ports() const {
  std::vector<uint16_t> out;
  for (const auto& rs : impl_->routes) out.push_back(rs->port);
  return out;
}

uint16_t Proxy::admin_port() const { return impl_->admin; }

}  // namespace herald::proxy
