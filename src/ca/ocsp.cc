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

// --- OCSPRequest parsing -----------------------------------------------------
//
// The request is read with der::Reader, which takes nothing but DER headers
// (definite, minimal lengths; low tag numbers). The accepted set is exactly
// what the former parser took: OpenSSL's d2i_OCSP_REQUEST followed by an i2d
// round trip that had to give the input back. Hence three tolerances of
// OpenSSL's that are kept on purpose (ocsp.h): an explicit version v1, an
// explicit critical FALSE, and a critical BOOLEAN of any non-zero octet (what
// OpenSSL reads as TRUE and writes back unchanged). The rare parts with open
// content (requestorName, optionalSignature, AlgorithmIdentifier parameters
// other than absent or NULL) are still handed to OpenSSL and round-tripped,
// so they are judged as before.

// "CertID n: " for messages about the n-th Request (1-based); "" for 0.
std::string where(size_t cert_id) {
  return cert_id ? "CertID " + std::to_string(cert_id) + ": " : std::string();
}

std::string tag_text(uint8_t tag) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return {'0', 'x', kHex[tag >> 4], kHex[tag & 0xF]};
}

// The next element of `r`, which must have `tag`; `what` names it.
Result<der::Element> field(der::Reader& r, uint8_t tag, const char* what, size_t cert_id = 0) {
  if (r.empty()) return malformed(where(cert_id) + what + " is missing");
  if (!r.peek(tag)) {
    return malformed(where(cert_id) + what + ": unexpected tag " + tag_text(r.rest()[0]) +
                     " (expected " + tag_text(tag) + ")");
  }
  auto e = r.next();  // refuses BER: indefinite or non-minimal lengths, truncation
  if (!e) return malformed(where(cert_id) + what + ": " + e.error().message);
  return e;
}

// Nothing may follow the last field of a SEQUENCE (or an EXPLICIT tag's content).
Status at_end(const der::Reader& r, const char* what, size_t cert_id = 0) {
  if (r.empty()) return {};
  return malformed(where(cert_id) + "unexpected data at the end of the " + what);
}

// X.690 §8.19 as OpenSSL's decoder checks it: at least one octet, the last
// octet ends a subidentifier, no subidentifier starts with a 0x80 octet.
bool valid_oid(std::span<const uint8_t> content) {
  if (content.empty() || (content.back() & 0x80)) return false;
  for (size_t i = 0; i < content.size(); ++i) {
    if (content[i] == 0x80 && (i == 0 || !(content[i - 1] & 0x80))) return false;
  }
  return true;
}

std::string oid_text(std::span<const uint8_t> oid_tlv) {
  const unsigned char* p = oid_tlv.data();
  ossl::Asn1ObjectPtr obj(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(oid_tlv.size())));
  if (!obj) return "?";
  return oid_text(obj.get());
}

// X.690 §8.3.2: an INTEGER has content octets, and the first nine bits are
// neither all zero nor all one.
bool minimal_integer(std::span<const uint8_t> content) {
  if (content.empty()) return false;
  if (content.size() == 1) return true;
  return !(content[0] == 0x00 && !(content[1] & 0x80)) &&
         !(content[0] == 0xFF && (content[1] & 0x80));
}

// `der` decoded by OpenSSL as one T, or nullptr when it is not exactly one T
// that OpenSSL's encoder writes back byte for byte (its decoder takes BER).
template <typename T, T* (*D2i)(T**, const unsigned char**, long),
          int (*I2d)(const T*, unsigned char**), void (*Free)(T*)>
std::unique_ptr<T, ossl::Deleter<Free>> openssl_der(std::span<const uint8_t> der) {
  std::unique_ptr<T, ossl::Deleter<Free>> value;
  if (der.empty()) return value;
  const unsigned char* p = der.data();
  value.reset(D2i(nullptr, &p, static_cast<long>(der.size())));
  if (!value || p != der.data() + der.size()) {
    ossl::clear_errors();
    return nullptr;
  }
  unsigned char* out = nullptr;
  const int n = I2d(value.get(), &out);
  const bool same =
      n > 0 && static_cast<size_t>(n) == der.size() && std::equal(out, out + n, der.begin());
  OPENSSL_free(out);
  if (!same) {
    ossl::clear_errors();
    value.reset();
  }
  return value;
}

// The OIDs (tag, length, value) of SHA-1 and SHA-256. Encoders follow them
// in an AlgorithmIdentifier with NULL parameters or none (RFC 5754 §2 allows
// both); that is read here, anything else goes to OpenSSL (hash_of).
constexpr uint8_t kSha1Oid[] = {der::tag::kOid, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A};
constexpr uint8_t kSha256Oid[] = {der::tag::kOid, 0x09, 0x60, 0x86, 0x48, 0x01,
                                  0x65,           0x03, 0x04, 0x02, 0x01};
// id-pkix-ocsp-nonce (RFC 6960 §4.4.1), the OID's content octets.
constexpr uint8_t kNonceOid[] = {0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};

bool is_hash_alg(std::span<const uint8_t> content, std::span<const uint8_t> oid) {
  if (content.size() != oid.size() && content.size() != oid.size() + 2) return false;
  if (!std::equal(oid.begin(), oid.end(), content.begin())) return false;
  return content.size() == oid.size() ||
         (content[oid.size()] == der::tag::kNull && content[oid.size() + 1] == 0x00);
}

Result<OcspHash> hash_of(const der::Element& alg, size_t cert_id) {
  if (is_hash_alg(alg.content, kSha1Oid)) return OcspHash::kSha1;
  if (is_hash_alg(alg.content, kSha256Oid)) return OcspHash::kSha256;
  // Other parameters (ANY) or another algorithm: as OpenSSL decodes it.
  auto algor = openssl_der<X509_ALGOR, d2i_X509_ALGOR, i2d_X509_ALGOR, X509_ALGOR_free>(alg.whole);
  if (!algor) return malformed(where(cert_id) + "hashAlgorithm is not a DER AlgorithmIdentifier");
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algor.get());
  switch (OBJ_obj2nid(oid)) {
    case NID_sha1:
      return OcspHash::kSha1;
    case NID_sha256:
      return OcspHash::kSha256;
    default:
      return malformed(where(cert_id) + "hash algorithm " + oid_text(oid) +
                       " is not supported (SHA-1 or SHA-256)");
  }
}

// CertificateSerialNumber: a DER INTEGER that Serial accepts (positive, at
// most 20 octets).
Result<Serial> serial_of(std::span<const uint8_t> content, size_t cert_id) {
  if (!minimal_integer(content)) {
    return malformed(where(cert_id) + "the serial number is not a DER INTEGER");
  }
  if (content[0] & 0x80) return malformed(where(cert_id) + "the serial number is negative");
  if (content.size() > 1 && content[0] == 0x00) content = content.subspan(1);
  auto parsed = Serial::from_bytes(Bytes(content.begin(), content.end()));
  if (!parsed) return malformed(where(cert_id) + parsed.error().message);
  return parsed;
}

// Extension (RFC 5280 §4.1): extnID, critical BOOLEAN DEFAULT FALSE, extnValue.
struct Extension {
  der::Element id;  // the OID
  bool critical = false;
  std::span<const uint8_t> value;  // extnValue's octets
};

// The Extensions (SEQUENCE OF Extension) inside an EXPLICIT tag's content,
// ready for next_extension().
Result<der::Reader> extensions_in(const der::Element& tagged, const char* what, size_t cert_id) {
  der::Reader r(tagged.content);
  HERALD_TRY(auto list, field(r, der::tag::kSequence, what, cert_id));
  HERALD_TRY_VOID(at_end(r, what, cert_id));
  return der::Reader(list.content);
}

Result<Extension> next_extension(der::Reader& r, size_t cert_id) {
  HERALD_TRY(auto ext, field(r, der::tag::kSequence, "extension", cert_id));
  der::Reader e(ext.content);
  Extension out;
  HERALD_TRY(out.id, field(e, der::tag::kOid, "extnID", cert_id));
  if (!valid_oid(out.id.content)) {
    return malformed(where(cert_id) + "extnID is not a valid OBJECT IDENTIFIER");
  }
  if (e.peek(der::tag::kBoolean)) {
    HERALD_TRY(auto critical, field(e, der::tag::kBoolean, "critical", cert_id));
    if (critical.content.size() != 1) {
      return malformed(where(cert_id) + "critical is not a BOOLEAN of one octet");
    }
    // DER wants 0xFF for TRUE; OpenSSL takes any non-zero octet (kept, see above).
    out.critical = critical.content[0] != 0;
  }
  HERALD_TRY(auto value, field(e, der::tag::kOctetString, "extnValue", cert_id));
  HERALD_TRY_VOID(at_end(e, "extension", cert_id));
  out.value = value.content;
  return out;
}

// RFC 9654 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING; older
// clients put the raw octets there. The nonce's own length either way.
size_t nonce_length(std::span<const uint8_t> value) {
  der::Reader r(value);
  auto e = r.next();
  if (e && e->tag == der::tag::kOctetString && r.empty()) return e->content.size();
  return value.size();
}

// Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT
// Extensions OPTIONAL }; `cert_id` is its 1-based position.
Result<OcspCertId> parse_request(const der::Element& request, size_t cert_id) {
  der::Reader r(request.content);
  HERALD_TRY(auto req_cert, field(r, der::tag::kSequence, "reqCert", cert_id));
  std::optional<der::Element> single_exts;
  if (r.peek(der::tag::kContext0Constructed)) {
    HERALD_TRY(single_exts,
               field(r, der::tag::kContext0Constructed, "singleRequestExtensions", cert_id));
  }
  HERALD_TRY_VOID(at_end(r, "Request", cert_id));

  // CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }
  der::Reader c(req_cert.content);
  HERALD_TRY(auto alg, field(c, der::tag::kSequence, "hashAlgorithm", cert_id));
  HERALD_TRY(auto name_hash, field(c, der::tag::kOctetString, "issuerNameHash", cert_id));
  HERALD_TRY(auto key_hash, field(c, der::tag::kOctetString, "issuerKeyHash", cert_id));
  HERALD_TRY(auto serial, field(c, der::tag::kInteger, "serialNumber", cert_id));
  HERALD_TRY_VOID(at_end(c, "CertID", cert_id));

  OcspCertId id;
  HERALD_TRY(id.hash, hash_of(alg, cert_id));
  const size_t len = static_cast<size_t>(digest_len(id.hash));
  if (name_hash.content.size() != len || key_hash.content.size() != len) {
    return malformed(where(cert_id) + "issuer hashes are not " + std::to_string(len) +
                     " octets long as " + std::string(ocsp_hash_name(id.hash)) + " needs");
  }
  HERALD_TRY(id.serial, serial_of(serial.content, cert_id));
  if (single_exts) {
    HERALD_TRY(auto exts, extensions_in(*single_exts, "singleRequestExtensions", cert_id));
    while (!exts.empty()) {
      HERALD_TRY(auto ext, next_extension(exts, cert_id));
      if (ext.critical) {
        return malformed(where(cert_id) + "unsupported critical extension " +
                         oid_text(ext.id.whole));
      }
    }
  }
  id.issuer_name_hash.assign(name_hash.content.begin(), name_hash.content.end());
  id.issuer_key_hash.assign(key_hash.content.begin(), key_hash.content.end());
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
  der::Reader top(der);
  HERALD_TRY(auto request, field(top, der::tag::kSequence, "OCSPRequest"));
  if (!top.empty()) return malformed("trailing data after the OCSPRequest");
  // OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
  der::Reader outer(request.content);
  HERALD_TRY(auto tbs, field(outer, der::tag::kSequence, "TBSRequest"));
  std::optional<der::Element> signature;
  if (outer.peek(der::tag::kContext0Constructed)) {
    HERALD_TRY(signature, field(outer, der::tag::kContext0Constructed, "optionalSignature"));
  }
  HERALD_TRY_VOID(at_end(outer, "OCSPRequest"));

  // TBSRequest ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
  //   requestorName [1] EXPLICIT GeneralName OPTIONAL, requestList SEQUENCE
  //   OF Request, requestExtensions [2] EXPLICIT Extensions OPTIONAL }
  der::Reader t(tbs.content);
  if (t.peek(der::tag::kContext0Constructed)) {
    HERALD_TRY(auto version, field(t, der::tag::kContext0Constructed, "version"));
    static constexpr uint8_t kV1[] = {der::tag::kInteger, 0x01, 0x00};  // tolerated, see above
    if (!std::ranges::equal(version.content, kV1)) {
      return malformed("unsupported version (only v1 exists)");
    }
  }
  if (t.peek(der::tag::kContext1Constructed)) {
    HERALD_TRY(auto name, field(t, der::tag::kContext1Constructed, "requestorName"));
    if (!openssl_der<GENERAL_NAME, d2i_GENERAL_NAME, i2d_GENERAL_NAME, GENERAL_NAME_free>(
            name.content)) {
      return malformed("requestorName is not a DER GeneralName");
    }
  }
  HERALD_TRY(auto list, field(t, der::tag::kSequence, "requestList"));
  std::optional<der::Element> request_exts;
  if (t.peek(der::tag::kContext2Constructed)) {
    HERALD_TRY(request_exts, field(t, der::tag::kContext2Constructed, "requestExtensions"));
  }
  HERALD_TRY_VOID(at_end(t, "TBSRequest"));

  std::array<der::Element, kMaxOcspCertIds> requests;
  size_t n = 0;
  for (der::Reader r(list.content); !r.empty(); ++n) {
    HERALD_TRY(auto one, field(r, der::tag::kSequence, "Request", n + 1));
    if (n < requests.size()) requests[n] = one;
  }
  if (n == 0) return malformed("the request list is empty");
  if (n > kMaxOcspCertIds) {
    return malformed(std::to_string(n) + " CertIDs in one request (at most " +
                     std::to_string(kMaxOcspCertIds) + ")");
  }
  OcspRequest out;
  out.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    HERALD_TRY(auto id, parse_request(requests[i], i + 1));
    out.ids.push_back(std::move(id));
  }

  if (request_exts) {
    HERALD_TRY(auto exts, extensions_in(*request_exts, "requestExtensions", 0));
    while (!exts.empty()) {
      HERALD_TRY(auto ext, next_extension(exts, 0));
      if (std::ranges::equal(ext.id.content, kNonceOid)) {
        if (out.nonce) return malformed("more than one nonce extension");
        size_t len = nonce_length(ext.value);
        if (len == 0 || len > kMaxOcspNonceLen) {
          return malformed("nonce of " + std::to_string(len) + " octets (RFC 9654: 1 to " +
                           std::to_string(kMaxOcspNonceLen) + ")");
        }
        out.nonce.emplace(ext.value.begin(), ext.value.end());
      } else if (ext.critical) {
        return malformed("unsupported critical extension " + oid_text(ext.id.whole));
      }
    }
  }

  // Ignored (ocsp.h), but it must be a Signature as OpenSSL reads one.
  if (signature &&
      !openssl_der<OCSP_SIGNATURE, d2i_OCSP_SIGNATURE, i2d_OCSP_SIGNATURE, OCSP_SIGNATURE_free>(
          signature->content)) {
    return malformed("optionalSignature is not a DER Signature");
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

OcspCache::OcspCache(size_t capacity)
    : capacity_(capacity), per_shard_(capacity == 0 ? 0 : (capacity + kShards - 1) / kShards) {}

OcspCache::Shard& OcspCache::shard_of(const Serial& serial) const {
  // The serial's low bytes are random (Herald's serials are), its hash mixes the rest.
  return shards_[SerialHash{}(serial) % kShards];
}

std::shared_ptr<const CachedOcspResponse> OcspCache::get(OcspHash hash,
                                                         const Serial& serial) const {
  Shard& sh = shard_of(serial);
  std::lock_guard lock(sh.mutex);
  auto it = sh.index.find(serial);
  if (it == sh.index.end()) return nullptr;
  sh.order.splice(sh.order.begin(), sh.order, it->second);  // now the most recent
  return it->second->second[static_cast<size_t>(hash)];
}

void OcspCache::put(OcspHash hash, const Serial& serial, CachedOcspResponse response) {
  if (per_shard_ == 0) return;
  auto fresh = std::make_shared<const CachedOcspResponse>(std::move(response));
  Shard& sh = shard_of(serial);
  std::list<std::pair<Serial, Responses>> dropped;  // released after the lock
  std::shared_ptr<const CachedOcspResponse> old;
  std::unique_lock lock(sh.mutex);
  auto it = sh.index.find(serial);
  if (it == sh.index.end()) {
    sh.order.emplace_front(serial, Responses{});
    it = sh.index.emplace(serial, sh.order.begin()).first;
  } else {
    sh.order.splice(sh.order.begin(), sh.order, it->second);
  }
  auto& slot = it->second->second[static_cast<size_t>(hash)];
  if (!slot) ++sh.responses;
  old = std::exchange(slot, std::move(fresh));
  while (sh.index.size() > per_shard_) {
    auto last = std::prev(sh.order.end());
    for (const auto& r : last->second) sh.responses -= r ? 1 : 0;
    sh.index.erase(last->first);
    dropped.splice(dropped.begin(), sh.order, last);
  }
  lock.unlock();
}

void OcspCache::erase(const Serial& serial) {
  Shard& sh = shard_of(serial);
  std::list<std::pair<Serial, Responses>> dropped;  // released after the lock
  std::unique_lock lock(sh.mutex);
  auto it = sh.index.find(serial);
  if (it == sh.index.end()) return;
  for (const auto& r : it->second->second) sh.responses -= r ? 1 : 0;
  dropped.splice(dropped.begin(), sh.order, it->second);
  sh.index.erase(it);
  lock.unlock();
}

size_t OcspCache::size() const {
  size_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh.mutex);
    n += sh.responses;
  }
  return n;
}

std::string BoundedOcspCache::key(OcspHash hash, const Serial& serial) {
  std::string k(1, static_cast<char>(hash));
  const Bytes& b = serial.bytes();
  k.append(reinterpret_cast<const char*>(b.data()), b.size());
  return k;
}

std::shared_ptr<const CachedOcspResponse> BoundedOcspCache::get(OcspHash hash,
                                                                const Serial& serial,
                                                                TimePoint now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key(hash, serial));
  if (it == entries_.end() || now - it->second->this_update >= max_age_ ||
      now >= it->second->next_update) {
    return nullptr;
  }
  return it->second;
}

void BoundedOcspCache::put(OcspHash hash, const Serial& serial, CachedOcspResponse response) {
  if (capacity_ == 0) return;
  auto fresh = std::make_shared<const CachedOcspResponse>(std::move(response));
  std::vector<std::shared_ptr<const CachedOcspResponse>> dropped;  // released after the lock
  std::lock_guard lock(mutex_);
  std::string k = key(hash, serial);
  auto [it, inserted] = entries_.try_emplace(k, fresh);
  if (!inserted) {
    dropped.push_back(std::exchange(it->second, fresh));
    return;
  }
  order_.push_back(std::move(k));
  while (entries_.size() > capacity_ || order_.size() > 2 * capacity_) {
    if (auto old = entries_.find(order_.front()); old != entries_.end()) {
      dropped.push_back(std::move(old->second));
      entries_.erase(old);
    }
    order_.pop_front();
  }
}

void BoundedOcspCache::erase(const Serial& serial) {
  std::lock_guard lock(mutex_);
  entries_.erase(key(OcspHash::kSha1, serial));
  entries_.erase(key(OcspHash::kSha256, serial));
}

size_t BoundedOcspCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace herald::ca
