#pragma once
// Distinguished names: building the few shapes Herald issues, and printing.

#include <string>
#include <string_view>

#include "base/error.h"
#include "ossl/ossl.h"

namespace herald::x509 {

// A name of at most O and CN (either may be empty; both empty = empty name).
[[nodiscard]] Result<ossl::X509NamePtr> make_name(std::string_view organization,
                                                  std::string_view common_name);
// RFC 2253 text: "CN=web.internal,O=Acme".
[[nodiscard]] std::string name_to_string(const X509_NAME& name);
// The first CN, or "".
[[nodiscard]] std::string common_name(const X509_NAME& name);

}  // namespace herald::x509
