#include "verify/finding_util.h"

#include "ossl/ossl.h"

namespace herald::verify::detail {

namespace {
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}
}  // namespace

std::string name_text(const X509_NAME* name) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_text(bio.get());
}

std::string subject_of(X509* x) { return name_text(X509_get_subject_name(x)); }

std::string serial_of(X509* x) {
  const ASN1_INTEGER* s = X509_get0_serialNumber(x);
  return to_hex(std::span(s->data, static_cast<size_t>(s->length)), true);
}

std::string time_text(const ASN1_TIME* t) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  return bio_text(bio.get());
}

Finding finding(std::string code, int depth, X509* x, std::string expected, std::string found,
                std::string hint) {
  Finding f;
  f.code = std::move(code);
  f.depth = depth;
  if (x) {
    f.subject = subject_of(x);
    f.serial = serial_of(x);
  }
  f.expected = std::move(expected);
  f.found = std::move(found);
  f.hint = std::move(hint);
  return f;
}

}  // namespace herald::verify::detail
