#include "acme/validation/dns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "ossl/ossl.h"

namespace herald::acme::validation::dns {

namespace {

tl::unexpected<Error> malformed(std::string what, size_t offset) {
  Error e{ErrorCode::kMalformedInput, "malformed DNS message: " + std::move(what), {}};
  e.with("offset", std::to_string(offset));
  return tl::unexpected<Error>(std::move(e));
}

tl::unexpected<Error> bad_name(std::string what, std::string_view name) {
  Error e{ErrorCode::kInvalidArgument, std::move(what), {}};
  e.with("name", std::string(name));
  return tl::unexpected<Error>(std::move(e));
}

// Bounds-checked cursor over the whole message (names need the whole
// message for compression pointers).
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> msg) : msg_(msg) {}
  [[nodiscard]] size_t pos() const { return pos_; }
  [[nodiscard]] size_t remaining() const { return msg_.size() - pos_; }
  [[nodiscard]] std::span<const uint8_t> message() const { return msg_; }
  void seek(size_t p) { pos_ = p; }

  bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = msg_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = static_cast<uint32_t>(msg_[pos_]) << 24 | static_cast<uint32_t>(msg_[pos_ + 1]) << 16 |
        static_cast<uint32_t>(msg_[pos_ + 2]) << 8 | static_cast<uint32_t>(msg_[pos_ + 3]);
    pos_ += 4;
    return true;
  }

 private:
  std::span<const uint8_t> msg_;
  size_t pos_ = 0;
};

void append_label_text(std::string& out, std::span<const uint8_t> label) {
  for (uint8_t c : label) {
    if (c == '.' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x21 || c > 0x7E) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Reads a possibly compressed name at the reader's position and leaves the
// reader just after it (after the first pointer, if any).
Result<std::string> read_name(Reader& r) {
  const auto msg = r.message();
  const size_t start = r.pos();
  size_t p = start;
  size_t limit = start;  // a pointer must target strictly before this
  size_t wire = 0;
  int pointers = 0;
  bool jumped = false;
  std::string out;
  for (;;) {
    if (p >= msg.size()) return malformed("name runs past the end of the message", p);
    const uint8_t len = msg[p];
    if ((len & 0xC0) == 0xC0) {
      if (p + 1 >= msg.size()) return malformed("truncated compression pointer", p);
      const size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[p + 1];
      if (target >= limit) return malformed("compression pointer does not point backwards", p);
      if (target < kHeaderBytes) return malformed("compression pointer into the header", p);
      if (++pointers > kMaxPointers) return malformed("too many compression pointers", p);
      if (!jumped) r.seek(p + 2);
      jumped = true;
      limit = target;
      p = target;
      continue;
    }
    if ((len & 0xC0) != 0) return malformed("unsupported label type", p);
    wire += 1u + len;
    if (wire > kMaxNameWireBytes) return malformed("name longer than 255 bytes", p);
    if (len == 0) {
      if (!jumped) r.seek(p + 1);
      break;
    }
    if (msg.size() - (p + 1) < len) return malformed("label runs past the end of the message", p);
    if (!out.empty()) out += '.';
    append_label_text(out, msg.subspan(p + 1, len));
    p += 1u + len;
  }
  if (out.empty()) out = ".";
  return out;
}

Result<Question> read_question(Reader& r) {
  Question q;
  HERALD_TRY(q.name, read_name(r));
  if (!r.u16(q.type) || !r.u16(q.qclass)) return malformed("truncated question", r.pos());
  return q;
}

Result<ResourceRecord> read_record(Reader& r) {
  ResourceRecord rr;
  HERALD_TRY(rr.name, read_name(r));
  uint16_t rdlength = 0;
  if (!r.u16(rr.type) || !r.u16(rr.rclass) || !r.u32(rr.ttl) || !r.u16(rdlength))
    return malformed("truncated resource record header", r.pos());
  const size_t start = r.pos();
  if (r.remaining() < rdlength) return malformed("rdata runs past the end of the message", start);
  const size_t end = start + rdlength;
  const auto rdata = r.message().subspan(start, rdlength);
  const bool in = rr.rclass == kClassIn;
  if (in && rr.type == type::kA) {
    if (rdlength != 4) return malformed("A rdata is not 4 bytes", start);
    rr.data.assign(rdata.begin(), rdata.end());
  } else if (in && rr.type == type::kAaaa) {
    if (rdlength != 16) return malformed("AAAA rdata is not 16 bytes", start);
    rr.data.assign(rdata.begin(), rdata.end());
  } else if (in && rr.type == type::kCname) {
    // The target may be compressed against the whole message, but must lie
    // within the rdata: read it through a reader bounded by `end`.
    Reader sub(r.message().first(end));
    sub.seek(start);
    HERALD_TRY(rr.cname, read_name(sub));
    if (sub.pos() != end) return malformed("CNAME rdata longer than its name", start);
  } else if (in && rr.type == type::kTxt) {
    if (rdlength == 0) return malformed("TXT rdata without a character-string", start);
    size_t p = start;
    const auto msg = r.message();
    while (p < end) {
      const size_t len = msg[p];
      if (end - (p + 1) < len) return malformed("TXT character-string runs past its rdata", p);
      rr.txt.emplace_back(reinterpret_cast<const char*>(msg.data() + p + 1), len);
      p += 1 + len;
    }
  } else {
    rr.data.assign(rdata.begin(), rdata.end());
  }
  r.seek(end);
  return rr;
}

// ------------------------------------------------------------------ encoding

// Drops the trailing dot of an absolute name ("a.b." -> "a.b"), not an
// escaped one ("a\\." keeps it).
std::string_view strip_root_dot(std::string_view s) {
  if (s.size() < 2 || s.back() != '.') return s;
  size_t backslashes = 0;
  for (size_t i = s.size() - 1; i > 0 && s[i - 1] == '\\'; --i) ++backslashes;
  if (backslashes % 2 == 0) s.remove_suffix(1);
  return s;
}

Status put_name(Bytes& out, std::string_view text) {
  if (text == "." || text.empty()) {
    out.push_back(0);
    return {};
  }
  text = strip_root_dot(text);
  size_t wire = 1;  // the root label
  std::string label;
  auto flush = [&]() -> Status {
    if (label.empty()) return bad_name("empty label in DNS name", text);
    if (label.size() > kMaxLabelBytes) return bad_name("DNS label longer than 63 bytes", text);
    wire += 1 + label.size();
    if (wire > kMaxNameWireBytes) return bad_name("DNS name longer than 255 bytes", text);
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    label.clear();
    return {};
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      HERALD_TRY_VOID(flush());
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return bad_name("dangling escape in DNS name", text);
      if (text[i + 1] >= '0' && text[i + 1] <= '9') {
        auto digit = [&](size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '9'; };
        if (!digit(i + 2) || !digit(i + 3)) return bad_name("bad \\DDD escape in DNS name", text);
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return bad_name("bad \\DDD escape in DNS name", text);
        label += static_cast<char>(v);
        i += 3;
      } else {
        label += text[i + 1];
        ++i;
      }
    } else {
      label += c;
    }
  }
  HERALD_TRY_VOID(flush());
  out.push_back(0);
  return {};
}

void put16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

Status put_record(Bytes& out, const ResourceRecord& rr) {
  HERALD_TRY_VOID(put_name(out, rr.name));
  put16(out, rr.type);
  put16(out, rr.rclass);
  put32(out, rr.ttl);
  Bytes rdata;
  const bool in = rr.rclass == kClassIn;
  if (in && rr.type == type::kCname) {
    HERALD_TRY_VOID(put_name(rdata, rr.cname));
  } else if (in && rr.type == type::kTxt) {
    for (const auto& s : rr.txt) {
      if (s.size() > 255)
        return make_error(ErrorCode::kInvalidArgument, "TXT character-string over 255 bytes");
      rdata.push_back(static_cast<uint8_t>(s.size()));
      rdata.insert(rdata.end(), s.begin(), s.end());
    }
  } else {
    rdata = rr.data;
  }
  if (rdata.size() > 0xFFFF)
    return make_error(ErrorCode::kInvalidArgument, "rdata over 65535 bytes");
  put16(out, static_cast<uint16_t>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  return {};
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ------------------------------------------------------------------ sockets

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

Result<Message> parse_message(std::span<const uint8_t> wire) {
  if (wire.size() > kMaxMessageBytes) return malformed("message longer than 65535 bytes", 0);
  if (wire.size() < kHeaderBytes) return malformed("message shorter than its header", 0);
  Reader r(wire);
  Message m;
  uint16_t qd = 0, an = 0, ns = 0, ar = 0;
  r.u16(m.id);
  r.u16(m.flags);
  r.u16(qd);
  r.u16(an);
  r.u16(ns);
  r.u16(ar);
  for (uint16_t i = 0; i < qd; ++i) {
    HERALD_TRY(auto q, read_question(r));
    m.questions.push_back(std::move(q));
  }
  for (auto [count, section] :
       {std::pair{an, &m.answers}, std::pair{ns, &m.authorities}, std::pair{ar, &m.additionals}}) {
    for (uint16_t i = 0; i < count; ++i) {
      HERALD_TRY(auto rr, read_record(r));
      section->push_back(std::move(rr));
    }
  }
  if (r.remaining() != 0) return malformed("trailing bytes after the last record", r.pos());
  return m;
}

Result<Bytes> encode_message(const Message& m) {
  for (size_t n :
       {m.questions.size(), m.answers.size(), m.authorities.size(), m.additionals.size()}) {
    if (n > 0xFFFF) return make_error(ErrorCode::kInvalidArgument, "more than 65535 entries");
  }
  Bytes out;
  put16(out, m.id);
  put16(out, m.flags);
  put16(out, static_cast<uint16_t>(m.questions.size()));
  put16(out, static_cast<uint16_t>(m.answers.size()));
  put16(out, static_cast<uint16_t>(m.authorities.size()));
  put16(out, static_cast<uint16_t>(m.additionals.size()));
  for (const auto& q : m.questions) {
    HERALD_TRY_VOID(put_name(out, q.name));
    put16(out, q.type);
    put16(out, q.qclass);
  }
  for (const auto* section : {&m.answers, &m.authorities, &m.additionals}) {
    for (const auto& rr : *section) {
      HERALD_TRY_VOID(put_record(out, rr));
      if (out.size() > kMaxMessageBytes)
        return make_error(ErrorCode::kInvalidArgument, "DNS message over 65535 bytes");
    }
  }
  if (out.size() > kMaxMessageBytes)
    return make_error(ErrorCode::kInvalidArgument, "DNS message over 65535 bytes");
  return out;
}

Result<Bytes> build_query(uint16_t id, std::string_view name, uint16_t qtype) {
  Message q;
  q.id = id;
  q.flags = flag::kRd;
  q.questions.push_back({std::string(name), qtype, kClassIn});
  ResourceRecord opt;
  opt.name = ".";
  opt.type = type::kOpt;
  opt.rclass = kEdnsUdpSize;  // OPT: the class is the requestor's UDP payload size
  q.additionals.push_back(opt);
  return encode_message(q);
}

bool names_equal(std::string_view a, std::string_view b) {
  a = strip_root_dot(a);
  b = strip_root_dot(b);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string rcode_name(uint8_t rc) {
  switch (rc) {
    case rcode::kNoError:
      return "NOERROR";
    case rcode::kFormErr:
      return "FORMERR";
    case rcode::kServFail:
      return "SERVFAIL";
    case rcode::kNxDomain:
      return "NXDOMAIN";
    case rcode::kNotImp:
      return "NOTIMP";
    case rcode::kRefused:
      return "REFUSED";
    default:
      return "RCODE " + std::to_string(rc);
  }
}

std::string type_name(uint16_t t) {
  switch (t) {
    case type::kA:
      return "A";
    case type::kNs:
      return "NS";
    case type::kCname:
      return "CNAME";
    case type::kSoa:
      return "SOA";
    case type::kTxt:
      return "TXT";
    case type::kAaaa:
      return "AAAA";
    case type::kOpt:
      return "OPT";
    default:
      return "TYPE" + std::to_string(t);
  }
}

std::vector<ResourceRecord> answers_for(const Message& m, std::string_view name, uint16_t qtype,
                                        std::string* canonical_name) {
  std::string current(name);
  std::vector<std::string> seen{current};
  std::vector<ResourceRecord> out;
  for (int hops = 0;; ++hops) {
    for (const auto& rr : m.answers) {
      if (rr.rclass == kClassIn && rr.type == qtype && names_equal(rr.name, current))
        out.push_back(rr);
    }
    if (!out.empty() || qtype == type::kCname || hops >= kMaxCnameChain) break;
    const ResourceRecord* next = nullptr;
    for (const auto& rr : m.answers) {
      if (rr.rclass == kClassIn && rr.type == type::kCname && names_equal(rr.name, current)) {
        next = &rr;
        break;
      }
    }
    if (!next) break;
    bool loop = false;
    for (const auto& s : seen) loop = loop || names_equal(s, next->cname);
    if (loop) break;
    current = next->cname;
    seen.push_back(current);
  }
  if (canonical_name) *canonical_name = current;
  return out;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Endpoint first_nameserver(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (auto c = line.find_first_of("#;"); c != std::string::npos) line.resize(c);
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver") return Endpoint{value, 53};
  }
  return Endpoint{"127.0.0.1", 53};
}

Endpoint system_nameserver() {
  std::ifstream in("/etc/resolv.conf");
  if (!in) return Endpoint{"127.0.0.1", 53};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return first_nameserver(text);
}

Result<Answer> lookup(const Endpoint& server, std::string_view name, uint16_t qtype,
                      std::chrono::milliseconds timeout) {
  const std::string what = type_name(qtype) + " " + std::string(name) + " at " + server.to_string();
  auto fail = [&](ErrorCode code, const std::string& why) {
    return make_error(code, "DNS query for " + what + ": " + why);
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  std::string host = server.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo* res = nullptr;
  const std::string port = std::to_string(server.port);
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res)
    return fail(ErrorCode::kIo,
                std::string("cannot resolve the resolver address: ") + ::gai_strerror(rc));
  Fd fd(::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int connect_rc = fd.get() < 0 ? -1 : ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
  int connect_errno = errno;
  ::freeaddrinfo(res);
  if (fd.get() < 0 || connect_rc != 0) return fail(ErrorCode::kIo, errno_text(connect_errno));

  HERALD_TRY(auto id_bytes, ossl::random_bytes(2));
  const uint16_t id = static_cast<uint16_t>(id_bytes[0] << 8 | id_bytes[1]);
  HERALD_TRY(auto query, build_query(id, name, qtype));
  if (::send(fd.get(), query.data(), query.size(), 0) != static_cast<ssize_t>(query.size()))
    return fail(ErrorCode::kIo, "cannot send: " + errno_text(errno));

  std::vector<uint8_t> buf(kMaxMessageBytes + 1);
  std::string ignored;  // why the last datagram was ignored
  int ignored_count = 0;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::string why = "no answer within " + std::to_string(timeout.count()) + " ms";
      if (ignored_count > 0)
        why += " (ignored " + std::to_string(ignored_count) + " datagram(s); the last " + ignored +
               ")";
      return fail(ErrorCode::kIo, why);
    }
    pollfd p{fd.get(), POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 60'000)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) return fail(ErrorCode::kIo, "poll: " + errno_text(errno));
    if (pr == 0) continue;
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      if (errno == ECONNREFUSED) return fail(ErrorCode::kIo, "connection refused (no DNS server)");
      return fail(ErrorCode::kIo, "receive: " + errno_text(errno));
    }
    ++ignored_count;  // undone below if the datagram is the answer
    if (static_cast<size_t>(n) > kMaxMessageBytes) {
      ignored = "was longer than 65535 bytes";
      continue;
    }
    auto msg = parse_message(std::span(buf.data(), static_cast<size_t>(n)));
    if (!msg) {
      ignored = "did not parse: " + msg.error().describe();
      continue;
    }
    if (!msg->is_response() || msg->id != id || msg->opcode() != 0) {
      ignored = "was not a response to this query (ID or opcode differ)";
      continue;
    }
    if (msg->truncated())
      return fail(ErrorCode::kIo,
                  "the answer is truncated (TC bit set); DNS over TCP is not "
                  "supported by this client");
    if (msg->questions.size() != 1 || !names_equal(msg->questions[0].name, name) ||
        msg->questions[0].type != qtype || msg->questions[0].qclass != kClassIn) {
      ignored = "answered a different question";
      continue;
    }
    --ignored_count;
    if (msg->rcode() == rcode::kNxDomain)
      return fail(ErrorCode::kNotFound, "NXDOMAIN (the name does not exist)");
    if (msg->rcode() != rcode::kNoError) return fail(ErrorCode::kIo, rcode_name(msg->rcode()));
    Answer answer;
    answer.records = answers_for(*msg, name, qtype, &answer.canonical_name);
    return answer;
  }
}

}  // namespace herald::acme::validation::dns
