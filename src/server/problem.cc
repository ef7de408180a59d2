#include "server/problem.h"

#include <nlohmann/json.hpp>

namespace herald::server {

void problem(net::Response& res, const Error& error, int status_override) {
  const auto& m = error_mapping(error.code);
  res.status = status_override ? status_override : m.http_status;
  nlohmann::json j = {{"type", "urn:herald:problem:" + std::string(m.name)},
                      {"title", std::string(m.name)},
                      {"status", res.status},
                      {"detail", error.message}};
  for (const auto& [k, v] : error.context) {
    if (k == "openssl" || k == "sqlite") continue;  // internals stay in the logs
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
