#pragma once
// Private to acme/validation: TCP dialling with deadlines over Beast.
//
// Beast's tcp_stream applies its expiry to asynchronous operations only, so
// every step (connect, handshake, write, read) is started asynchronously and
// the caller's private io_context is run until that one step completes:
// synchronous code with real timeouts.

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "acme/validation/validator.h"

namespace herald::acme::validation::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

// Starts one asynchronous operation (`start(handler)`) and runs `ioc` until
// it is done; returns its error code.
template <typename Start>
beast::error_code run_one(asio::io_context& ioc, Start&& start) {
  std::optional<beast::error_code> result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result.value_or(asio::error::operation_aborted);
}

// "timed out after 200 ms" for a deadline, else the system's wording.
[[nodiscard]] std::string error_text(const beast::error_code& ec,
                                     std::chrono::milliseconds timeout);
[[nodiscard]] bool is_timeout(const beast::error_code& ec);

// Dials `addresses` in order; the first one that accepts is returned with
// its deadline armed (`timeout` from the start of that attempt, covering
// what follows on the connection too) and recorded in record.address_used.
// If none accepts: a "connection" Outcome naming each address and why.
[[nodiscard]] tl::expected<beast::tcp_stream, Outcome> connect_first(
    asio::io_context& ioc, const std::vector<std::string>& addresses, uint16_t port,
    std::chrono::milliseconds timeout, std::string_view purpose, ValidationRecord& record);

}  // namespace herald::acme::validation::detail
