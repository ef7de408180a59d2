#include "scan/targets.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <set>

namespace herald::scan {

namespace {

Status bad(std::string_view text, const std::string& why) {
  std::string shown(text.substr(0, 80));
  if (text.size() > 80) shown += "...";
  return make_error(ErrorCode::kInvalidArgument, "target '" + shown + "': " + why);
}

bool parse_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

bool parse_prefix(std::string_view s, int max, int& prefix) {
  if (s.empty() || s.size() > 3) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), prefix);
  return ec == std::errc() && p == s.data() + s.size() && prefix >= 0 && prefix <= max;
}

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
    if (c == '-' && label == 1) return false;
  }
  return true;
}

std::string ip_text(int family, const unsigned char* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buf, sizeof buf);
  return buf;
}

// Appends every address of addr/prefix (family AF_INET or AF_INET6).
Status expand(std::string_view text, int family, std::string_view addr_text, int prefix,
              uint16_t port, std::vector<Target>& out, size_t max_total) {
  std::array<unsigned char, 16> addr{};
  const size_t len = family == AF_INET ? 4 : 16;
  const int bits = static_cast<int>(len * 8);
  const std::string a(addr_text);
  if (inet_pton(family, a.c_str(), addr.data()) != 1) {
    return bad(text, family == AF_INET ? "not an IPv4 address" : "not an IPv6 address");
  }
  const int host_bits = bits - prefix;
  const size_t room = max_total > out.size() ? max_total - out.size() : 0;
  if (host_bits >= 31 || (size_t{1} << host_bits) > room) {
    return bad(text, "the range holds more than " +
                         (host_bits >= 31 ? std::string("2^") + std::to_string(host_bits)
                                          : std::to_string(size_t{1} << host_bits)) +
                         " addresses; at most " + std::to_string(max_total) +
                         " targets in all may be scanned (split it, or narrow the prefix)");
  }
  // Clear the host bits: the range starts at its network address.
  for (int i = prefix; i < bits; ++i)
    addr[i / 8] &= static_cast<unsigned char>(~(0x80u >> (i % 8)));
  const size_t n = size_t{1} << host_bits;
  for (size_t k = 0; k < n; ++k) {
    std::array<unsigned char, 16> cur = addr;
    // Add k to the low bytes (host_bits < 31, so k fits in the last 4 bytes).
    uint64_t carry = k;
    for (size_t i = len; i-- > 0 && carry;) {
      uint64_t v = cur[i] + (carry & 0xff);
      cur[i] = static_cast<unsigned char>(v & 0xff);
      carry = (carry >> 8) + (v >> 8);
    }
    out.push_back({ip_text(family, cur.data()), port, true});
  }
  return {};
}

}  // namespace

std::string Target::endpoint() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Status parse_target(std::string_view text, std::vector<Target>& out, size_t max_total) {
  if (text.empty()) return bad(text, "empty");
  if (text.size() > kMaxTargetText) return bad(text, "too long");
  std::string_view host, port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad(text, "no closing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return bad(text, "give a port: [ADDRESS]:PORT");
    }
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad(text, "give a port: HOST:PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad(text, "an IPv6 address goes in brackets: [ADDRESS]:PORT");
    }
  }
  uint16_t port = 0;
  if (!parse_port(port_text, port)) return bad(text, "the port must be 1-65535");
  if (host.empty()) return bad(text, "no host");
  const size_t slash = host.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view addr = host.substr(0, slash);
    const bool v6 = addr.find(':') != std::string_view::npos;
    if (v6 && !bracketed) return bad(text, "an IPv6 range goes in brackets: [ADDRESS/PREFIX]:PORT");
    int prefix = 0;
    if (!parse_prefix(host.substr(slash + 1), v6 ? 128 : 32, prefix)) {
      return bad(text, std::string("the prefix length must be 0-") + (v6 ? "128" : "32"));
    }
    return expand(text, v6 ? AF_INET6 : AF_INET, addr, prefix, port, out, max_total);
  }
  if (out.size() >= max_total) {
    return bad(text, "at most " + std::to_string(max_total) + " targets may be scanned");
  }
  std::array<unsigned char, 16> buf{};
  const std::string h(host);
  if (inet_pton(AF_INET6, h.c_str(), buf.data()) == 1) {
    if (!bracketed) return bad(text, "an IPv6 address goes in brackets: [ADDRESS]:PORT");
    out.push_back({ip_text(AF_INET6, buf.data()), port, true});
    return {};
  }
  if (bracketed) return bad(text, "not an IPv6 address inside the brackets");
  if (inet_pton(AF_INET, h.c_str(), buf.data()) == 1) {
    out.push_back({ip_text(AF_INET, buf.data()), port, true});
    return {};
  }
  if (!valid_hostname(host)) return bad(text, "not a host name or an IP address");
  // A name that looks like a dotted number but is not an address (1.2.3.256).
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    return bad(text, "not an IPv4 address");
  }
  std::string lower(host);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  out.push_back({lower, port, false});
  return {};
}

Result<std::vector<Target>> parse_targets(const std::vector<std::string>& specs,
                                          std::string_view file_text, size_t max_total) {
  std::vector<Target> all;
  for (const auto& s : specs) HERALD_TRY_VOID(parse_target(s, all, max_total));
  size_t line_no = 0;
  while (!file_text.empty()) {
    ++line_no;
    const size_t nl = file_text.find('\n');
    std::string_view line = file_text.substr(0, nl);
    file_text = nl == std::string_view::npos ? std::string_view{} : file_text.substr(nl + 1);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (line.empty()) continue;
    auto st = parse_target(line, all, max_total);
    if (!st) {
      Error e = st.error();
      e.message = "line " + std::to_string(line_no) + ": " + e.message;
      return tl::unexpected(std::move(e));
    }
  }
  // Duplicates dropped, first occurrence kept.
  std::set<std::pair<std::string, uint16_t>> seen;
  std::vector<Target> out;
  out.reserve(all.size());
  for (auto& t : all) {
    if (seen.emplace(t.host, t.port).second) out.push_back(std::move(t));
  }
  if (out.empty()) return make_error(ErrorCode::kInvalidArgument, "no target to scan");
  return out;
}

}  // namespace herald::scan
