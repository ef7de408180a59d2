#pragma once
// `herald proxy`: the routes' policies (route.h) wired to the data plane
// (net/proxy.h), with what keeps them current: the CA's revocation feed and
// the CRL/OCSP cache (revocation.h), the files watched for rotation (the
// renewal agent rewrites them), OCSP stapling of the proxy's own
// certificate, the admin listener (/healthz, /metrics) and the access log.

#include <memory>
#include <ostream>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "proxy/config.h"

namespace herald::proxy {

class Proxy {
 public:
  Proxy(ProxyConfig cfg, const Clock& clock, std::ostream& log);
  ~Proxy();

  // Loads every route's certificate, key and trust bundle (a problem is an
  // error naming the file), binds the listeners, starts the background work.
  [[nodiscard]] Status start();
  // Serves until SIGTERM/SIGINT (graceful); SIGHUP reloads every file now.
  void run();
  void stop();
  // The bound ports, in route order (after start()); the admin port.
  [[nodiscard]] std::vector<uint16_t> ports() const;
  [[nodiscard]] uint16_t admin_port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::proxy
