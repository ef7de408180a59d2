#pragma once
// Certificate path verification that explains itself (RFC 5280 §6). Pure: the
// caller hands it certificates, CRLs and the time; it does no I/O and reads
// no clock.
//
// Path building tries every candidate issuer (by subject name, preferring
// those whose SKI matches the child's AKI), backtracking when a path fails,
// so cross-signed and re-keyed CAs work; the work is bounded (kMaxPathsTried
// paths, kMaxSignatureChecks issuer checks). Each candidate path is checked
// by OpenSSL as an explicit chain (X509_V_FLAG_X509_STRICT, only that path's
// anchor and intermediates, the given time and purpose), and names are
// matched against SANs only, never the CN.
//
// The result is a verdict plus findings (BoringSSL pki/cert_errors.h is the
// model): each a stable code, the certificate it concerns, what was
// expected, what was found, and one line of what to do.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"

namespace herald::verify {

enum class Purpose { kAny, kServer, kClient };

// What to do about revocation (CRLs and OCSP responses in Options):
// kOff: not checked (CRLs and responses ignored); kSoft: a certificate found
// revoked is an error, one whose status no usable CRL or response covers is a
// warning; kHard: that is an error too. Every certificate of the path except
// the trust anchor is checked.
enum class RevocationPolicy { kOff, kSoft, kHard };

struct Options {
  TimePoint at;
  Purpose purpose = Purpose::kAny;
  std::optional<std::string> dns_name;  // a host name the leaf must carry as a DNS SAN
  std::optional<std::string> ip;        // an IP address it must carry as an IP SAN
  std::optional<std::string> email;     // an e-mail address it must carry as an rfc822Name SAN
  int max_depth = 8;                    // intermediates allowed between leaf and anchor
  std::vector<Bytes> crls;              // DER
  std::vector<Bytes> ocsp_responses;    // DER OCSPResponse, for any certificate of the path
  std::optional<Bytes> ocsp_nonce;      // when one was sent: responses must echo it
  RevocationPolicy revocation = RevocationPolicy::kOff;
};

enum class Severity { kError, kWarning };

struct Finding {
  std::string code;  // stable: "expired", "missing_issuer", "hostname_mismatch", ...
  Severity severity = Severity::kError;
  int depth = 0;          // 0 = the leaf; -1 = not about one certificate
  std::string subject;    // of the certificate concerned (RFC 2253)
  std::string serial;     // hex
  std::string expected;
  std::string found;
  std::string hint;       // one line of what to do
};

struct Result {
  bool valid = false;
  std::vector<Finding> findings;  // of the path that was closest to valid (all paths failed), or warnings
  std::vector<Bytes> chain;       // the path built, leaf first, anchor last (DER)
  int paths_tried = 0;
};

constexpr int kMaxPathsTried = 64;
constexpr int kMaxSignatureChecks = 1024;

// Verifies `leaf` (DER) with `intermediates` (DER, any order, extras allowed)
// up to one of `anchors` (DER). Malformed input ends in a finding
// ("malformed_certificate"), never an exception.
[[nodiscard]] Result verify(const Bytes& leaf, const std::vector<Bytes>& intermediates,
                            const std::vector<Bytes>& anchors, const Options& options);

}  // namespace herald::verify
