#pragma once
// The URLs written into certificates (CDP, AIA) and served by `herald serve`,
// all derived from the configured base URL in one place.

#include <string>
#include <string_view>

namespace herald::ca {

[[nodiscard]] std::string crl_url(std::string_view base_url,
                                  std::string_view ca_name);    // BASE/crl/issuing.crl
[[nodiscard]] std::string ocsp_url(std::string_view base_url);  // BASE/ocsp
[[nodiscard]] std::string ca_cert_url(std::string_view base_url,
                                      std::string_view ca_name);  // BASE/ca/issuing.crt (DER)

}  // namespace herald::ca
