// Fuzz target: what an ACME server sends the agent's ACME client
// (acme_client/messages.h). The first byte picks the parser (directory,
// order, authorization, challenge, problem, renewal information, account,
// Retry-After, RFC 3339 time); the rest is the body. Whatever parses must
// hold only what the strict checks allow.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "acme_client/messages.h"

namespace {

void check_url(const std::string& u) {
  if (!herald::acme_client::check_url(u, "fuzz")) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald::acme_client;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 9) {
    case 0:
      if (auto d = parse_directory(body)) {
        check_url(d->new_nonce);
        check_url(d->new_account);
        check_url(d->new_order);
        if (d->renewal_info) check_url(*d->renewal_info);
      }
      break;
    case 1:
      if (auto o = parse_order(body)) {
        if (o->identifiers.empty()) std::abort();
        for (const auto& a : o->authorizations) check_url(a);
        check_url(o->finalize);
        if (o->status == AcmeStatus::kValid && !o->certificate) std::abort();
        if (o->error) (void)o->error->describe();
      }
      break;
    case 2:
      if (auto a = parse_authorization(body)) {
        for (const auto& c : a->challenges) {
          check_url(c.url);
          for (char ch : c.token) {
            if (ch == '/' || ch == '.') std::abort();  // never a path out of the webroot
          }
          if (!c.token.empty()) (void)key_authorization(c.token, "thumb");
        }
      }
      break;
    case 3:
      if (auto c = parse_challenge(body)) check_url(c->url);
      break;
    case 4:
      if (auto p = parse_problem(body)) {
        for (char ch : p->describe()) {
          if (ch < 0x20 || ch >= 0x7f)
            std::abort();  // nothing but printable text reaches a log line
        }
      }
      break;
    case 5:
      if (auto r = parse_renewal_info(body)) {
        if (r->end <= r->start) std::abort();
      }
      break;
    case 6:
      (void)parse_account_status(body);
      break;
    case 7:
      (void)parse_retry_after(body, herald::TimePoint(std::chrono::seconds(1796551200)));
      break;
    case 8:
      (void)parse_rfc3339(body);
      break;
  }
  return 0;
}
