#include "ca/ocsp.h"

#include <algorithm>
#include <functional>
#include <mutex>

#include "base/der.h"
#include "ossl/ossl.h"

namespace herald::ca {

namespace {

tl::unexpected<Error> malformed(const std::string& what) {
  ossl::clear_errors();
  return make_error(ErrorCode::kMalformedInput, "malformed OCSP request: " + what);
}

tl::unexpected<Error> invalid(const std::string& what) {
  ossl::clear_errors();
  return make_error(ErrorCode::kInvalidArgument, "cannot sign the OCSP response: " + what);
}

const EVP_MD* md_of(OcspHash h) { return h == OcspHash::kSha256 ? EVP_sha256() : EVP_sha1(); }
int digest_len(OcspHash h) { return h == OcspHash::kSha256 ? 32 : 20; }

Result<Bytes> digest(OcspHash h, std::span<const uint8_t> data) {
  return h == OcspHash::kSha256 ? ossl::sha256(data) : ossl::sha1(data);
}

std::span<const uint8_t> bytes_of(const ASN1_STRING* s) {
  return {ASN1_STRING_get0_data(s), static_cast<size_t>(ASN1_STRING_length(s))};
}

bool same(std::span<const uint8_t> a, const Bytes& b) { return std::ranges::equal(a, b); }

time_t seconds(TimePoint t) { return static_cast<time_t>(t.time_since_epoch().count()); }

std::string oid_text(const ASN1_OBJECT* obj) {
  char buf[80] = {};
  if (OBJ_obj2txt(buf, sizeof buf, obj, 1) <= 0) return "?";
  return buf;
}

struct IssuerHashes {
  Bytes name;
  Bytes key;
};

// RFC 6960 §4.1.1: issuerNameHash over the DER of the issuer's subject name,
// issuerKeyHash over the value of its subjectPublicKey BIT STRING (without
// tag, length and unused-bits octet).
Result<IssuerHashes> issuer_hashes(const x509::Certificate& issuer, OcspHash h) {
  const unsigned char* name = nullptr;
  size_t name_len = 0;
  if (X509_NAME_get0_der(X509_get_subject_name(&issuer.x509()), &name, &name_len) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot encode the issuer's name");
  }
  const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(&issuer.x509());
  if (!key) return ossl::error(ErrorCode::kCrypto, "the issuer certificate has no public key");
  HERALD_TRY(Bytes name_hash, digest(h, {name, name_len}));
  HERALD_TRY(Bytes key_hash, digest(h, bytes_of(key)));
  return IssuerHashes{std::move(name_hash), std::move(key_hash)};
}

// OpenSSL's decoder takes BER where DER would refuse it (indefinite or
// non-minimal lengths, constructed strings); it re-encodes in DER, so input
// that does not survive the round trip unchanged was not DER. (An explicit
// BOOLEAN FALSE or version v1 does survive: OpenSSL remembers them.)
bool is_der(OCSP_REQUEST& req, std::span<const uint8_t> der) {
  unsigned char* out = nullptr;
  int n = i2d_OCSP_REQUEST(&req, &out);
  bool ok = n > 0 && static_cast<size_t>(n) == der.size() && std::equal(out, out + n, der.begin());
  OPENSSL_free(out);
  return ok;
}

// TBSRequest.version is [0] EXPLICIT Version DEFAULT v1 (§4.1.1); OpenSSL
// does not expose it. An explicit v1 (02 01 00) is tolerated.
Status check_version(std::span<const uint8_t> der) {
  der::Reader outer(der);
  auto request = outer.expect(der::tag::kSequence, "OCSPRequest");
  if (!request) return malformed(request.error().message);
  der::Reader fields(request->content);
  auto tbs = fields.expect(der::tag::kSequence, "TBSRequest");
  if (!tbs) return malformed(tbs.error().message);
  der::Reader tbs_fields(tbs->content);
  if (!tbs_fields.peek(der::tag::kContext0Constructed)) return {};
  auto version = tbs_fields.next();
  static constexpr uint8_t kV1[] = {der::tag::kInteger, 0x01, 0x00};
  if (!version || !std::ranges::equal(version->content, kV1)) {
    return malformed("unsupported version (only v1 exists)");
  }
  return {};
}

// RFC 9654 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING; older
// clients put the raw octets there. The nonce's own length either way.
size_t nonce_length(std::span<const uint8_t> value) {
  der::Reader r(value);
  auto e = r.next();
  if (e && e->tag == der::tag::kOctetString && r.empty()) return e->content.size();
  return value.size();
}

Result<OcspCertId> parse_cert_id(OCSP_ONEREQ& one, size_t index) {
  const std::string where = "CertID " + std::to_string(index + 1) + ": ";
  ASN1_OCTET_STRING* name_hash = nullptr;
  ASN1_OBJECT* alg = nullptr;
  ASN1_OCTET_STRING* key_hash = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (OCSP_id_get0_info(&name_hash, &alg, &key_hash, &serial, OCSP_onereq_get0_id(&one)) != 1 ||
      !name_hash || !alg || !key_hash || !serial) {
    return malformed(where + "unreadable");
  }
  OcspCertId id;
  switch (OBJ_obj2nid(alg)) {
    case NID_sha1:
      id.hash = OcspHash::kSha1;
      break;
    case NID_sha256:
      id.hash = OcspHash::kSha256;
      break;
    default:
      return malformed(where + "hash algorithm " + oid_text(alg) +
                       " is not supported (SHA-1 or SHA-256)");
  }
  if (ASN1_STRING_length(name_hash) != digest_len(id.hash) ||
      ASN1_STRING_length(key_hash) != digest_len(id.hash)) {
    return malformed(where + "issuer hashes are not " + std::to_string(digest_len(id.hash)) +
                     " octets long as " + std::string(ocsp_hash_name(id.hash)) + " needs");
  }
  if (ASN1_STRING_type(serial) != V_ASN1_INTEGER) {
    return malformed(where + "the serial number is negative");
  }
  auto s = bytes_of(serial);
  auto parsed = Serial::from_bytes(Bytes(s.begin(), s.end()));
  if (!parsed) return malformed(where + parsed.error().message);
  for (int i = 0; i < OCSP_ONEREQ_get_ext_count(&one); ++i) {
    X509_EXTENSION* ext = OCSP_ONEREQ_get_ext(&one, i);
    if (X509_EXTENSION_get_critical(ext)) {
      return malformed(where + "unsupported critical extension " +
                       oid_text(X509_EXTENSION_get_object(ext)));
    }
  }
  auto nh = bytes_of(name_hash);
  auto kh = bytes_of(key_hash);
  id.issuer_name_hash.assign(nh.begin(), nh.end());
  id.issuer_key_hash.assign(kh.begin(), kh.end());
  id.serial = std::move(*parsed);
  return id;
}

// RFC 6960 §4.2.2.2: the CA itself, or a certificate it issued with EKU
// id-kp-OCSPSigning. Not a signature check: it catches misconfiguration.
bool authorised(X509& responder, X509& issuer) {
  if (X509_cmp(&responder, &issuer) == 0) return true;
  bool ok = X509_check_issued(&issuer, &responder) == X509_V_OK &&
            (X509_get_extension_flags(&responder) & EXFLAG_XKUSAGE) != 0 &&
            (X509_get_extended_key_usage(&responder) & XKU_OCSP_SIGN) != 0;
  ossl::clear_errors();
  return ok;
}

}  // namespace

std::string_view ocsp_hash_name(OcspHash h) { return h == OcspHash::kSha256 ? "sha256" : "sha1"; }

Result<OcspRequest> parse_ocsp_request(std::span<const uint8_t> der) {
  if (der.empty()) return malformed("empty");
  const unsigned char* p = der.data();
  ossl::OcspRequestPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  if (!req) return malformed("not an OCSPRequest (truncated or corrupt DER)");
  if (p != der.data() + der.size()) return malformed("trailing data after the OCSPRequest");
  if (!is_der(*req, der)) return malformed("not DER (BER or non-canonical encoding)");
  HERALD_TRY_VOID(check_version(der));

  OcspRequest out;
  const int n = OCSP_request_onereq_count(req.get());
  if (n <= 0) return malformed("the request list is empty");
  if (static_cast<size_t>(n) > kMaxOcspCertIds) {
    return malformed(std::to_string(n) + " CertIDs in one request (at most " +
                     std::to_string(kMaxOcspCertIds) + ")");
  }
  out.ids.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    OCSP_ONEREQ* one = OCSP_request_onereq_get0(req.get(), i);
    if (!one) return malformed("unreadable request list");
    HERALD_TRY(auto id, parse_cert_id(*one, static_cast<size_t>(i)));
    out.ids.push_back(std::move(id));
  }

  for (int i = 0; i < OCSP_REQUEST_get_ext_count(req.get()); ++i) {
    X509_EXTENSION* ext = OCSP_REQUEST_get_ext(req.get(), i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_id_pkix_OCSP_Nonce) {
      if (out.nonce) return malformed("more than one nonce extension");
      auto value = bytes_of(X509_EXTENSION_get_data(ext));
      size_t len = nonce_length(value);
      if (len == 0 || len > kMaxOcspNonceLen) {
        return malformed("nonce of " + std::to_string(len) + " octets (RFC 9654: 1 to " +
                         std::to_string(kMaxOcspNonceLen) + ")");
      }
      out.nonce.emplace(value.begin(), value.end());
    } else if (X509_EXTENSION_get_critical(ext)) {
      return malformed("unsupported critical extension " +
                       oid_text(X509_EXTENSION_get_object(ext)));
    }
  }
  return out;
}

Result<IssuerMatcher> IssuerMatcher::create(const x509::Certificate& issuer) {
  IssuerMatcher m;
  for (auto h : {OcspHash::kSha1, OcspHash::kSha256}) {
    HERALD_TRY(auto hashes, issuer_hashes(issuer, h));
    m.name_[static_cast<int>(h)] = std::move(hashes.name);
    m.key_[static_cast<int>(h)] = std::move(hashes.key);
  }
  return m;
}

bool IssuerMatcher::matches(const OcspCertId& id) const {
  const int i = static_cast<int>(id.hash);
  return id.issuer_name_hash == name_[i] && id.issuer_key_hash == key_[i];
}

bool names_issuer(const OcspCertId& id, const x509::Certificate& issuer) {
  auto h = issuer_hashes(issuer, id.hash);
  if (!h) {
    ossl::clear_errors();
    return false;
  }
  return id.issuer_name_hash == h->name && id.issuer_key_hash == h->key;
}

Result<OcspCertId> cert_id_for(const x509::Certificate& issuer, const Serial& serial,
                               OcspHash hash) {
  if (serial.bytes().empty()) return make_error(ErrorCode::kInvalidArgument, "empty serial");
  HERALD_TRY(auto h, issuer_hashes(issuer, hash));
  return OcspCertId{hash, std::move(h.name), std::move(h.key), serial};
}

Result<Bytes> sign_ocsp_response(const OcspResponder& r,
                                 const std::vector<std::pair<OcspCertId, OcspStatus>>& entries,
                                 const std::optional<Bytes>& nonce, TimePoint now,
                                 std::chrono::seconds validity) {
  if (entries.empty()) return invalid("no SingleResponse to include");
  if (validity <= std::chrono::seconds::zero()) return invalid("validity must be positive");
  if (nonce && nonce->empty()) return invalid("empty nonce");
  X509& responder = r.responder_cert.x509();
  X509& issuer = r.issuer_cert.x509();
  if (!authorised(responder, issuer)) {
    return invalid("the responder certificate " + r.responder_cert.subject() +
                   " is neither the CA " + r.issuer_cert.subject() +
                   " nor an OCSPSigning certificate it issued (RFC 6960 §4.2.2.2)");
  }

  ossl::OcspBasicRespPtr bs(OCSP_BASICRESP_new());
  ossl::Asn1TimePtr this_update(ASN1_TIME_set(nullptr, seconds(now)));
  ossl::Asn1TimePtr next_update(ASN1_TIME_set(nullptr, seconds(now + validity)));
  if (!bs || !this_update || !next_update) {
    return ossl::error(ErrorCode::kCrypto, "cannot create the OCSP response");
  }
  const ASN1_BIT_STRING* issuer_key = X509_get0_pubkey_bitstr(&issuer);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [id, status] = entries[i];
    const std::string where = "entry " + std::to_string(i + 1) + ": ";
    const Bytes& serial = id.serial.bytes();
    if (serial.empty()) return invalid(where + "no serial number");
    ossl::Asn1IntegerPtr sn(ASN1_INTEGER_new());
    if (!sn || ASN1_STRING_set(sn.get(), serial.data(), static_cast<int>(serial.size())) != 1) {
      return ossl::error(ErrorCode::kCrypto, where + "cannot set the serial number");
    }
    // Built from the issuer, so the echoed CertID is exactly the client's
    // (same hash algorithm, hashes and serial). OpenSSL 3.0 has no CertID
    // setters: a foreign CertID (answered "unknown") gets the client's hashes
    // written through the pointers OCSP_id_get0_info hands out.
    ossl::OcspCertIdPtr cid(
        OCSP_cert_id_new(md_of(id.hash), X509_get_subject_name(&issuer), issuer_key, sn.get()));
    ASN1_OCTET_STRING* name_hash = nullptr;
    ASN1_OCTET_STRING* key_hash = nullptr;
    if (!cid || OCSP_id_get0_info(&name_hash, nullptr, &key_hash, nullptr, cid.get()) != 1) {
      return ossl::error(ErrorCode::kCrypto, where + "cannot build the CertID");
    }
    if (!same(bytes_of(name_hash), id.issuer_name_hash) ||
        !same(bytes_of(key_hash), id.issuer_key_hash)) {
      if (status.kind != OcspStatus::Kind::kUnknown) {
        return invalid(where + "the CertID does not name the CA " + r.issuer_cert.subject() +
                       ": only \"unknown\" can be said of it");
      }
      if (ASN1_OCTET_STRING_set(name_hash, id.issuer_name_hash.data(),
                                static_cast<int>(id.issuer_name_hash.size())) != 1 ||
          ASN1_OCTET_STRING_set(key_hash, id.issuer_key_hash.data(),
                                static_cast<int>(id.issuer_key_hash.size())) != 1) {
        return ossl::error(ErrorCode::kCrypto, where + "cannot copy the CertID");
      }
    }

    int cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    ossl::Asn1TimePtr revoked_at;
    switch (status.kind) {
      case OcspStatus::Kind::kGood:
        cert_status = V_OCSP_CERTSTATUS_GOOD;
        break;
      case OcspStatus::Kind::kUnknown:
        cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
        break;
      case OcspStatus::Kind::kRevoked:
        cert_status = V_OCSP_CERTSTATUS_REVOKED;
        revoked_at.reset(ASN1_TIME_set(nullptr, seconds(status.revoked_at)));
        if (!revoked_at) return ossl::error(ErrorCode::kCrypto, where + "cannot set the time");
        if (status.reason == x509::RevocationReason::kRemoveFromCrl) {
          return invalid(where + "removeFromCRL is not the reason of a revoked certificate");
        }
        if (status.reason && *status.reason != x509::RevocationReason::kUnspecified) {
          reason = static_cast<int>(*status.reason);  // CRLReason values (RFC 5280 §5.3.1)
        }
        break;
    }
    if (!OCSP_basic_add1_status(bs.get(), cid.get(), cert_status, reason, revoked_at.get(),
                                this_update.get(), next_update.get())) {
      return ossl::error(ErrorCode::kCrypto, where + "cannot add the SingleResponse");
    }
  }

  if (nonce) {
    ossl::Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    if (!value ||
        ASN1_OCTET_STRING_set(value.get(), nonce->data(), static_cast<int>(nonce->size())) != 1) {
      return ossl::error(ErrorCode::kCrypto, "cannot copy the nonce");
    }
    ossl::X509ExtPtr ext(
        X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
    if (!ext || OCSP_BASICRESP_add_ext(bs.get(), ext.get(), -1) != 1) {
      return ossl::error(ErrorCode::kCrypto, "cannot add the nonce extension");
    }
  }

  // OpenSSL 3.0 has no setter for producedAt and OCSP_basic_sign_ctx would
  // write the wall clock into it (the signer passes OCSP_NOTIME); the getter
  // returns the response's own field, which is set in place before signing.
  auto* produced_at = const_cast<ASN1_GENERALIZEDTIME*>(OCSP_resp_get0_produced_at(bs.get()));
  if (!produced_at || !ASN1_GENERALIZEDTIME_set(produced_at, seconds(now))) {
    return ossl::error(ErrorCode::kCrypto, "cannot set producedAt");
  }

  HERALD_TRY_VOID(r.signer.sign(*bs, responder));

  ossl::OcspResponsePtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  if (!resp) return ossl::error(ErrorCode::kCrypto, "cannot wrap the OCSP response");
  unsigned char* der = nullptr;
  int len = i2d_OCSP_RESPONSE(resp.get(), &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode the OCSP response");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Bytes ocsp_error_response(int response_status) {
  switch (response_status) {
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
    case OCSP_RESPONSE_STATUS_INTERNALERROR:
    case OCSP_RESPONSE_STATUS_TRYLATER:
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
      break;
    default:
      response_status = OCSP_RESPONSE_STATUS_INTERNALERROR;
  }
  // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } (no responseBytes).
  return {der::tag::kSequence, 0x03, 0x0A, 0x01, static_cast<uint8_t>(response_status)};
}

Result<CachedOcspResponse> make_cached_response(Bytes der, TimePoint this_update,
                                                TimePoint next_update) {
  HERALD_TRY(Bytes hash, ossl::sha256(der));
  std::string etag = "\"" + to_hex(std::span(hash).first(16), false) + "\"";
  return CachedOcspResponse{std::move(der), this_update, next_update, std::move(etag)};
}

size_t OcspCache::SerialHash::operator()(const Serial& s) const noexcept {
  const Bytes& b = s.bytes();
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::shared_ptr<const CachedOcspResponse> OcspCache::get(OcspHash hash,
                                                         const Serial& serial) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(serial);
  if (it == entries_.end()) return nullptr;
  return it->second[static_cast<size_t>(hash)];
}

void OcspCache::put(OcspHash hash, const Serial& serial, CachedOcspResponse response) {
  auto fresh = std::make_shared<const CachedOcspResponse>(std::move(response));
  std::shared_ptr<const CachedOcspResponse> old;  // released after the lock
  std::unique_lock lock(mutex_);
  auto& slot = entries_[serial][static_cast<size_t>(hash)];
  if (!slot) ++count_;
  old = std::exchange(slot, std::move(fresh));
  lock.unlock();
}

void OcspCache::erase(const Serial& serial) {
  decltype(entries_)::node_type node;  // released after the lock
  std::unique_lock lock(mutex_);
  node = entries_.extract(serial);
  if (node) {
    for (const auto& slot : node.mapped()) count_ -= slot ? 1 : 0;
  }
  lock.unlock();
}

size_t OcspCache::size() const {
  std::shared_lock lock(mutex_);
  return count_;
}

}  // namespace herald::ca
