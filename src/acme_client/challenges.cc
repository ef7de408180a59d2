#include "acme_client/challenges.h"

#include <map>
#include <system_error>
#include <thread>

#include "base/fs.h"
#include "net/server.h"

namespace herald::acme_client {

namespace {

constexpr std::string_view kChallengePath = "/.well-known/acme-challenge/";

bool safe_token(const std::string& t) {
  if (t.empty() || t.size() > 256) return false;
  for (char c : t) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// ---------------------------------------------------------------- http-01 standalone

class Http01Standalone final : public Solver {
 public:
  explicit Http01Standalone(std::string listen) : listen_(std::move(listen)) {}
  ~Http01Standalone() override { (void)cleanup(); }

  std::string type() const override { return "http-01"; }
  std::string describe() const override { return "http-01 on " + listen_; }

  Status present(const std::vector<ChallengeTask>& tasks) override {
    HERALD_TRY_VOID(cleanup());
    auto colon = listen_.rfind(':');
    if (colon == std::string::npos || colon + 1 >= listen_.size())
      return make_error(ErrorCode::kInvalidArgument,
                        "the http-01 listen address '" + listen_ + "' is not HOST:PORT");
    std::string host = listen_.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    const std::string port_text = listen_.substr(colon + 1);
    if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5 ||
        (port = std::stoul(port_text)) > 65535 || host.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the http-01 listen address '" + listen_ + "' is not HOST:PORT");
    }
    auto answers = std::make_shared<std::map<std::string, std::string>>();
    for (const auto& t : tasks) {
      if (!safe_token(t.token))
        return make_error(ErrorCode::kMalformedInput, "a challenge token is not base64url");
      (*answers)[std::string(kChallengePath) + t.token] = t.key_authorization;
    }
    auto server = std::make_unique<net::Server>(1);
    net::Limits limits;
    limits.max_body_bytes = 1024;
    limits.read_timeout = std::chrono::seconds(10);
    limits.idle_timeout = std::chrono::seconds(10);
    limits.max_connections = 64;
    auto handler = [answers](const net::Request& req, net::Response& res) {
      auto it = answers->find(req.path);
      if (req.method != "GET" || it == answers->end()) {
        res.status = 404;
        res.body = "not found\n";
        res.set_header("Content-Type", "text/plain");
        return;
      }
      res.status = 200;
      res.body = it->second;
      res.set_header("Content-Type", "application/octet-stream");
    };
    auto bound = server->listen(host, static_cast<uint16_t>(port), nullptr, handler, limits);
    if (!bound) {
      return make_error(ErrorCode::kIo,
                        "cannot listen on " + listen_ + " for http-01: " + bound.error().message);
    }
    port_ = *bound;
    server_ = std::move(server);
    thread_ = std::thread([s = server_.get()] { s->run(); });
    return {};
  }

  Status cleanup() override {
    if (server_) {
      server_->stop();
      if (thread_.joinable()) thread_.join();
      server_.reset();
    }
    return {};
  }

  uint16_t port() const { return port_; }

 private:
  std::string listen_;
  std::unique_ptr<net::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// ---------------------------------------------------------------- http-01 webroot

class Http01Webroot final : public Solver {
 public:
  explicit Http01Webroot(std::filesystem::path root) : root_(std::move(root)) {}
  ~Http01Webroot() override { (void)cleanup(); }

  std::string type() const override { return "http-01"; }
  std::string describe() const override { return "http-01 in " + root_.string(); }

  Status present(const std::vector<ChallengeTask>& tasks) override {
    HERALD_TRY_VOID(cleanup());
    const auto dir = root_ / ".well-known" / "acme-challenge";
    std::error_code ec;
    if (!std::filesystem::is_directory(root_, ec))
      return make_error(ErrorCode::kNotFound,
                        "the webroot " + root_.string() + " is not a directory");
    if (!std::filesystem::is_directory(dir, ec)) {
      for (const auto& d : {root_ / ".well-known", dir}) {
        if (std::filesystem::is_directory(d, ec)) continue;
        HERALD_TRY_VOID(fs::make_dir(d, fs::kPublicDir));
      }
    }
    for (const auto& t : tasks) {
      if (!safe_token(t.token))
        return make_error(ErrorCode::kMalformedInput, "a challenge token is not base64url");
      const auto file = dir / t.token;
      written_.push_back(file);  // before writing: a half-written file is removed too
      HERALD_TRY_VOID(
          fs::write_file(file, t.key_authorization, fs::kPublic, fs::Overwrite::kReplace));
    }
    return {};
  }

  Status cleanup() override {
    std::string failed;
    for (const auto& f : written_) {
      std::error_code ec;
      std::filesystem::remove(f, ec);
      if (ec) failed += (failed.empty() ? "" : ", ") + f.string() + " (" + ec.message() + ")";
    }
    written_.clear();
    if (!failed.empty()) return make_error(ErrorCode::kIo, "cannot remove " + failed);
    return {};
  }

 private:
  std::filesystem::path root_;
  std::vector<std::filesystem::path> written_;
};

// ---------------------------------------------------------------- dns-01 hook

class Dns01Hook final : public Solver {
 public:
  Dns01Hook(std::string hook, std::chrono::milliseconds timeout, HookRunner runner)
      : hook_(std::move(hook)), timeout_(timeout), runner_(std::move(runner)) {}
  ~Dns01Hook() override { (void)cleanup(); }

  std::string type() const override { return "dns-01"; }
  std::string describe() const override { return "dns-01 through " + hook_; }

  Status present(const std::vector<ChallengeTask>& tasks) override {
    HERALD_TRY_VOID(cleanup());
    for (const auto& t : tasks) {
      if (t.identifier.type != "dns")
        return make_error(ErrorCode::kInvalidArgument,
                          "dns-01 cannot prove " + t.identifier.describe());
      std::string domain = t.identifier.value;
      if (domain.starts_with("*.")) domain = domain.substr(2);
      HERALD_TRY(auto value, dns01_txt_value(t.key_authorization));
      Record r{"_acme-challenge." + domain, value};
      presented_.push_back(r);  // cleanup is run for a record whose present failed, too
      HERALD_TRY_VOID(run("present", r));
    }
    return {};
  }

  Status cleanup() override {
    std::string failed;
    for (const auto& r : presented_) {
      auto s = run("cleanup", r);
      if (!s) failed += (failed.empty() ? "" : "; ") + s.error().message;
    }
    presented_.clear();
    if (!failed.empty()) return make_error(ErrorCode::kIo, failed);
    return {};
  }

 private:
  struct Record {
    std::string name;
    std::string value;
  };

  Status run(const char* verb, const Record& r) {
    const std::string cmd =
        hook_ + " " + verb + " " + shell_quote(r.name) + " " + shell_quote(r.value);
    auto out = runner_(cmd, timeout_);
    if (!out)
      return make_error(out.error().code, "the dns-01 hook (" + std::string(verb) + " " + r.name +
                                              ") could not run: " + out.error().message);
    if (!out->ok) {
      return make_error(ErrorCode::kIo, "the dns-01 hook failed (" + std::string(verb) + " " +
                                            r.name + "): " + out->what);
    }
    return {};
  }

  std::string hook_;
  std::chrono::milliseconds timeout_;
  HookRunner runner_;
  std::vector<Record> presented_;
};

}  // namespace

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::unique_ptr<Solver> make_http01_standalone(std::string listen) {
  return std::make_unique<Http01Standalone>(std::move(listen));
}

uint16_t http01_standalone_port(const Solver& s) {
  auto* h = dynamic_cast<const Http01Standalone*>(&s);
  return h ? h->port() : 0;
}

std::unique_ptr<Solver> make_http01_webroot(std::filesystem::path webroot) {
  return std::make_unique<Http01Webroot>(std::move(webroot));
}

std::unique_ptr<Solver> make_dns01_hook(std::string hook, std::chrono::milliseconds timeout,
                                        HookRunner runner) {
  return std::make_unique<Dns01Hook>(std::move(hook), timeout, std::move(runner));
}

}  // namespace herald::acme_client
