#pragma once
// Private to net/: the Asio SSL context behind TlsContext.

#include <boost/asio/ssl.hpp>

#include "net/tls.h"

namespace herald::net {

class TlsContext {
 public:
  TlsContext() : ctx(boost::asio::ssl::context::tls_server) {}
  boost::asio::ssl::context ctx;
  bool wants_client_cert = false;
};

}  // namespace herald::net
