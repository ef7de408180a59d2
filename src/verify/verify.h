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
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "x509/finding.h"

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
  std::optional<std::string> uri;       // a URI (e.g. a SPIFFE ID) it must carry as a URI SAN, exactly
  std::vector<std::string> ekus;        // dotted OIDs the leaf's EKU must list (no EKU = any purpose)
  int max_depth = 8;                    // intermediates allowed between leaf and anchor
  std::vector<Bytes> crls;              // DER
  std::vector<Bytes> ocsp_responses;    // DER OCSPResponse, for any certificate of the path
  std::optional<Bytes> ocsp_nonce;      // when one was sent: responses must echo it
  RevocationPolicy revocation = RevocationPolicy::kOff;
};

// Findings are the type the pre-issuance lint also reports (x509/finding.h).
using Severity = x509::Severity;
using Finding = x509::Finding;

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
// ("malformed_certificate"), never an exception. Parses everything afresh:
// for many verifications against the same anchors use Verifier.
[[nodiscard]] Result verify(const Bytes& leaf, const std::vector<Bytes>& intermediates,
                            const std::vector<Bytes>& anchors, const Options& options);

// A verifier for many chains against the same trust anchors, as a TLS server
// or proxy needs: the anchors are parsed once; certificates (leaves and
// intermediates) are kept parsed by the SHA-256 of their DER, at most
// kCachedCertificates and kCachedBytes of DER (then the cache starts afresh;
// a certificate above kMaxCachedCertificateBytes is not kept), and a signature, once
// checked for a (certificate, issuer) pair, is not checked again. Everything
// else (times, names, purpose, constraints, revocation) is checked at every
// call. Verdicts and findings are verify()'s; the conformance harness checks
// that on every x509-limbo case. Thread-safe.
class Verifier {
 public:
  static constexpr size_t kCachedCertificates = 4096;
  static constexpr size_t kCachedBytes = 8 << 20;               // DER bytes kept parsed
  static constexpr size_t kMaxCachedCertificateBytes = 16 << 10;  // larger ones are not kept
  static constexpr size_t kCachedSignatures = 65536;

  struct Settings {
    bool cache = true;      // false: parse and check everything afresh (what verify() does)
    bool fast_leaf = true;  // with cache: a new leaf of a CA part verified before takes fast_leaf.h's step
  };
  explicit Verifier(const std::vector<Bytes>& anchors);
  Verifier(const std::vector<Bytes>& anchors, Settings settings);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  [[nodiscard]] Result verify(const Bytes& leaf, const std::vector<Bytes>& intermediates,
                              const Options& options) const;

  struct Stats {
    uint64_t parsed = 0, cert_cache_hits = 0, signature_cache_hits = 0, fast_leaves = 0;
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herald::verify
