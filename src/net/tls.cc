#include "net/tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "net/tls_internal.h"

namespace herald::net {

namespace {
// Accept the handshake whatever the client certificate: the verdict is kept
// (SSL_get_verify_result) and handlers decide; routes without client auth
// must not fail because a client sent some unrelated certificate.
int keep_going(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }
}  // namespace

Result<std::shared_ptr<TlsContext>> make_tls_context(const TlsConfig& config) {
  auto t = std::make_shared<TlsContext>();
  SSL_CTX* ctx = t->ctx.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: forward-secret AEAD suites only.
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");

  auto bio = ossl::mem_bio(config.cert_chain_pem);
  ossl::X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    return ossl::error(ErrorCode::kMalformedInput, "TLS: unreadable server certificate");
  }
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      return ossl::error(ErrorCode::kCrypto, "TLS: cannot add chain certificate");
    }
  }
  ossl::clear_errors();  // the loop ends on "no start line"
  auto kbio = ossl::mem_bio(config.key_pem);
  ossl::EvpPkeyPtr key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  if (!key || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ossl::clear_errors();
    return make_error(ErrorCode::kMalformedInput,
                      "TLS: the private key does not match the server certificate");
  }
  if (!config.client_ca_pem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    auto cbio = ossl::mem_bio(config.client_ca_pem);
    while (X509* ca = PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, ca);
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
    ossl::clear_errors();
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, keep_going);
    // No TLS-client EKU requirement: a server certificate renewing itself over
    // mTLS is legitimate. peer_verified means "chains to these CAs, in date".
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx), X509_PURPOSE_ANY);
    SSL_CTX_set_verify_depth(ctx, 4);
    // With peer verification on, OpenSSL refuses to resume a session (a
    // ticket a browser got on its first connection and offers on the next,
    // opened in parallel for a page's scripts) unless a session id context
    // is set: the handshake fails ("session id context uninitialized") and
    // Chromium reports ERR_SSL_PROTOCOL_ERROR. Sessions are ours alone.
    static constexpr unsigned char kSidCtx[] = "herald-serve";
    SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof kSidCtx - 1);
    t->wants_client_cert = true;
  }
  return t;
}

Result<std::shared_ptr<TlsContextHolder>> TlsContextHolder::create(const TlsConfig& config) {
  auto h = std::make_shared<TlsContextHolder>();
  HERALD_TRY_VOID(h->reload(config));
  return h;
}

Status TlsContextHolder::reload(const TlsConfig& config) {
  HERALD_TRY(auto ctx, make_tls_context(config));
  std::lock_guard lock(mu_);
  ctx_ = std::move(ctx);
  return {};
}

std::shared_ptr<TlsContext> TlsContextHolder::current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

}  // namespace herald::net
