#include "server/problem.h"

#include <atomic>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "obs/log.h"

namespace herald::server {

namespace {

// A store failure's message names the database (host, port, libpq's or
// SQLite's words): it goes to the log, at most once a second, and the caller
// gets a generic answer.
void log_store_failure(const Error& error) {
  static std::atomic<int64_t> last{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t seen = last.load();
  if (now == seen || !last.compare_exchange_strong(seen, now)) return;
  obs::log(obs::LogLevel::kError, "store failure", {{"error", error.describe()}});
}

}  // namespace

void problem(net::Response& res, const Error& error, int status_override) {
  const auto& m = error_mapping(error.code);
  res.status = status_override ? status_override : m.http_status;
  std::string detail = error.message;
  if (error.code == ErrorCode::kStore) {
    log_store_failure(error);
    detail = "the CA's database is unavailable or failed; try again (the server log has the reason)";
    res.set_header("Retry-After", "1");
  }
  nlohmann::json j = {{"type", "urn:herald:problem:" + std::string(m.name)},
                      {"title", std::string(m.name)},
                      {"status", res.status},
                      {"detail", detail}};
  for (const auto& [k, v] : error.context) {
    if (k == "openssl" || k == "sqlite" || error.code == ErrorCode::kStore) continue;  // logs only
    j[k] = v;
  }
  res.body = j.dump();
  res.set_header("Content-Type", "application/problem+json");
  res.set_header("Cache-Control", "no-store");
}

void problem(net::Response& res, ErrorCode code, std::string detail, int status_override) {
  problem(res, Error{code, std::move(detail), {}}, status_override);
}

void json_response(net::Response& res, int status, const std::string& json) {
  res.status = status;
  res.body = json;
  res.set_header("Content-Type", "application/json");
  res.set_header("Cache-Control", "no-store");
}

}  // namespace herald::server
