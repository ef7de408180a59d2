#pragma once
// The query of GET /v1/certs, read in one place for the API callers
// (api.cc) and the dashboard's admins (ui_endpoints.cc):
//   expiring=30d profile=P status=valid|revoked|expired owner=k=v san=TEXT
//   deployed=yes|no limit=1..1000 (100) offset=N after=UNIX:SERIAL
// kInvalidArgument naming the parameter for a bad value.

#include "base/clock.h"
#include "base/error.h"
#include "net/http.h"
#include "store/inventory.h"

namespace herald::server {

struct ListQuery {
  store::ListFilter filter;  // limit is the page size + 1 (tells whether a next page exists)
  size_t limit = 100;        // the page size asked for
  size_t offset = 0;
};

[[nodiscard]] Result<ListQuery> parse_list_query(const net::Request& req, TimePoint now);

}  // namespace herald::server
