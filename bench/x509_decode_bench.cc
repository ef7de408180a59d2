// CPU per d2i_X509 of one certificate, as libssl does for every certificate
// a TLS peer presents (OpenSSL 3.0 builds a decoder context for the public
// key inside each decode). bench/proxy_bench.sh runs it on the proxies'
// core: with the chain the load client sends, it is the part of a full
// mTLS handshake no server on this libssl can avoid.
//
// Usage: x509_decode_bench CERT.pem [ITERATIONS]
// Prints one JSON line: microseconds per decode with the default library
// context and with a private one holding only the default provider.
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Microseconds of CPU per decode, or a negative number if one failed.
double time_decodes(const unsigned char* der, int len, int n, OSSL_LIB_CTX* libctx) {
  const double t0 = cpu_seconds();
  for (int i = 0; i < n; ++i) {
    const unsigned char* p = der;
    X509* x = X509_new_ex(libctx, nullptr);
    if (x == nullptr || d2i_X509(&x, &p, len) == nullptr) {
      X509_free(x);
      return -1;
    }
    X509_free(x);
  }
  return (cpu_seconds() - t0) / n * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CERT.pem [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  if (n <= 0) {
    std::fprintf(stderr, "ITERATIONS must be a positive number\n");
    return 2;
  }
  FILE* f = std::fopen(argv[1], "r");
  if (f == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    std::fprintf(stderr, "%s: no certificate\n", argv[1]);
    return 1;
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  X509_free(cert);
  if (len <= 0) return 1;

  OSSL_LIB_CTX* own = OSSL_LIB_CTX_new();
  OSSL_PROVIDER* prov = own ? OSSL_PROVIDER_load(own, "default") : nullptr;
  const double shared = time_decodes(der, len, n, nullptr);
  const double privat = prov ? time_decodes(der, len, n, own) : -1;
  std::printf("{\"iterations\":%d,\"der_bytes\":%d,\"us_per_decode\":%.1f,"
              "\"us_per_decode_private_libctx\":%.1f}\n",
              n, len, shared, privat);
  OSSL_PROVIDER_unload(prov);
  OSSL_LIB_CTX_free(own);
  OPENSSL_free(der);
  return shared < 0 ? 1 : 0;
}
