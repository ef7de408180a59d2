#include "feed/client.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace herald::feed {

namespace {

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 429:
      return ErrorCode::kRateLimited;
    default:
      return ErrorCode::kIo;
  }
}

// The problem's detail, if the body is one (bounded, for the message).
std::string detail_of(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  std::string d;
  if (j.is_object()) {
    auto it = j.find("detail");
    if (it != j.end() && it->is_string()) d = it->get<std::string>();
  }
  if (d.size() > 300) d = d.substr(0, 300) + "...";
  return d;
}

}  // namespace

Result<Page> poll_revocations(const std::string& server_url, const net::ClientTls& tls,
                              std::optional<int64_t> since, std::chrono::seconds wait,
                              net::CancelToken* cancel) {
  std::string base = server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!base.starts_with("https://"))
    return make_error(ErrorCode::kInvalidArgument,
                      "the feed's server URL must be https://HOST:PORT");
  if (wait.count() < 0) wait = std::chrono::seconds(0);
  std::string url = base + "/v1/revocations?wait=" + std::to_string(wait.count());
  if (since) url += "&since=" + std::to_string(*since);
  HERALD_TRY(auto res, net::https_request("GET", url, {{"Accept", "application/json"}}, "", tls,
                                          wait + kPollMargin, cancel));
  if (res.status != 200) {
    const std::string detail = detail_of(res.body);
    Error e{code_for_status(res.status),
            "revocation feed: HTTP " + std::to_string(res.status) +
                (detail.empty() ? "" : ": " + detail),
            {}};
    for (const auto& [k, v] : res.headers) {
      std::string name = k;
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "retry-after") e.with("retry_after", v.substr(0, 32));
    }
    return tl::unexpected(std::move(e));
  }
  return parse_page(res.body, since);
}

}  // namespace herald::feed
