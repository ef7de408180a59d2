// The agent's ACME source (source.h): acme_client::Client over
// net::https_request, the account key file, and the configured challenge
// solver. Every certificate comes from an ACME order (renews_over_mtls() is
// false: the CA may not be Herald); renewal_window() asks the CA's
// renewalInfo (RFC 9773).
//
// The account key file is an unencrypted PKCS#8 PEM, mode 0600, created
// (P-256) when missing: the agent must load it unattended, like the
// certificates' own keys it writes. The account is found again by that key.

#include <openssl/x509.h>

#include <mutex>
#include <thread>

#include "acme_client/client.h"
#include "agent/reload.h"
#include "agent/source.h"
#include "base/fs.h"
#include "keys/private_key.h"
#include "net/client.h"
#include "x509/certificate.h"

namespace herald::agent {

namespace {

// A Clock's seconds are too coarse to wait between polls: waits sleep for real.
void sleep_for(std::chrono::milliseconds ms) { std::this_thread::sleep_for(ms); }

class AcmeSource final : public Source {
 public:
  AcmeSource(AcmeSettings s, const Clock& clock)
      : s_(std::move(s)), client_(s_.directory_url, transport(s_.trust_pem), sleep_for, clock) {}

  std::string describe() const override { return "ACME at " + s_.directory_url; }
  bool renews_over_mtls() const override { return false; }

  CallResult<Issued> obtain(const Identity& id, EVP_PKEY& key, const Bytes& csr_der,
                            const std::function<void(const std::string&)>& log) override {
    std::lock_guard lock(mu_);
    (void)id;  // the CSR carries the names; profile and lifetime are the ACME provisioner's
    auto account_key = load_account_key(log);
    if (!account_key) return tl::unexpected(CallError{account_key.error(), false});
    acme_client::AccountOptions opts;
    opts.email = s_.email;
    if (s_.eab_kid) {
      auto hmac = read_eab_key();
      if (!hmac) return tl::unexpected(CallError{hmac.error(), false});
      opts.eab_kid = s_.eab_kid;
      opts.eab_hmac_key = std::move(*hmac);
    }
    auto solver = make_solver();
    auto pem = client_.obtain(**account_key, opts, csr_der, *solver, s_.order_timeout, log);
    if (!pem) return tl::unexpected(CallError{pem.error().error, pem.error().refused});
    return to_issued(*pem, key);
  }

  std::optional<RenewalWindow> renewal_window(const std::string& cert_pem, TimePoint now) override {
    (void)now;  // the client's clock decides how long an answer is kept
    auto certs = x509::Certificate::from_pem(cert_pem);
    if (!certs || certs->empty()) return std::nullopt;
    auto info = client_.renewal_info(certs->front().der());
    if (!info || !*info) return std::nullopt;
    return RenewalWindow{(*info)->start, (*info)->end, (*info)->explanation_url};
  }

 private:
  static acme_client::Transport transport(const std::string& trust_pem) {
    net::ClientTls tls;
    tls.ca_pem = trust_pem;
    tls.empty_ca = net::ClientTls::EmptyCa::kSystemDefault;
    return [tls](const std::string& method, const std::string& url,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& body, std::chrono::seconds timeout) {
      return net::https_request(method, url, headers, body, tls, timeout);
    };
  }

  // The account key: read, or created (P-256, 0600) when the file is missing.
  Result<ossl::EvpPkeyPtr> load_account_key(const std::function<void(const std::string&)>& log) {
    std::error_code ec;
    if (!std::filesystem::exists(s_.account_key, ec)) {
      HERALD_TRY(auto key, keys::generate_key(keys::KeyType::kEcP256));
      HERALD_TRY(auto pem, keys::private_key_pem(*key));
      if (auto parent = s_.account_key.parent_path();
          !parent.empty() && !std::filesystem::exists(parent, ec)) {
        HERALD_TRY_VOID(fs::make_dir(parent, fs::kPrivateDir));
      }
      HERALD_TRY_VOID(fs::write_file(s_.account_key, pem, fs::kPrivate, fs::Overwrite::kRefuse));
      log("created the ACME account key " + s_.account_key.string() + " (P-256, mode 0600)");
      return key;
    }
    HERALD_TRY(auto pem, fs::read_file(s_.account_key, 64 * 1024));
    auto key = keys::decrypt_private_key(pem, "");
    if (!key) {
      return make_error(ErrorCode::kMalformedInput,
                        "the ACME account key " + s_.account_key.string() +
                            " is not an unencrypted private key: " + key.error().message);
    }
    return std::move(*key);
  }

  Result<Bytes> read_eab_key() {
    if (!s_.eab_hmac_key_file)
      return make_error(ErrorCode::kInvalidArgument,
                        "an EAB key id needs an HMAC key file (eab_hmac_key_file)");
    HERALD_TRY(auto text, fs::read_file(*s_.eab_hmac_key_file, 4096));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
      text.pop_back();
    auto key = base64url_decode(text);
    if (!key || key->empty()) {
      return make_error(
          ErrorCode::kMalformedInput,
          "the EAB HMAC key in " + s_.eab_hmac_key_file->string() + " is not base64url");
    }
    return std::move(*key);
  }

  std::unique_ptr<acme_client::Solver> make_solver() const {
    switch (s_.challenge) {
      case AcmeSettings::Challenge::kHttp01Webroot:
        return acme_client::make_http01_webroot(s_.webroot);
      case AcmeSettings::Challenge::kDns01Hook:
        return acme_client::make_dns01_hook(
            s_.dns_hook, s_.hook_timeout,
            [](const std::string& cmd,
               std::chrono::milliseconds timeout) -> Result<acme_client::HookOutcome> {
              HERALD_TRY(auto out, run_reload(cmd, timeout));
              return acme_client::HookOutcome{out.ok, out.describe()};
            });
      case AcmeSettings::Challenge::kHttp01Standalone:
        break;
    }
    return acme_client::make_http01_standalone(s_.http_listen);
  }

  // The PEM chain: leaf first (its key must be ours), then the CA certificates.
  static CallResult<Issued> to_issued(const std::string& pem, EVP_PKEY& key) {
    auto bad = [](std::string m) {
      return tl::unexpected(CallError{Error{ErrorCode::kMalformedInput, std::move(m), {}}, false});
    };
    auto certs = x509::Certificate::from_pem(pem);
    if (!certs || certs->empty()) return bad("the ACME certificate chain cannot be read");
    const auto& leaf = certs->front();
    if (EVP_PKEY_eq(X509_get0_pubkey(&leaf.x509()), &key) != 1) {
      ossl::clear_errors();
      return bad("the ACME server returned a certificate for another key");
    }
    Issued out;
    out.cert_pem = leaf.pem();
    for (size_t i = 1; i < certs->size(); ++i) out.chain_pem += (*certs)[i].pem();
    out.serial = leaf.serial().hex();
    out.not_after = format_time(leaf.not_after());
    return out;
  }

  AcmeSettings s_;
  acme_client::Client client_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Source> make_acme_source(AcmeSettings s, const Clock& clock) {
  return std::make_unique<AcmeSource>(std::move(s), clock);
}

}  // namespace herald::agent
