#pragma once
// The three ways the ACME client proves control of an identifier:
//
//  - http-01 standalone (RFC 8555 §8.3): a plain HTTP listener on HOST:PORT,
//    up only while an order is being validated (present() to cleanup()),
//    answering GET /.well-known/acme-challenge/TOKEN for the current tokens
//    with the key authorization, 404 for anything else;
//  - http-01 webroot: WEBROOT/.well-known/acme-challenge/TOKEN written mode
//    0644 (directories created 0755), for a web server that already serves
//    WEBROOT on port 80; the files (not the directories) removed afterwards;
//  - dns-01 (§8.4) through an exec hook: `HOOK present NAME VALUE` before,
//    `HOOK cleanup NAME VALUE` after, with NAME "_acme-challenge.DOMAIN"
//    (a wildcard's "*." removed) and VALUE base64url(SHA-256(key
//    authorization)); a non-zero exit or the timeout fails the order.
//
// The client calls present() with every challenge of an order, and calls
// cleanup() afterwards whatever happened (also when present() failed half
// way: cleanup() undoes what was done).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "acme_client/messages.h"
#include "base/error.h"

namespace herald::acme_client {

struct ChallengeTask {
  Identifier identifier;
  bool wildcard = false;
  std::string token;
  std::string key_authorization;
};

class Solver {
 public:
  virtual ~Solver() = default;
  // The challenge type it answers: "http-01" or "dns-01".
  [[nodiscard]] virtual std::string type() const = 0;
  // "http-01 on 0.0.0.0:80", "http-01 in /var/www", "dns-01 through HOOK".
  [[nodiscard]] virtual std::string describe() const = 0;
  [[nodiscard]] virtual Status present(const std::vector<ChallengeTask>& tasks) = 0;
  // Errors are returned for the log; cleanup never throws and is idempotent.
  [[nodiscard]] virtual Status cleanup() = 0;
};

// "HOST:PORT" ("[::]:80" for IPv6); port 0 picks a free one (tests).
[[nodiscard]] std::unique_ptr<Solver> make_http01_standalone(std::string listen);
// The port the standalone solver bound during the last present() (tests).
[[nodiscard]] uint16_t http01_standalone_port(const Solver& s);
[[nodiscard]] std::unique_ptr<Solver> make_http01_webroot(std::filesystem::path webroot);

// Runs a shell command line with a timeout; ok when it exited 0. `what`
// describes the outcome for messages ("exit 3 in 20 ms", "timed out after 120 s").
struct HookOutcome {
  bool ok = false;
  std::string what;
};
using HookRunner = std::function<Result<HookOutcome>(const std::string& command,
                                                     std::chrono::milliseconds timeout)>;
// `hook` is a shell command line; NAME and VALUE are appended single-quoted.
[[nodiscard]] std::unique_ptr<Solver> make_dns01_hook(std::string hook,
                                                      std::chrono::milliseconds timeout,
                                                      HookRunner runner);

// "'it''s'" quoting for /bin/sh: the text inside single quotes, each ' as '\''.
[[nodiscard]] std::string shell_quote(std::string_view s);

}  // namespace herald::acme_client
