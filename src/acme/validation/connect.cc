#include "acme/validation/connect.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <cctype>

#include "acme/validation/common.h"

namespace herald::acme::validation::detail {

using tcp = asio::ip::tcp;

bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

std::string error_text(const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (is_timeout(ec)) return "timed out after " + std::to_string(timeout.count()) + " ms";
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

tl::expected<beast::tcp_stream, Outcome> connect_first(
    asio::io_context& ioc, const std::vector<std::string>& addresses, uint16_t port,
    std::chrono::milliseconds timeout, std::string_view purpose, ValidationRecord& record) {
  std::string detail;
  for (const auto& a : addresses) {
    beast::error_code ec;
    auto ip = asio::ip::make_address(a, ec);
    if (!ec) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(timeout);
      ec = run_one(ioc, [&](auto&& handler) {
        stream.async_connect(tcp::endpoint(ip, port), std::forward<decltype(handler)>(handler));
      });
      if (!ec) {
        record.address_used = a;
        return tl::expected<beast::tcp_stream, Outcome>(std::move(stream));
      }
    }
    detail += detail.empty()
                  ? "connecting to " + address_with_port(a, port) + " for " + std::string(purpose) +
                        ": " + error_text(ec, timeout)
                  : "; then " + address_with_port(a, port) + ": " + error_text(ec, timeout);
  }
  if (addresses.empty()) detail = "no address to connect to for " + std::string(purpose);
  return tl::unexpected(failure("connection", detail));
}

}  // namespace herald::acme::validation::detail
