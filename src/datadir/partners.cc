#include "datadir/partners.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "ca/trust.h"

namespace herald::datadir {

namespace fsys = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;
constexpr size_t kMaxCertBytes = 256 << 10;

// An exclusive flock on DIR/partners/.lock for the life of the object.
class WriterLock {
 public:
  static Result<WriterLock> acquire(const fsys::path& dir) {
    HERALD_TRY_VOID(fs::make_dir(dir, fs::kPublicDir));
    const auto path = dir / ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return make_error(ErrorCode::kIo,
                        "cannot open " + path.string() + ": " + std::strerror(errno));
    }
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, "cannot lock " + path.string() + ": " + std::strerror(err));
    }
    return WriterLock(fd);
  }
  WriterLock(WriterLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_;
};

struct Entry {
  std::string name;
  std::string file;
  std::string fingerprint;  // "AB:CD:..."
  int64_t imported_at = 0;
  json raw;
};

Result<std::vector<Entry>> read_manifest(const fsys::path& path) {
  std::error_code ec;
  if (!fsys::exists(path, ec)) return std::vector<Entry>{};
  HERALD_TRY(auto text, fs::read_file(path, kMaxManifestBytes));
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kMalformedInput,
                      "unreadable partner manifest " + path.string() + ": " + why);
  };
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  if (doc.value("version", 0) != 1) return bad("unknown version");
  auto it = doc.find("partners");
  if (it == doc.end() || !it->is_array()) return bad("no \"partners\" array");
  std::vector<Entry> out;
  for (const auto& p : *it) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || !p.contains("file") ||
        !p["file"].is_string() || !p.contains("fingerprint_sha256") ||
        !p["fingerprint_sha256"].is_string() || !p.contains("imported_at_unix") ||
        !p["imported_at_unix"].is_number_integer()) {
      return bad("an entry lacks name, file, fingerprint_sha256 or imported_at_unix");
    }
    Entry e{p["name"], p["file"], p["fingerprint_sha256"], p["imported_at_unix"].get<int64_t>(), p};
    if (!ca::check_partner_name(e.name) || e.file != e.name + ".pem") {
      return bad("invalid entry '" + e.name + "'");
    }
    out.push_back(std::move(e));
  }
  return out;
}

Status write_manifest(const fsys::path& path, const std::vector<Entry>& entries) {
  json list = json::array();
  for (const auto& e : entries) list.push_back(e.raw);
  json doc = {{"version", 1}, {"partners", list}};
  return fs::write_file(path, doc.dump(2) + "\n", fs::kPublic, fs::Overwrite::kReplace);
}

Result<Partner> load(const fsys::path& dir, const Entry& e) {
  const auto path = dir / e.file;
  HERALD_TRY(auto pem, fs::read_file(path, kMaxCertBytes));
  auto certs = x509::Certificate::from_pem(pem);
  if (!certs || certs->size() != 1) {
    return make_error(ErrorCode::kMalformedInput, "partner '" + e.name + "': " + path.string() +
                                                      " does not hold exactly one certificate");
  }
  auto& cert = certs->front();
  if (cert.fingerprint_sha256() != e.fingerprint) {
    return make_error(ErrorCode::kConflict, "partner '" + e.name + "': " + path.string() +
                                                " has SHA-256 " + cert.fingerprint_sha256() +
                                                ", the manifest records " + e.fingerprint);
  }
  return Partner{e.name, cert, TimePoint(std::chrono::seconds(e.imported_at))};
}

}  // namespace

Result<std::vector<Partner>> PartnerStore::list() const {
  HERALD_TRY(auto entries, read_manifest(manifest_path()));
  std::vector<Partner> out;
  for (const auto& e : entries) {
    HERALD_TRY(auto p, load(dir_, e));
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const Partner& a, const Partner& b) { return a.name < b.name; });
  return out;
}

Result<ImportReport> PartnerStore::import(std::string_view pem, const std::string& name,
                                          std::string_view fingerprint, TimePoint now) {
  HERALD_TRY_VOID(ca::check_partner_name(name));
  HERALD_TRY(auto certs, x509::Certificate::from_pem(pem));
  if (certs.size() != 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the file holds " + std::to_string(certs.size()) +
                          " certificates; import one root per partner name");
  }
  const auto& cert = certs.front();
  HERALD_TRY(auto warnings, ca::check_partner_root(cert, fingerprint, now));

  HERALD_TRY(auto lock, WriterLock::acquire(dir_));
  HERALD_TRY(auto entries, read_manifest(manifest_path()));
  for (const auto& e : entries) {
    if (e.name == name) {
      return make_error(ErrorCode::kAlreadyExists,
                        "a partner named '" + name + "' already exists (SHA-256 " + e.fingerprint +
                            "); remove it first with `herald trust remove " + name + "`");
    }
    if (e.fingerprint == cert.fingerprint_sha256()) {
      return make_error(ErrorCode::kAlreadyExists,
                        "this root is already trusted as partner '" + e.name + "'");
    }
  }
  Entry e;
  e.name = name;
  e.file = name + ".pem";
  e.fingerprint = cert.fingerprint_sha256();
  e.imported_at = now.time_since_epoch().count();
  e.raw = {{"name", e.name},
           {"file", e.file},
           {"fingerprint_sha256", e.fingerprint},
           {"subject", cert.subject()},
           {"not_before", format_time(cert.not_before())},
           {"not_after", format_time(cert.not_after())},
           {"imported_at", format_time(now)},
           {"imported_at_unix", e.imported_at}};
  // The certificate first: a crash before the manifest leaves an unlisted file.
  HERALD_TRY_VOID(fs::write_file(dir_ / e.file, cert.pem(), fs::kPublic, fs::Overwrite::kReplace));
  entries.push_back(e);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  HERALD_TRY_VOID(write_manifest(manifest_path(), entries));
  return ImportReport{Partner{name, cert, now}, std::move(warnings)};
}

Result<std::string> PartnerStore::remove(const std::string& name) {
  HERALD_TRY_VOID(ca::check_partner_name(name));
  HERALD_TRY(auto lock, WriterLock::acquire(dir_));
  HERALD_TRY(auto entries, read_manifest(manifest_path()));
  auto it =
      std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == name; });
  if (it == entries.end()) {
    return make_error(ErrorCode::kNotFound, "no partner named '" + name + "'");
  }
  const Entry gone = *it;
  entries.erase(it);
  HERALD_TRY_VOID(write_manifest(manifest_path(), entries));
  std::error_code ec;
  fsys::remove(dir_ / gone.file, ec);
  return gone.fingerprint;
}

}  // namespace herald::datadir
