#include "scan/scanner.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "ossl/ossl.h"
#include "x509/certificate.h"
#include "x509/san.h"

namespace herald::scan {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SslCtxPtr = std::unique_ptr<SSL_CTX, ossl::Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, ossl::Deleter<SSL_free>>;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

int remaining_ms(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    const int ms = remaining_ms(deadline);
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A connected non-blocking socket, or -1 with `err` set (each address in turn).
Fd dial(const Target& t, SteadyClock::time_point deadline, std::string& err) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  if (t.is_ip) hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res); rc != 0) {
    err = std::string("cannot resolve: ") + gai_strerror(rc);
    return Fd();
  }
  Fd out;
  for (addrinfo* a = res; a; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      err = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        err = std::string("cannot connect: ") + std::strerror(errno);
        continue;
      }
      if (!wait_for(fd.get(), POLLOUT, deadline)) {
        err = "timed out connecting";
        continue;
      }
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        err = std::string("cannot connect: ") + std::strerror(soerr ? soerr : errno);
        continue;
      }
    }
    out = std::move(fd);
    break;
  }
  freeaddrinfo(res);
  if (out.get() >= 0) err.clear();
  return out;
}

Bytes der_of(X509* x) {
  unsigned char* buf = nullptr;
  const int n = i2d_X509(x, &buf);
  Bytes out;
  if (n > 0 && buf) out.assign(buf, buf + n);
  OPENSSL_free(buf);
  return out;
}

// The handshake (the client verifies nothing), then the chain as presented.
bool handshake(SSL_CTX& ctx, int fd, const std::string& sni, SteadyClock::time_point deadline,
               std::vector<Bytes>& chain, std::string& protocol, std::string& err) {
  SslPtr ssl(SSL_new(&ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    err = "cannot set up TLS: " + ossl::drain_errors();
    return false;
  }
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl.get(), sni.c_str()) != 1) {
    err = "cannot send SNI '" + sni + "'";
    ERR_clear_error();
    return false;
  }
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    const int e = SSL_get_error(ssl.get(), rc);
    short events = 0;
    if (e == SSL_ERROR_WANT_READ) events = POLLIN;
    if (e == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    if (events == 0) {
      std::string why = ossl::drain_errors();
      if (why.empty() && e == SSL_ERROR_SYSCALL)
        why = errno ? std::strerror(errno) : "connection closed";
      err = "TLS handshake failed" + (why.empty() ? std::string() : ": " + why);
      return false;
    }
    if (!wait_for(fd, events, deadline)) {
      err = "timed out in the TLS handshake";
      return false;
    }
  }
  protocol = SSL_get_version(ssl.get());
  STACK_OF(X509)* peer = SSL_get_peer_cert_chain(ssl.get());
  const int n = peer ? sk_X509_num(peer) : 0;
  for (int i = 0; i < n && chain.size() < kMaxChain; ++i) {
    Bytes der = der_of(sk_X509_value(peer, i));
    if (!der.empty()) chain.push_back(std::move(der));
  }
  // No close_notify wait: nothing more is read from the server.
  (void)SSL_shutdown(ssl.get());
  ERR_clear_error();
  if (chain.empty()) {
    err = "the server presented no certificate";
    return false;
  }
  return true;
}

std::string problem_message(const verify::Finding& f) {
  std::string m;
  if (f.depth >= 0) m = "certificate " + std::to_string(f.depth) + ": ";
  m += "expected " + f.expected + ", found " + f.found;
  if (!f.hint.empty()) m += " (" + f.hint + ")";
  return m;
}

}  // namespace

std::vector<Probe> make_probes(const std::vector<Target>& targets,
                               const std::vector<std::string>& sni_names) {
  std::vector<Probe> out;
  out.reserve(targets.size() * std::max<size_t>(1, sni_names.size()));
  for (const auto& t : targets) {
    if (sni_names.empty()) {
      // What any client of a name does: send it. An address: no SNI.
      out.push_back({t, t.is_ip ? "" : t.host});
    } else {
      for (const auto& n : sni_names) out.push_back({t, n});
    }
  }
  return out;
}

Analysis analyze_chain(const verify::Verifier& verifier, const std::vector<Bytes>& chain,
                       const std::string& name, TimePoint at) {
  Analysis a;
  verify::Options o;
  o.at = at;
  o.purpose = verify::Purpose::kServer;
  if (!x509::ip_octets(name).empty()) {
    o.ip = name;
  } else if (!name.empty()) {
    o.dns_name = name;
  }
  auto r = verifier.verify(chain.front(), std::vector<Bytes>(chain.begin() + 1, chain.end()), o);
  a.valid = r.valid;
  auto leaf = x509::Certificate::from_der(chain.front());
  if (leaf) {
    const auto& c = *leaf;
    a.leaf.fingerprint_sha256 = c.fingerprint_sha256();
    a.leaf.serial_hex = c.serial().hex();
    a.leaf.subject = c.subject();
    a.leaf.issuer = c.issuer();
    for (const auto& s : c.sans()) a.leaf.sans.push_back(s.to_string());
    a.leaf.not_before = c.not_before();
    a.leaf.not_after = c.not_after();
    const auto k = c.key_info();
    a.leaf.key_algorithm = k.name();
    a.leaf.key_bits = k.bits;
    a.leaf.signature_algorithm = c.signature_algorithm();
    a.leaf.der = chain.front();
    // A self-signed leaf that is not itself trusted: say so plainly (the
    // verifier reports the path it could not build).
    if (!r.valid && X509_check_issued(&c.x509(), &c.x509()) == X509_V_OK) {
      a.problems.push_back({"self_signed", "the server presents a self-signed certificate (" +
                                               c.subject() + "), not one issued by a trusted CA"});
    }
  } else {
    // Unparseable leaf: keep it by the hash of its bytes.
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(chain.front().data(), chain.front().size(), md, &len, EVP_sha256(), nullptr);
    a.leaf.fingerprint_sha256 = to_hex_colons(std::span<const uint8_t>(md, len));
    a.leaf.der = chain.front();
  }
  std::set<std::string> seen;
  for (const auto& p : a.problems) seen.insert(p.code);
  for (const auto& f : r.findings) {
    if (!seen.insert(f.code).second) continue;
    // A self-signed leaf has no issuer to find: that is the same problem.
    if (f.code == "missing_issuer" && seen.count("self_signed") && f.depth == 0) continue;
    if (f.code == "untrusted_root" && seen.count("self_signed") && f.depth == 0) continue;
    a.problems.push_back({f.code, problem_message(f)});
  }
  // The verifier reports the path closest to valid; when no path reaches an
  // anchor it stops at that, so the leaf's own problems (its dates, the name)
  // are checked here too, whatever the path.
  if (leaf) {
    const auto& c = *leaf;
    if (c.not_after() < at && !seen.count("expired")) {
      a.problems.push_back({"expired", "certificate 0: expected valid at " + format_time(at) +
                                           ", found notAfter " + format_time(c.not_after()) +
                                           " (renew it)"});
    }
    if (c.not_before() > at && !seen.count("not_yet_valid")) {
      a.problems.push_back({"not_yet_valid", "certificate 0: expected valid at " + format_time(at) +
                                                 ", found notBefore " +
                                                 format_time(c.not_before())});
    }
    if (!name.empty() && !seen.count("hostname_mismatch")) {
      const unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
      const bool matches =
          !x509::ip_octets(name).empty()
              ? X509_check_ip_asc(&c.x509(), name.c_str(), flags) == 1
              : X509_check_host(&c.x509(), name.data(), name.size(), flags, nullptr) == 1;
      if (!matches) {
        a.problems.push_back({"hostname_mismatch", "certificate 0: expected a SAN for " + name +
                                                       ", found none (issue it for this name)"});
      }
      ERR_clear_error();
    }
  }
  return a;
}

Summary run_scan(const std::vector<Probe>& probes, const ScanOptions& options,
                 const verify::Verifier& verifier, store::DeploymentStore* store,
                 const Clock& clock,
                 const std::function<void(const ProbeOutcome&, size_t done)>& on_done) {
  Summary sum;
  std::set<std::pair<std::string, uint16_t>> distinct;
  for (const auto& p : probes) distinct.emplace(p.target.host, p.target.port);
  sum.targets = distinct.size();
  sum.probes = probes.size();

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // the verifier decides, after
    SSL_CTX_set_max_cert_list(ctx.get(), static_cast<long>(kMaxCertList));
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    // Old servers too: the point is to see what they present.
    SSL_CTX_set_security_level(ctx.get(), 0);
  }

  std::mutex mu;
  std::set<std::string> herald_leaves, foreign_leaves;
  std::atomic<size_t> next{0};
  size_t done = 0;
  auto worker = [&] {
    // A server that resets the connection while OpenSSL writes must not
    // raise SIGPIPE and end the whole scan: blocked in this thread, the
    // write fails with EPIPE instead (the pending signal dies with it).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= probes.size()) return;
      const Probe& p = probes[i];
      ProbeOutcome out;
      out.endpoint = p.target.endpoint();
      out.sni = p.sni;
      out.verified_name = p.sni.empty() ? p.target.host : p.sni;
      const auto deadline = SteadyClock::now() + options.timeout;
      std::vector<Bytes> chain;
      if (!ctx) {
        out.error = "cannot set up TLS";
      } else {
        Fd fd = dial(p.target, deadline, out.error);
        if (fd.get() >= 0) {
          out.reachable = true;
          out.tls = handshake(*ctx, fd.get(), p.sni, deadline, chain, out.protocol, out.error);
        }
      }
      if (out.tls) {
        const TimePoint now = clock.now();
        Analysis a = analyze_chain(verifier, chain, out.verified_name, now);
        out.valid = a.valid;
        out.problems = a.problems;
        out.fingerprint_sha256 = a.leaf.fingerprint_sha256;
        out.serial_hex = a.leaf.serial_hex;
        out.subject = a.leaf.subject;
        out.not_after = a.leaf.not_after;
        if (store) {
          store::Sighting s;
          s.endpoint = out.endpoint;
          s.sni = p.sni;
          s.leaf = std::move(a.leaf);
          s.chain_der = std::move(chain);
          s.problems = a.problems;
          s.at = now;
          auto rec = store->record_sighting(s);
          if (rec) {
            out.foreign = rec->foreign;
          } else {
            out.store_error = rec.error().message;
          }
        }
      }
      std::lock_guard lock(mu);
      ++done;
      if (out.reachable) ++sum.reachable;
      if (out.tls) {
        ++sum.tls;
        if (out.valid) ++sum.valid;
        if (!out.store_error.empty()) {
          ++sum.store_errors;
        } else if (store) {
          (out.foreign ? foreign_leaves : herald_leaves).insert(out.fingerprint_sha256);
        }
        for (const auto& pr : out.problems) ++sum.problems[pr.code];
      }
      if (on_done) on_done(out, done);
    }
  };
  const size_t n = std::max<size_t>(1, std::min(options.concurrency, probes.size()));
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  sum.herald_certificates = herald_leaves.size();
  sum.foreign_certificates = foreign_leaves.size();
  return sum;
}

}  // namespace herald::scan
