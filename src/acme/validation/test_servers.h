#pragma once
// Test-only peers for the validation tests, all on loopback: a TCP server
// with a per-connection handler, an HTTP responder, an OpenSSL TLS server
// (ALPN acme-tls/1, optional HTTP) and a UDP DNS stub answering from a
// table. Each runs on its own thread and stops in its destructor.

#include <openssl/ssl.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "acme/validation/dns.h"
#include "ossl/ossl.h"

namespace herald::acme::validation::testing {

// A loopback TCP port with nothing listening (connecting is refused).
uint16_t unused_tcp_port();
// A loopback UDP port with nothing bound.
uint16_t unused_udp_port();
// Whether [::1] can be bound here.
bool ipv6_loopback_available();

class TcpServer {
 public:
  // Called on the server thread for each accepted connection, one at a time;
  // the socket has a 3 s receive timeout and is closed afterwards.
  using Handler = std::function<void(int fd, const std::atomic<bool>& stopping)>;
  // On [::1], or on `ipv4` (any 127.0.0.0/8 address); `port` 0: any free one.
  explicit TcpServer(Handler handler, bool ipv6 = false, const std::string& ipv4 = "127.0.0.1",
                     uint16_t port = 0);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_; }

 private:
  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// "HTTP/1.1 <status> X\r\nContent-Length: ..\r\nConnection: close\r\n<headers>\r\n<body>".
std::string http_response(int status, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

// Reads an HTTP request head (up to the blank line) from `read`; "" on EOF.
std::string read_request_head(const std::function<long(char*, size_t)>& read);
// "/path" of "GET /path HTTP/1.1".
std::string request_path(std::string_view head);
// The value of a header in a request head ("" if absent).
std::string request_header(std::string_view head, std::string_view name);

// Answers each path with a fixed raw response (404 for unknown paths);
// hang(path) makes a path read the request and never answer.
class HttpResponder {
 public:
  void route(const std::string& path, std::string raw_response);
  void hang(const std::string& path);
  // The raw response for a request head; nullopt: hang.
  std::optional<std::string> respond(const std::string& head);
  [[nodiscard]] std::vector<std::string> requests() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::optional<std::string>> routes_;
  std::vector<std::string> requests_;
};

class HttpServer : public HttpResponder {
 public:
  explicit HttpServer(bool ipv6 = false, const std::string& ipv4 = "127.0.0.1",
                      uint16_t port = 0);
  [[nodiscard]] bool ok() const { return tcp_.ok(); }
  [[nodiscard]] uint16_t port() const { return tcp_.port(); }
  [[nodiscard]] int accepted() const { return tcp_.accepted(); }

 private:
  TcpServer tcp_;
};

struct CertSpec {
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  // The acmeIdentifier extension's value (extnValue contents), if any.
  std::optional<Bytes> acme_identifier;
  bool critical = true;
  int acme_identifier_copies = 1;
};
// The DER OCTET STRING of SHA-256(key_authorization), as RFC 8737 wants it.
Bytes acme_identifier_value(std::string_view key_authorization);

struct KeyAndCert {
  ossl::EvpPkeyPtr key;
  ossl::X509Ptr cert;
};
// A self-signed P-256 certificate with the SANs and extension asked for.
KeyAndCert make_cert(const CertSpec& spec);

class TlsServer {
 public:
  enum class Alpn {
    kAcme,    // selects acme-tls/1 when offered
    kNone,    // no ALPN callback: the handshake succeeds without ALPN
    kRefuse,  // sends the no_application_protocol alert
  };
  // With an HttpResponder, serves HTTP over TLS after the handshake.
  TlsServer(const CertSpec& spec, Alpn alpn, HttpResponder* http = nullptr);
  ~TlsServer();
  [[nodiscard]] bool ok() const { return tcp_ && tcp_->ok(); }
  [[nodiscard]] uint16_t port() const { return tcp_->port(); }
  [[nodiscard]] std::string last_sni() const;  // of the latest ClientHello
  void note_sni(std::string sni);
  [[nodiscard]] int handshakes() const { return handshakes_; }

 private:
  void serve(int fd, const std::atomic<bool>& stopping);
  KeyAndCert kc_;
  Alpn alpn_;
  HttpResponder* http_;
  SSL_CTX* ctx_ = nullptr;
  mutable std::mutex mu_;
  std::string last_sni_;
  std::atomic<int> handshakes_{0};
  std::unique_ptr<TcpServer> tcp_;
};

class DnsStub {
 public:
  enum class Mode {
    kAnswer,             // from the table; NXDOMAIN for names without any record
    kServFail,           // SERVFAIL to everything
    kTruncated,          // the table's answer with TC set and no records
    kWrongId,            // the answer with another ID (to be ignored)
    kSilent,             // never answers
    kGarbageThenAnswer,  // an unparsable datagram, then the answer
  };
  DnsStub();
  ~DnsStub();
  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] uint16_t port() const { return port_; }
  void set_mode(Mode mode) { mode_ = mode; }
  void add(dns::ResourceRecord rr);
  void add_a(const std::string& name, const std::string& ipv4);
  void add_aaaa(const std::string& name, const std::string& ipv6);
  void add_txt(const std::string& name, std::vector<std::string> strings);
  void add_cname(const std::string& name, const std::string& target);
  [[nodiscard]] std::vector<dns::Question> questions() const;

 private:
  Bytes answer(const dns::Message& query);
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<Mode> mode_{Mode::kAnswer};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<dns::ResourceRecord> records_;
  std::vector<dns::Question> questions_;
  std::thread thread_;
};

}  // namespace herald::acme::validation::testing
