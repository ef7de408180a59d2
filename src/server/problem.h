#pragma once
// Errors over HTTP as application/problem+json (RFC 9457). The `type` is a
// stable URN per error code ("urn:herald:problem:policy-violation"); the HTTP
// status comes from the one error table (base/error.cc).

#include "base/error.h"
#include "net/http.h"

namespace herald::server {

void problem(net::Response& res, const Error& error, int status_override = 0);
void problem(net::Response& res, ErrorCode code, std::string detail, int status_override = 0);
void json_response(net::Response& res, int status, const std::string& json);

}  // namespace herald::server
