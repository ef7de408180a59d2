#include "ca/urls.h"

namespace herald::ca {

std::string crl_url(std::string_view base, std::string_view ca) {
  return std::string(base) + "/crl/" + std::string(ca) + ".crl";
}
std::string ocsp_url(std::string_view base) { return std::string(base) + "/ocsp"; }
std::string ca_cert_url(std::string_view base, std::string_view ca) {
  return std::string(base) + "/ca/" + std::string(ca) + ".crt";
}

}  // namespace herald::ca
