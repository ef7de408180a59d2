// dns-01 (RFC 8555 §8.4).

#include "acme/validation/common.h"
#include "acme/validation/dns.h"
#include "acme/validation/validator.h"
#include "base/encoding.h"
#include "ossl/ossl.h"

namespace herald::acme::validation {

using detail::failure;
using detail::printable;

Outcome validate_dns01(const Settings& s, std::string_view domain,
                       std::string_view key_authorization) {
  auto target = detail::check_identifier("dns", domain, "dns-01");
  if (!target) return target.error();
  if (!detail::is_key_authorization(key_authorization))
    return failure("malformed", "dns-01: the key authorization " + printable(key_authorization) +
                                    " is not <token>.<thumbprint>");
  auto digest = ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(key_authorization.data()),
                                       key_authorization.size()));
  if (!digest) return failure("malformed", "dns-01: " + digest.error().describe());
  const std::string expected = base64url_encode(*digest);

  const std::string name = "_acme-challenge." + target->host;
  const dns::Endpoint resolver = detail::txt_resolver(s);
  std::vector<ValidationRecord> records{{"", name, resolver.port, {resolver.host}, {}}};
  auto answer = dns::lookup(resolver, name, dns::type::kTxt, s.timeout);
  if (!answer) return failure("dns", "dns-01: " + answer.error().message, std::move(records));
  records.back().address_used = resolver.host;

  std::vector<std::string> seen;
  for (const auto& rr : answer->records) {
    std::string value;
    for (const auto& part : rr.txt) value += part;
    if (value == expected) {
      Outcome ok;
      ok.valid = true;
      ok.records = std::move(records);
      return ok;
    }
    seen.push_back(std::move(value));
  }
  const std::string via = answer->canonical_name == name
                              ? std::string()
                              : " (via CNAME to " + answer->canonical_name + ")";
  if (seen.empty())
    return failure("unauthorized",
                   "dns-01: no TXT record at " + name + via + " (asked " + resolver.to_string() +
                       "); expected one holding " + printable(expected),
                   std::move(records));
  std::string found;
  for (size_t i = 0; i < seen.size() && i < 10; ++i)
    found += (i ? ", " : "") + printable(seen[i], 96);
  if (seen.size() > 10) found += ", ... (" + std::to_string(seen.size()) + " in all)";
  return failure("unauthorized",
                 "dns-01: no TXT record at " + name + via + " (asked " + resolver.to_string() +
                     ") holds " + printable(expected) + "; found " + found,
                 std::move(records));
}

}  // namespace herald::acme::validation
