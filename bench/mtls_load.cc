// mtls_load: a closed-loop HTTPS load generator that presents a client
// certificate (ab and wrk cannot), for benchmarking `herald proxy` against
// nginx as mTLS terminators (bench/proxy_bench.sh, docs/benchmarks.md).
//
// T threads, each with its own epoll loop and C/T non-blocking connections
// driven by OpenSSL directly. Closed loop: each connection has at most one
// request in flight and sends the next one as soon as the answer is read.
//
//   --mode handshake  a new TCP + TLS connection per request: full handshake
//                     (no session is ever offered), client certificate, one
//                     small GET, close
//   --mode resume     the same, offering the session (ticket) of this
//                     connection slot's previous connection
//   --mode keepalive  C connections, requests back to back
//   --mode upload     POST of --bytes N per request (keep-alive), body streamed
//   --mode download   GET of a body of --bytes N per request (keep-alive)
//
// Every response is parsed (Content-Length, chunked, or until close) and its
// status checked: only 200 counts as ok; anything else is a failure by kind:
//   connect    TCP connect failed
//   handshake  TLS handshake failed, or the server's alert arrived before any
//              response byte (a TLS 1.3 server refuses a client certificate
//              after the client considers the handshake done)
//   status     an answer whose status is not 200 (counted per status too)
//   io         the connection failed or closed mid-request
//   body       download: a body of another length than --bytes
// Output: one JSON line on stdout. The client's own CPU time (getrusage) is
// reported so that a run where the load generator saturates is visible.
//
// Exit: 0 when at least one request succeeded and none failed, 1 otherwise,
// 2 on bad usage.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kHandshake, kResume, kKeepalive, kUpload, kDownload };

struct Options {
  Mode mode = Mode::kKeepalive;
  std::string mode_name = "keepalive";
  std::string host, port = "443", path = "/";
  std::string sni;
  std::string cert, key, ca;
  bool client_cert = true;
  int concurrency = 8;
  double duration = 10;
  int threads = 1;
  int tls = 0;  // 0: any, 12, 13
  uint64_t bytes = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "mtls_load: %s\n"
      "usage: mtls_load --url https://HOST:PORT/PATH [--mode "
      "handshake|resume|keepalive|upload|download]\n"
      "                 [--bytes N] [--cert CHAIN.pem --key KEY.pem | --no-client-cert] [--ca "
      "ROOT.pem]\n"
      "                 [--sni NAME] [--concurrency C] [--duration S] [--threads T] [--tls "
      "1.2|1.3]\n"
      "  --ca: verify the server against this bundle (without it the server is not verified)\n",
      why);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + std::string(a)).c_str());
      return argv[++i];
    };
    if (a == "--url") {
      url = val();
    } else if (a == "--mode") {
      o.mode_name = val();
      if (o.mode_name == "handshake")
        o.mode = Mode::kHandshake;
      else if (o.mode_name == "resume")
        o.mode = Mode::kResume;
      else if (o.mode_name == "keepalive")
        o.mode = Mode::kKeepalive;
      else if (o.mode_name == "upload")
        o.mode = Mode::kUpload;
      else if (o.mode_name == "download")
        o.mode = Mode::kDownload;
      else
        usage("unknown --mode");
    } else if (a == "--bytes") {
      o.bytes = std::strtoull(val().c_str(), nullptr, 10);
    } else if (a == "--cert") {
      o.cert = val();
    } else if (a == "--key") {
      o.key = val();
    } else if (a == "--ca") {
      o.ca = val();
    } else if (a == "--sni") {
      o.sni = val();
    } else if (a == "--no-client-cert") {
      o.client_cert = false;
    } else if (a == "--concurrency" || a == "-c") {
      o.concurrency = std::atoi(val().c_str());
    } else if (a == "--duration" || a == "-d") {
      o.duration = std::atof(val().c_str());
    } else if (a == "--threads" || a == "-t") {
      o.threads = std::atoi(val().c_str());
    } else if (a == "--tls") {
      std::string v = val();
      if (v == "1.2")
        o.tls = 12;
      else if (v == "1.3")
        o.tls = 13;
      else
        usage("--tls is 1.2 or 1.3");
    } else if (a == "--help" || a == "-h") {
      usage("help");
    } else {
      usage(("unknown argument " + std::string(a)).c_str());
    }
  }
  if (url.rfind("https://", 0) != 0) usage("--url https://HOST:PORT/PATH is required");
  std::string rest = url.substr(8);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) usage("bad IPv6 literal in --url");
    o.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      o.port = hostport.substr(close + 2);
  } else {
    size_t colon = hostport.rfind(':');
    o.host = hostport.substr(0, colon);
    if (colon != std::string::npos) o.port = hostport.substr(colon + 1);
  }
  if (o.host.empty()) usage("no host in --url");
  if (o.client_cert && (o.cert.empty() || o.key.empty()))
    usage("--cert and --key are required (or --no-client-cert)");
  if (o.concurrency < 1 || o.threads < 1 || o.duration <= 0)
    usage("bad --concurrency/--threads/--duration");
  if (o.threads > o.concurrency) o.threads = o.concurrency;
  if ((o.mode == Mode::kUpload || o.mode == Mode::kDownload) && o.bytes == 0)
    usage("--bytes N is required for upload/download");
  return o;
}

// ---- HTTP/1.1 response parser (status line, headers, body framing) ----

struct Response {
  enum class S { kHead, kLength, kChunkSize, kChunkData, kChunkCrlf, kTrailer, kUntilClose, kDone };
  S s = S::kHead;
  std::string head;  // header bytes, then the current chunk-size/trailer line
  int status = 0;
  bool close = false;
  uint64_t left = 0;
  uint64_t body = 0;
  bool any = false;  // a byte of this response arrived

  void reset() {
    s = S::kHead;
    head.clear();
    status = 0;
    close = false;
    left = 0;
    body = 0;
    any = false;
  }

  static std::string lower(std::string_view v) {
    std::string r(v);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  }

  // Parses the header block in `head` (ending in CRLFCRLF). false: malformed.
  bool parse_head() {
    if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0 || head[8] != ' ') return false;
    status = std::atoi(head.c_str() + 9);
    if (status < 100 || status > 999) return false;
    bool chunked = false, has_length = false;
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos || end == pos) break;
      std::string_view line(head.data() + pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name = lower(line.substr(0, colon));
        std::string value = lower(line.substr(colon + 1));
        if (name == "content-length") {
          has_length = true;
          left = std::strtoull(value.c_str(), nullptr, 10);
        } else if (name == "transfer-encoding") {
          chunked = value.find("chunked") != std::string::npos;
        } else if (name == "connection") {
          close = value.find("close") != std::string::npos;
        }
      }
      pos = end + 2;
    }
    head.clear();
    if (status >= 100 && status < 200) {  // interim answer: the real one follows
      s = S::kHead;
      return true;
    }
    if (status == 204 || status == 304)
      s = S::kDone;
    else if (chunked)
      s = S::kChunkSize;
    else if (has_length)
      s = left == 0 ? S::kDone : S::kLength;
    else
      s = S::kUntilClose;
    return true;
  }

  // Feeds bytes. Returns -1 malformed (or bytes beyond the answer), 0 more
  // wanted, 1 complete.
  int feed(const char* d, size_t n) {
    if (n) any = true;
    while (n > 0) {
      switch (s) {
        case S::kHead: {
          size_t old = head.size();
          head.append(d, n);
          size_t from = old >= 3 ? old - 3 : 0;
          size_t end = head.find("\r\n\r\n", from);
          if (end == std::string::npos) {
            if (head.size() > 65536) return -1;
            return 0;
          }
          size_t used = end + 4 - old;
          head.resize(end + 4);
          d += used;
          n -= used;
          if (!parse_head()) return -1;
          break;
        }
        case S::kLength: {
          uint64_t k = std::min<uint64_t>(left, n);
          left -= k;
          body += k;
          d += k;
          n -= k;
          if (left == 0) s = S::kDone;
          break;
        }
        case S::kChunkSize:
        case S::kTrailer: {
          const char* nl = static_cast<const char*>(std::memchr(d, '\n', n));
          size_t k = nl ? static_cast<size_t>(nl - d) + 1 : n;
          head.append(d, k);
          d += k;
          n -= k;
          if (head.size() > 4096) return -1;
          if (!nl) break;
          if (s == S::kChunkSize) {
            char* endp = nullptr;
            unsigned long long size = std::strtoull(head.c_str(), &endp, 16);
            if (endp == head.c_str()) return -1;
            head.clear();
            if (size == 0) {
              s = S::kTrailer;
            } else {
              left = size;
              s = S::kChunkData;
            }
          } else {
            bool empty = head == "\r\n" || head == "\n";
            head.clear();
            if (empty) s = S::kDone;
          }
          break;
        }
        case S::kChunkData: {
          uint64_t k = std::min<uint64_t>(left, n);
          left -= k;
          body += k;
          d += k;
          n -= k;
          if (left == 0) {
            s = S::kChunkCrlf;
            left = 2;
          }
          break;
        }
        case S::kChunkCrlf: {
          uint64_t k = std::min<uint64_t>(left, n);
          left -= k;
          d += k;
          n -= k;
          if (left == 0) s = S::kChunkSize;
          break;
        }
        case S::kUntilClose:
          body += n;
          n = 0;
          break;
        case S::kDone:
          return -1;  // bytes after the answer: nothing was pipelined
      }
    }
    return s == S::kDone ? 1 : 0;
  }
};

// ---- per-thread state ----

enum class Fail { kConnect, kHandshake, kStatus, kIo, kBody };

struct Counters {
  uint64_t ok = 0;
  uint64_t failed[5] = {0, 0, 0, 0, 0};
  uint64_t full_handshakes = 0, resumed = 0, connections = 0;
  uint64_t body_bytes = 0;  // body bytes of ok answers (download) / sent (upload)
  std::map<int, uint64_t> statuses;
  std::vector<uint32_t> latency_us;
};

enum class St { kIdle, kConnecting, kHandshake, kWrite, kRead };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  St st = St::kIdle;
  uint32_t events = 0;
  SSL_SESSION* session = nullptr;
  Clock::time_point t0;        // start of the measured operation
  Clock::time_point retry_at;  // kIdle: reconnect at
  bool first = true;           // first request on this connection
  std::string out;             // request head
  size_t out_off = 0;
  uint64_t body_left = 0;  // upload body still to send
  size_t pending = 0;      // SSL_write retry length (must repeat after WANT_*)
  Response resp;
};

constexpr size_t kBuf = 64 * 1024;

struct Worker {
  const Options& o;
  SSL_CTX* ctx;
  const sockaddr_storage& addr;
  socklen_t addrlen;
  Clock::time_point deadline;
  int ep = -1;
  std::vector<Conn> conns;
  Counters c;
  char rbuf[kBuf];
  const char* wbuf;  // kBuf bytes of upload body

  Worker(const Options& opt, SSL_CTX* x, const sockaddr_storage& a, socklen_t al, int n,
         const char* body)
      : o(opt), ctx(x), addr(a), addrlen(al), conns(static_cast<size_t>(n)), wbuf(body) {}

  void want(Conn& k, uint32_t ev) {
    if (k.events == ev) return;
    epoll_event e{};
    e.events = ev;
    e.data.ptr = &k;
    epoll_ctl(ep, k.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, k.fd, &e);
    k.events = ev;
  }

  void close_conn(Conn& k, bool clean) {
    if (k.ssl) {
      if (clean) {
        if (o.mode == Mode::kResume) {
          SSL_SESSION* s = SSL_get1_session(k.ssl);
          if (s) {
            if (k.session) SSL_SESSION_free(k.session);
            k.session = s;
          }
        }
        SSL_shutdown(k.ssl);  // sends close_notify; the peer's is not awaited
      }
      // Reused for the next connection (SSL_clear is cheaper than SSL_new).
      if (!clean || o.mode == Mode::kResume) {
        SSL_free(k.ssl);
        k.ssl = nullptr;
      }
    }
    if (k.fd >= 0) ::close(k.fd);  // also leaves the epoll set
    k.fd = -1;
    k.events = 0;
    k.st = St::kIdle;
  }

  void fail(Conn& k, Fail f) {
    c.failed[static_cast<int>(f)]++;
    close_conn(k, false);
    if (f == Fail::kConnect)
      k.retry_at = Clock::now() + std::chrono::milliseconds(10);
    else
      start(k);
  }

  void start(Conn& k) {
    k.st = St::kIdle;
    Clock::time_point now = Clock::now();
    if (now >= deadline) return;
    k.t0 = now;
    k.first = true;
    k.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k.fd < 0) {
      c.failed[static_cast<int>(Fail::kConnect)]++;
      k.retry_at = now + std::chrono::milliseconds(10);
      return;
    }
    int one = 1;
    setsockopt(k.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.connections++;
    int r = ::connect(k.fd, reinterpret_cast<const sockaddr*>(&addr), addrlen);
    if (r < 0 && errno != EINPROGRESS) {
      fail(k, Fail::kConnect);
      return;
    }
    k.st = St::kConnecting;
    want(k, EPOLLOUT);
  }

  void begin_request(Conn& k) {
    if (Clock::now() >= deadline) {
      close_conn(k, true);
      return;
    }
    bool closing = o.mode == Mode::kHandshake || o.mode == Mode::kResume;
    if (!closing) k.t0 = Clock::now();  // keep-alive: latency of the request alone
    k.resp.reset();
    k.out.clear();
    k.out_off = 0;
    k.pending = 0;
    k.body_left = 0;
    if (o.mode == Mode::kUpload) {
      k.out = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
              "\r\nUser-Agent: mtls_load\r\nContent-Type: "
              "application/octet-stream\r\nContent-Length: " +
              std::to_string(o.bytes) + "\r\n\r\n";
      k.body_left = o.bytes;
    } else {
      k.out = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
              "\r\nUser-Agent: mtls_load\r\n" + (closing ? "Connection: close\r\n" : "") + "\r\n";
    }
    k.st = St::kWrite;
  }

  void complete(Conn& k) {
    Clock::time_point now = Clock::now();
    if (now < deadline) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - k.t0).count();
      if (k.resp.status != 200) {
        c.failed[static_cast<int>(Fail::kStatus)]++;
        c.statuses[k.resp.status]++;
      } else if (o.mode == Mode::kDownload && k.resp.body != o.bytes) {
        c.failed[static_cast<int>(Fail::kBody)]++;
      } else {
        c.ok++;
        c.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
        if (o.mode == Mode::kDownload) c.body_bytes += k.resp.body;
        if (o.mode == Mode::kUpload) c.body_bytes += o.bytes;
      }
    }
    bool reconnect = o.mode == Mode::kHandshake || o.mode == Mode::kResume || k.resp.close;
    if (reconnect) {
      close_conn(k, true);
      start(k);
    } else {
      k.first = false;
      begin_request(k);
    }
  }

  // A failure while reading or writing a request.
  void io_fail(Conn& k, int err) {
    bool alert = err == SSL_ERROR_SSL || (err == SSL_ERROR_SYSCALL && ERR_peek_error() != 0);
    ERR_clear_error();
    fail(k, k.first && !k.resp.any && alert ? Fail::kHandshake : Fail::kIo);
  }

  void drive(Conn& k) {
    for (int rounds = 0; rounds < 64; ++rounds) {
      switch (k.st) {
        case St::kIdle:
          return;
        case St::kConnecting: {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(k.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            fail(k, Fail::kConnect);
            return;
          }
          if (k.ssl) {
            SSL_clear(k.ssl);
            SSL_set_session(k.ssl, nullptr);  // SSL_clear keeps the last session: never offer it
          } else {
            k.ssl = SSL_new(ctx);
          }
          SSL_set_fd(k.ssl, k.fd);
          SSL_set_connect_state(k.ssl);
          if (!o.sni.empty()) SSL_set_tlsext_host_name(k.ssl, o.sni.c_str());
          if (o.mode == Mode::kResume && k.session) SSL_set_session(k.ssl, k.session);
          k.st = St::kHandshake;
          break;
        }
        case St::kHandshake: {
          ERR_clear_error();
          int r = SSL_do_handshake(k.ssl);
          if (r == 1) {
            if (SSL_session_reused(k.ssl))
              c.resumed++;
            else
              c.full_handshakes++;
            begin_request(k);
            if (k.st == St::kIdle) return;
            break;
          }
          int e = SSL_get_error(k.ssl, r);
          if (e == SSL_ERROR_WANT_READ) return want(k, EPOLLIN);
          if (e == SSL_ERROR_WANT_WRITE) return want(k, EPOLLOUT);
          ERR_clear_error();
          fail(k, Fail::kHandshake);
          return;
        }
        case St::kWrite: {
          const char* p;
          size_t n;
          if (k.out_off < k.out.size()) {
            p = k.out.data() + k.out_off;
            n = k.pending ? k.pending : k.out.size() - k.out_off;
          } else if (k.body_left > 0) {
            p = wbuf;
            n = k.pending ? k.pending : static_cast<size_t>(std::min<uint64_t>(k.body_left, kBuf));
          } else {
            k.st = St::kRead;
            break;
          }
          ERR_clear_error();
          int r = SSL_write(k.ssl, p, static_cast<int>(n));
          if (r > 0) {
            k.pending = 0;
            if (k.out_off < k.out.size())
              k.out_off += static_cast<size_t>(r);
            else
              k.body_left -= static_cast<uint64_t>(r);
            break;
          }
          int e = SSL_get_error(k.ssl, r);
          k.pending = n;
          if (e == SSL_ERROR_WANT_WRITE) return want(k, EPOLLOUT);
          if (e == SSL_ERROR_WANT_READ) return want(k, EPOLLIN);
          // The server may have answered (a refusal) and closed before the
          // whole upload was sent: read what it said.
          if (k.resp.any || o.mode == Mode::kUpload) {
            k.st = St::kRead;
            break;
          }
          io_fail(k, e);
          return;
        }
        case St::kRead: {
          ERR_clear_error();
          int r = SSL_read(k.ssl, rbuf, sizeof rbuf);
          if (r > 0) {
            int f = k.resp.feed(rbuf, static_cast<size_t>(r));
            if (f < 0) {
              fail(k, Fail::kIo);
              return;
            }
            if (f == 1) {
              complete(k);
              if (k.st == St::kIdle || k.st == St::kConnecting) return;
            }
            break;
          }
          int e = SSL_get_error(k.ssl, r);
          if (e == SSL_ERROR_WANT_READ) return want(k, EPOLLIN);
          if (e == SSL_ERROR_WANT_WRITE) return want(k, EPOLLOUT);
          if ((e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) &&
              k.resp.s == Response::S::kUntilClose) {
            ERR_clear_error();
            k.resp.s = Response::S::kDone;
            k.resp.close = true;
            complete(k);
            return;
          }
          io_fail(k, e);
          return;
        }
      }
    }
    // Fairness: yield to other connections; anything buffered inside the SSL
    // object would not wake epoll again, so keep going in that case.
    if (k.ssl && SSL_has_pending(k.ssl) && k.st == St::kRead) {
      drive(k);
      return;
    }
    if (k.st == St::kWrite)
      want(k, EPOLLOUT);
    else if (k.st == St::kRead)
      want(k, EPOLLIN);
  }

  void run() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (Conn& k : conns) start(k);
    std::vector<epoll_event> evs(256);
    Clock::time_point next_scan = Clock::now();
    for (;;) {
      Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      int ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
      int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), std::min(ms + 1, 10));
      for (int i = 0; i < n; ++i) {
        Conn& k = *static_cast<Conn*>(evs[static_cast<size_t>(i)].data.ptr);
        if (k.fd >= 0) drive(k);
      }
      now = Clock::now();
      if (now >= next_scan) {  // reconnect slots whose connect failed
        for (Conn& k : conns)
          if (k.st == St::kIdle && k.fd < 0 && now >= k.retry_at && now < deadline) start(k);
        next_scan = now + std::chrono::milliseconds(5);
      }
    }
    for (Conn& k : conns) {
      close_conn(k, false);
      if (k.session) SSL_SESSION_free(k.session);
      k.session = nullptr;
    }
    ::close(ep);
  }
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void print_ossl_errors() {
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    std::fprintf(stderr, "  %s\n", buf);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (int r = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &ai); r != 0 || !ai) {
    std::fprintf(stderr, "mtls_load: cannot resolve %s:%s: %s\n", o.host.c_str(), o.port.c_str(),
                 gai_strerror(r));
    return 2;
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  socklen_t addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (o.tls == 12) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  } else if (o.tls == 13) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  } else {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A peer that closes without close_notify ends a close-delimited body
  // (SSL_ERROR_ZERO_RETURN) instead of failing with "unexpected eof".
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (o.mode == Mode::kResume) {
    // Sessions are kept per connection slot by hand (SSL_get1_session).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  if (o.client_cert) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      std::fprintf(stderr, "mtls_load: cannot load client certificate %s / key %s\n",
                   o.cert.c_str(), o.key.c_str());
      print_ossl_errors();
      return 2;
    }
  }
  if (!o.ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1) {
      std::fprintf(stderr, "mtls_load: cannot load --ca %s\n", o.ca.c_str());
      print_ossl_errors();
      return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  std::vector<char> body(kBuf, 'x');
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < o.threads; ++t) {
    int n = o.concurrency / o.threads + (t < o.concurrency % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(o, ctx, addr, addrlen, n, body.data()));
  }
  double cpu0 = cpu_seconds();
  Clock::time_point t0 = Clock::now();
  Clock::time_point deadline =
      t0 + std::chrono::microseconds(static_cast<int64_t>(o.duration * 1e6));
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    w->deadline = deadline;
    threads.emplace_back([&w] { w->run(); });
  }
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(std::min(Clock::now(), deadline) - t0).count();
  double cpu = cpu_seconds() - cpu0;

  Counters all;
  for (auto& w : workers) {
    all.ok += w->c.ok;
    for (int i = 0; i < 5; ++i) all.failed[i] += w->c.failed[i];
    all.full_handshakes += w->c.full_handshakes;
    all.resumed += w->c.resumed;
    all.connections += w->c.connections;
    all.body_bytes += w->c.body_bytes;
    for (auto& [s, n] : w->c.statuses) all.statuses[s] += n;
    all.latency_us.insert(all.latency_us.end(), w->c.latency_us.begin(), w->c.latency_us.end());
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto pct = [&](double p) -> double {
    if (all.latency_us.empty()) return 0;
    size_t i = static_cast<size_t>(p * static_cast<double>(all.latency_us.size() - 1) + 0.5);
    return all.latency_us[i] / 1000.0;
  };
  uint64_t failed = 0;
  for (uint64_t f : all.failed) failed += f;
  std::string statuses;
  for (auto& [s, n] : all.statuses) {
    if (!statuses.empty()) statuses += ",";
    statuses += "\"" + std::to_string(s) + "\":" + std::to_string(n);
  }
  std::printf(
      "{\"mode\":\"%s\",\"url\":\"https://"
      "%s:%s%s\",\"tls\":\"%s\",\"client_cert\":%s,\"verify_server\":%s,"
      "\"concurrency\":%d,\"threads\":%d,\"bytes\":%" PRIu64
      ",\"duration_s\":%.3f,"
      "\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"failed_by\":{\"connect\":%" PRIu64
      ",\"handshake\":%" PRIu64 ",\"status\":%" PRIu64 ",\"io\":%" PRIu64 ",\"body\":%" PRIu64
      "},\"statuses\":{%s},"
      "\"connections\":%" PRIu64 ",\"full_handshakes\":%" PRIu64 ",\"resumed\":%" PRIu64
      ","
      "\"rate_per_s\":%.1f,\"mb_per_s\":%.1f,"
      "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
      "\"client_cpu_s\":%.3f,\"client_cpu_pct_of_core\":%.1f}\n",
      o.mode_name.c_str(), o.host.c_str(), o.port.c_str(), o.path.c_str(),
      o.tls == 12   ? "1.2"
      : o.tls == 13 ? "1.3"
                    : "any",
      o.client_cert ? "true" : "false", o.ca.empty() ? "false" : "true", o.concurrency, o.threads,
      o.bytes, elapsed, all.ok, failed, all.failed[0], all.failed[1], all.failed[2], all.failed[3],
      all.failed[4], statuses.c_str(), all.connections, all.full_handshakes, all.resumed,
      static_cast<double>(all.ok) / elapsed, static_cast<double>(all.body_bytes) / elapsed / 1e6,
      pct(0.50), pct(0.90), pct(0.99),
      all.latency_us.empty() ? 0.0 : all.latency_us.back() / 1000.0, cpu, cpu / elapsed * 100.0);
  SSL_CTX_free(ctx);
  return all.ok > 0 && failed == 0 ? 0 : 1;
}
