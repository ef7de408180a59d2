#pragma once
// TLS server settings, immutable once built (Envoy's habit: the config is
// separate from the runtime context built from it). A listener holds a
// TlsContextHolder; reload() swaps in a new context that new connections
// use, while existing connections keep theirs.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "ossl/ossl.h"

namespace herald::net {

struct TlsConfig {
  std::string cert_chain_pem;  // leaf first
  std::string key_pem;         // unencrypted PKCS#8 (held in memory only)
  // If set, clients are asked for a certificate (optional) and it is checked
  // against these CA certificates; the handler sees the result.
  std::string client_ca_pem;
};

class TlsContext;  // wraps boost::asio::ssl::context (defined in tls.cc)

class TlsContextHolder {
 public:
  [[nodiscard]] static Result<std::shared_ptr<TlsContextHolder>> create(const TlsConfig& config);
  [[nodiscard]] Status reload(const TlsConfig& config);
  [[nodiscard]] std::shared_ptr<TlsContext> current() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<TlsContext> ctx_;
};

[[nodiscard]] Result<std::shared_ptr<TlsContext>> make_tls_context(const TlsConfig& config);

}  // namespace herald::net
