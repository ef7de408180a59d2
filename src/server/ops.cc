// Health, readiness and metrics.
#include <nlohmann/json.hpp>

#include "server/app.h"
#include "server/problem.h"

namespace herald::server {

void App::healthz(net::Response& res) { json_response(res, 200, R"({"status":"ok"})"); }

void App::readyz(net::Response& res) {
  nlohmann::json checks;
  bool ok = true;
  auto count = inventory_->count();
  checks["store"] = count ? "ok" : "unreachable: " + count.error().message;
  ok = ok && count;
  const bool signer_ok = static_cast<bool>(issuing_signer_);
  checks["signer"] = signer_ok ? "ok" : "not loaded";
  ok = ok && signer_ok;
  auto crl = publisher_->crl("issuing");
  const bool fresh = crl && crl->next_update > clock_.now();
  checks["crl"] = fresh ? "fresh" : "stale";
  ok = ok && fresh;
  json_response(res, ok ? 200 : 503,
                nlohmann::json{{"status", ok ? "ready" : "not ready"}, {"checks", checks}}.dump());
}

void App::metrics(net::Response& res) {
  res.status = 200;
  res.body = registry_.render();
  res.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace herald::server
