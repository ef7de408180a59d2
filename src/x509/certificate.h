#pragma once
// Certificate: an immutable, cheap-to-copy value over a parsed X509 and its
// DER (shared), with accessors for what Herald shows and records.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "keys/key_type.h"
#include "ossl/ossl.h"
#include "x509/san.h"

namespace herald::x509 {

class Certificate {
 public:
  [[nodiscard]] static Result<Certificate> from_der(std::span<const uint8_t> der);
  // Every CERTIFICATE block in the text, in order (at least one).
  [[nodiscard]] static Result<std::vector<Certificate>> from_pem(std::string_view pem);

  [[nodiscard]] X509& x509() const { return *x509_; }
  [[nodiscard]] const Bytes& der() const { return *der_; }
  [[nodiscard]] std::string pem() const;

  [[nodiscard]] Serial serial() const;
  [[nodiscard]] std::string subject() const;
  [[nodiscard]] std::string issuer() const;
  [[nodiscard]] std::string common_name() const;
  [[nodiscard]] TimePoint not_before() const;
  [[nodiscard]] TimePoint not_after() const;
  [[nodiscard]] std::string fingerprint_sha256() const;  // "AB:CD:..."
  [[nodiscard]] keys::KeyInfo key_info() const;
  [[nodiscard]] std::string signature_algorithm() const;
  [[nodiscard]] bool is_ca() const;
  [[nodiscard]] std::optional<int> path_len() const;  // only for CAs with a pathLenConstraint
  [[nodiscard]] Bytes subject_key_id() const;
  [[nodiscard]] std::vector<San> sans() const;
  [[nodiscard]] std::vector<std::string> ext_key_usage() const;  // "serverAuth", "clientAuth", ...

 private:
  Certificate(std::shared_ptr<X509> x, std::shared_ptr<const Bytes> der)
      : x509_(std::move(x)), der_(std::move(der)) {}
  std::shared_ptr<X509> x509_;
  std::shared_ptr<const Bytes> der_;
};

[[nodiscard]] TimePoint from_asn1_time(const ASN1_TIME& t);
[[nodiscard]] std::string eku_name(int nid);

}  // namespace herald::x509
