#pragma once
// OCSP (RFC 6960) for the issuing CA: parsing requests from untrusted clients,
// signing responses with the delegated responder certificate
// (Authority::issue_ocsp_signer), and the in-memory cache of pre-signed
// responses the server answers from. Pure: no I/O, no clock (time is passed
// in); signing goes through keys::Signer.
//
// Choices and deviations, all allowed by RFC 6960:
// - Requests must be DER (§4, Appendix B). They are read with der::Reader:
//   indefinite or non-minimal lengths, constructed strings, high tag numbers,
//   non-minimal INTEGERs and trailing bytes are refused as malformed. What is
//   accepted is exactly what the former parser (OpenSSL's decoder plus an
//   i2d round trip) accepted, tolerances included: explicit DEFAULT values
//   (version v1, critical FALSE) change nothing and are accepted, and so is
//   a critical BOOLEAN TRUE written as any non-zero octet instead of 0xFF.
//   The parts with open content that clients rarely send (requestorName,
//   the signature, hash AlgorithmIdentifier parameters other than absent or
//   NULL) are still judged by OpenSSL's decoder and its round trip.
// - A request signature (§4.1.2) is ignored: responses are public, so there
//   is nothing to authorise. Its certificates are parsed but not used.
// - Only SHA-1 and SHA-256 CertIDs are answered (§4.3: SHA-1 is what clients
//   send; SHA-256 is what newer ones send); anything else is malformed.
// - Unknown request or single-request extensions are ignored unless critical
//   (§4.4: a critical one Herald does not understand is refused).
// - The nonce follows RFC 9654 (which obsoletes RFC 8954): 1..128 octets.
//   OpenSSL and RFC 9654 clients put a DER OCTET STRING in extnValue; some
//   RFC 2560/6960-era clients put the raw octets there (openssl#15009). Both
//   are accepted, measured by their nonce octets, and echoed byte for byte.
// - Responses always use responderID byKey (§4.2.2.3) and carry the
//   responder certificate; a revocation reason of unspecified is omitted, as
//   on Herald's CRLs (RFC 5280 §5.3.1).

#include <array>
#include <deque>
#include <mutex>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "keys/signer.h"
#include "x509/certificate.h"
#include "x509/crl.h"

namespace herald::ca {

enum class OcspHash { kSha1, kSha256 };
[[nodiscard]] std::string_view ocsp_hash_name(OcspHash h);  // "sha1", "sha256"

// CertID (RFC 6960 §4.1.1).
struct OcspCertId {
  OcspHash hash = OcspHash::kSha1;
  Bytes issuer_name_hash;  // hash of the issuer's subject name (DER)
  Bytes issuer_key_hash;   // hash of the issuer's subjectPublicKey BIT STRING value
  Serial serial;
  bool operator==(const OcspCertId&) const = default;
};

constexpr size_t kMaxOcspCertIds = 16;    // CertIDs in one request
constexpr size_t kMaxOcspNonceLen = 128;  // RFC 9654 §2.1 (RFC 8954 said 32)

struct OcspRequest {
  std::vector<OcspCertId> ids;  // 1..kMaxOcspCertIds, in request order
  // The id-pkix-ocsp-nonce extension's extnValue octets, as received (RFC
  // 9654 §2.1: normally the DER of Nonce ::= OCTET STRING), for echoing.
  std::optional<Bytes> nonce;
};

// Parses a DER OCSPRequest (RFC 6960 §4.1.1) from an untrusted client.
// Accepts unsigned and signed requests (the signature is ignored). Refuses
// with kMalformedInput: anything not DER or not an OCSPRequest, trailing
// data, a version other than v1, an empty request list or more than
// kMaxOcspCertIds CertIDs, hash algorithms other than SHA-1/SHA-256, hashes
// of the wrong length, serials that are not positive or longer than 20
// octets, a nonce of 0 or more than kMaxOcspNonceLen octets, a repeated
// nonce, and critical extensions other than the nonce.
[[nodiscard]] Result<OcspRequest> parse_ocsp_request(std::span<const uint8_t> der);

// True if the CertID names `issuer`: issuerNameHash over the issuer's subject
// name DER and issuerKeyHash over its subjectPublicKey BIT STRING value (RFC
// 6960 §4.1.1), both in the CertID's hash. Says nothing about the serial.
// names_issuer() with the issuer's hashes computed once (the responder's hot path).
class IssuerMatcher {
 public:
  [[nodiscard]] static Result<IssuerMatcher> create(const x509::Certificate& issuer);
  [[nodiscard]] bool matches(const OcspCertId& id) const;

 private:
  Bytes name_[2], key_[2];  // by OcspHash
};

[[nodiscard]] bool names_issuer(const OcspCertId& id, const x509::Certificate& issuer);

// The CertID for `serial` under `issuer` in `hash` (the server pre-signs
// responses for both hashes).
[[nodiscard]] Result<OcspCertId> cert_id_for(const x509::Certificate& issuer, const Serial& serial,
                                             OcspHash hash);

// CertStatus (RFC 6960 §4.2.1). revoked_at and reason only for kRevoked; a
// certificate on hold is kRevoked with reason certificateHold (§2.2).
struct OcspStatus {
  enum class Kind { kGood, kRevoked, kUnknown } kind = Kind::kUnknown;
  TimePoint revoked_at{};
  std::optional<x509::RevocationReason> reason;
};

// Who signs: the delegated responder (certificate issued by `issuer_cert`
// with EKU OCSPSigning, §4.2.2.2) or the issuing CA itself
// (responder_cert == issuer_cert). `signer` holds responder_cert's key.
struct OcspResponder {
  const keys::Signer& signer;
  x509::Certificate responder_cert;
  x509::Certificate issuer_cert;
};

// A signed, successful OCSPResponse (RFC 6960 §4.2.1) holding a
// BasicOCSPResponse: responderID byKey, the responder certificate included,
// producedAt = thisUpdate = now, nextUpdate = now + validity, one
// SingleResponse per entry in order, its CertID echoed exactly (the hash the
// client used), revocationTime and revocationReason for revoked entries, and
// the nonce extension echoed byte for byte when `nonce` is given.
// A CertID that does not name responder.issuer_cert may only be answered
// kUnknown (§2.2: the responder does not know the certificate). Note that
// OpenSSL clients refuse a delegated responder's answer that mixes issuers
// (OCSP_basic_verify: "root CA not trusted"), so such an answer only helps
// other clients.
// kInvalidArgument if there is no entry, validity is not positive, an entry
// has no serial, a foreign CertID is not kUnknown, a reason is removeFromCRL,
// or the responder certificate is not authorised to answer for the issuer;
// kCrypto if signing fails (e.g. the signer's key is not the responder's).
[[nodiscard]] Result<Bytes> sign_ocsp_response(
    const OcspResponder& r, const std::vector<std::pair<OcspCertId, OcspStatus>>& entries,
    const std::optional<Bytes>& nonce, TimePoint now, std::chrono::seconds validity);

// An unsigned OCSPResponse carrying only an error status (RFC 6960 §4.2.1):
// OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, _INTERNALERROR, _TRYLATER,
// _SIGREQUIRED or _UNAUTHORIZED. Any other value (including SUCCESSFUL,
// which needs a body) gives internalError. Never fails: the five encodings
// are constant.
[[nodiscard]] Bytes ocsp_error_response(int response_status);

// A pre-signed response as the server serves it.
struct CachedOcspResponse {
  Bytes der;
  TimePoint this_update;
  TimePoint next_update;
  std::string etag;  // quoted lowercase hex of the first 16 bytes of SHA-256(der)
  OcspStatus::Kind kind = OcspStatus::Kind::kUnknown;  // what it says (for metrics)
};

// A CachedOcspResponse with its ETag computed.
[[nodiscard]] Result<CachedOcspResponse> make_cached_response(Bytes der, TimePoint this_update,
                                                              TimePoint next_update);

// Signed responses by (hash, serial), served from memory: at most
// `capacity` serials (both hashes of a serial count once), the least
// recently used dropped first, so memory stays bounded however many
// certificates are valid (the rest are read from the store on a miss).
// Thread-safe: the serials are spread over shards, each with its own lock,
// held only to find or move an entry; a reader keeps its response alive
// (shared_ptr) while a writer replaces it.
class OcspCache {
 public:
  explicit OcspCache(size_t capacity);
  // nullptr if absent.
  [[nodiscard]] std::shared_ptr<const CachedOcspResponse> get(OcspHash hash,
                                                              const Serial& serial) const;
  // Adds or replaces.
  void put(OcspHash hash, const Serial& serial, CachedOcspResponse response);
  // Drops the serial's responses in both hashes.
  void erase(const Serial& serial);
  // Number of cached responses (a serial cached in both hashes counts twice).
  [[nodiscard]] size_t size() const;
  [[nodiscard]] size_t capacity() const { return capacity_; }

 private:
  struct SerialHash {
    size_t operator()(const Serial& s) const noexcept;
  };
  using Responses = std::array<std::shared_ptr<const CachedOcspResponse>, 2>;  // by OcspHash
  struct Shard {
    mutable std::mutex mutex;
    // Most recently used first; the map points into it.
    mutable std::list<std::pair<Serial, Responses>> order;
    std::unordered_map<Serial, std::list<std::pair<Serial, Responses>>::iterator, SerialHash>
        index;
    size_t responses = 0;
  };
  static constexpr size_t kShards = 16;
  Shard& shard_of(const Serial& serial) const;
  const size_t capacity_;
  const size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

// Answers for serials this CA does not know (`unknown`), which anyone can ask
// for at will: at most `capacity` of them, each served for at most `max_age`
// (a serial issued by another process on the same inventory is then seen
// within max_age), the oldest dropped first. A flood of random serials costs
// this fixed amount of memory and nothing lasting. Thread-safe.
class BoundedOcspCache {
 public:
  BoundedOcspCache(size_t capacity, std::chrono::seconds max_age)
      : capacity_(capacity), max_age_(max_age) {}
  // nullptr if absent or older than max_age at `now`.
  [[nodiscard]] std::shared_ptr<const CachedOcspResponse> get(OcspHash hash, const Serial& serial,
                                                              TimePoint now) const;
  void put(OcspHash hash, const Serial& serial, CachedOcspResponse response);
  void erase(const Serial& serial);
  [[nodiscard]] size_t size() const;
  [[nodiscard]] size_t capacity() const { return capacity_; }

 private:
  static std::string key(OcspHash hash, const Serial& serial);
  const size_t capacity_;
  const std::chrono::seconds max_age_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const CachedOcspResponse>> entries_;
  std::deque<std::string> order_;  // insertion order (may hold keys erased since)
};

}  // namespace herald::ca
