// The REST sources of source.h: a bearer token, and one-time tokens minted
// here with a jwk provisioner's key. (ACME: acme_source.cc.)
#include "agent/source.h"

#include "base/fs.h"
#include "keys/one_time_token.h"
#include "keys/private_key.h"

namespace herald::agent {

namespace {

Result<std::string> read_token(const std::filesystem::path& file) {
  HERALD_TRY(auto text, fs::read_file(file, 16 * 1024));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the token file " + file.string() + " is empty");
  }
  return text;
}

CallResult<Issued> local_failure(Error e) { return tl::unexpected(CallError{std::move(e), true}); }

class TokenSource final : public Source {
 public:
  TokenSource(ServerRef server, std::filesystem::path file)
      : server_(std::move(server)), file_(std::move(file)) {}
  std::string describe() const override { return "the bearer token in " + file_.string(); }
  bool renews_over_mtls() const override { return true; }
  CallResult<Issued> obtain(const Identity& id, EVP_PKEY&, const Bytes& csr,
                            const std::function<void(const std::string&)>&) override {
    auto token = read_token(file_);
    if (!token) return local_failure(token.error());
    return sign_with_token(server_, *token, id, csr);
  }

 private:
  ServerRef server_;
  std::filesystem::path file_;
};

// https://HOST:PORT/v1/sign, as herald serve lists its audiences (the port
// always written out).
std::string sign_audience(const std::string& url) {
  const std::string scheme = "https://";
  std::string rest = url.substr(url.rfind(scheme, 0) == 0 ? scheme.size() : 0);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const bool bracketed = !rest.empty() && rest.front() == '[';
  const auto colon = rest.rfind(':');
  const bool has_port =
      colon != std::string::npos && (!bracketed || colon > rest.find(']'));
  return scheme + rest + (has_port ? "" : ":443") + "/v1/sign";
}

class OneTimeTokenSource final : public Source {
 public:
  OneTimeTokenSource(ServerRef server, OneTimeTokenSettings s, const Clock& clock)
      : server_(std::move(server)), s_(std::move(s)), clock_(clock) {}
  std::string describe() const override {
    return "one-time tokens of provisioner '" + s_.provisioner + "' (key " + s_.key_file.string() +
           ")";
  }
  bool renews_over_mtls() const override { return true; }
  CallResult<Issued> obtain(const Identity& id, EVP_PKEY&, const Bytes& csr,
                            const std::function<void(const std::string&)>&) override {
    auto token = mint(id);
    if (!token) return local_failure(token.error());
    return sign_with_token(server_, *token, id, csr);
  }

 private:
  Result<std::string> mint(const Identity& id) const {
    HERALD_TRY(auto pem, fs::read_file(s_.key_file, 64 * 1024));
    std::string pass;
    if (s_.password_file) {
      HERALD_TRY(pass, fs::read_passphrase_file(*s_.password_file));
    }
    auto key = keys::decrypt_private_key(pem, pass);  // an empty passphrase: a plain PKCS#8 key
    if (!key) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the one-time token key " + s_.key_file.string() +
                            " cannot be loaded: " + key.error().message);
    }
    keys::OneTimeTokenRequest r{.provisioner = s_.provisioner,
                                .audience = sign_audience(server_.url),
                                .cn = id.cn,
                                .sans = {},
                                .ttl = std::chrono::seconds(300)};
    for (const auto& san : id.sans) r.sans.push_back(san.value);
    return keys::mint_one_time_token(**key, r, clock_.now());
  }

  ServerRef server_;
  OneTimeTokenSettings s_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Source> make_token_source(ServerRef server, std::filesystem::path token_file) {
  return std::make_unique<TokenSource>(std::move(server), std::move(token_file));
}

std::unique_ptr<Source> make_one_time_token_source(ServerRef server, OneTimeTokenSettings s,
                                                   const Clock& clock) {
  return std::make_unique<OneTimeTokenSource>(std::move(server), std::move(s), clock);
}

}  // namespace herald::agent
