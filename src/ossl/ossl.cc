#include "ossl/ossl.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cctype>

namespace herald::ossl {

std::string drain_errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

tl::unexpected<Error> error(ErrorCode code, std::string message) {
  Error e{code, std::move(message), {}};
  auto queue = drain_errors();
  if (!queue.empty()) e.with("openssl", queue);
  return tl::unexpected<Error>(std::move(e));
}

void clear_errors() { ERR_clear_error(); }

BioPtr mem_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_to_string(BIO& bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(&bio, &p);
  return n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
}

Result<std::vector<Bytes>> pem_blocks(std::string_view text, std::string_view label) {
  std::vector<Bytes> out;
  auto bio = mem_bio(text);
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      unsigned long e = ERR_peek_last_error();
      bool eof = ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
      clear_errors();
      if (!eof) {
        return make_error(ErrorCode::kMalformedInput,
                          "corrupt PEM block (bad base64 or missing END line)");
      }
      break;
    }
    if (label == name) out.emplace_back(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  if (out.empty()) {
    return make_error(ErrorCode::kMalformedInput,
                      "no PEM block labelled '" + std::string(label) + "' found");
  }
  return out;
}

std::string pem_encode(std::span<const uint8_t> der, std::string_view label) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  std::string name(label);
  PEM_write_bio(bio.get(), name.c_str(), "", der.data(), static_cast<long>(der.size()));
  return bio_to_string(*bio);
}

bool looks_like_pem(std::span<const uint8_t> data) {
  size_t i = 0;
  while (i < data.size() && std::isspace(data[i])) ++i;
  static constexpr std::string_view kBegin = "-----BEGIN";
  return data.size() - i >= kBegin.size() &&
         std::string_view(reinterpret_cast<const char*>(data.data() + i), kBegin.size()) == kBegin;
}

namespace {
Result<Bytes> digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1) {
    return error(ErrorCode::kCrypto, "digest failed");
  }
  out.resize(n);
  return out;
}
}  // namespace

Result<Bytes> sha256(std::span<const uint8_t> data) { return digest(EVP_sha256(), data); }
Result<Bytes> sha1(std::span<const uint8_t> data) { return digest(EVP_sha1(), data); }

Result<Bytes> random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return error(ErrorCode::kCrypto, "random number generator failed");
  }
  return out;
}

}  // namespace herald::ossl
