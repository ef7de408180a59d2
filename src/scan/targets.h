#pragma once
// What `herald scan` is told to contact: host:port, [v6]:port, CIDR ranges
// (10.0.0.0/24:443, [fd00::/120]:8443), one per argument or one per line of
// a file ('#' comments, blank lines skipped). Pure: parses text, never
// resolves a name nor opens a socket.
//
// A range expands to every address in it (network and broadcast addresses
// included: scanning them costs a refused connection at most). The whole
// expansion is capped (kMaxTargets): a range or a list beyond it is refused
// before anything is expanded, so a hostile or mistyped range (0.0.0.0/0,
// [::/0]) costs no memory.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace herald::scan {

constexpr size_t kMaxTargets = 65536;
constexpr size_t kMaxTargetText = 1024;  // one target's text

struct Target {
  std::string host;  // a DNS name or an IP address (IPv6 without brackets)
  uint16_t port = 0;
  bool is_ip = false;
  // "host:port", "[v6]:port"
  [[nodiscard]] std::string endpoint() const;
  friend bool operator==(const Target&, const Target&) = default;
};

// Parses one target and appends its expansion to `out`; kInvalidArgument
// (naming the text) for a malformed target, or if `out` would exceed
// `max_total` targets (nothing is appended then).
[[nodiscard]] Status parse_target(std::string_view text, std::vector<Target>& out,
                                  size_t max_total = kMaxTargets);

// Every target of `specs` (arguments) then of `file_text` (lines), in order,
// duplicates dropped. Errors name the argument or the line.
[[nodiscard]] Result<std::vector<Target>> parse_targets(const std::vector<std::string>& specs,
                                                        std::string_view file_text = {},
                                                        size_t max_total = kMaxTargets);

}  // namespace herald::scan
