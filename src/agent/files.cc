#include "agent/files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include "base/fs.h"
#include "keys/private_key.h"
#include "x509/certificate.h"

namespace herald::agent {

namespace stdfs = std::filesystem;

namespace {

Error io_error(const std::string& what, const stdfs::path& path, int err) {
  Error e{ErrorCode::kIo, what + " " + path.string() + ": " + std::strerror(err), {}};
  return e;
}

stdfs::path dir_of(const stdfs::path& p) {
  auto d = p.parent_path();
  return d.empty() ? stdfs::path(".") : d;
}

stdfs::path with_suffix(const stdfs::path& p, const char* suffix) {
  return stdfs::path(p.string() + suffix);
}

Status fsync_dir(const stdfs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(io_error("cannot open directory", dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return tl::unexpected(io_error("cannot fsync directory", dir, err));
  return {};
}

Status rename_file(const stdfs::path& from, const stdfs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return tl::unexpected(io_error("cannot rename " + from.string() + " to", to, errno));
  return {};
}

bool present(const stdfs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// Every file the scheme writes, CERT last.
std::vector<stdfs::path> targets(const Paths& p) {
  std::vector<stdfs::path> out;
  if (p.pkcs12) out.push_back(*p.pkcs12);
  if (p.combined) out.push_back(*p.combined);
  if (p.chain) out.push_back(*p.chain);
  out.push_back(p.key);
  out.push_back(p.cert);
  return out;
}

std::set<stdfs::path> dirs_of(const Paths& p) {
  std::set<stdfs::path> out;
  for (const auto& t : targets(p)) out.insert(dir_of(t));
  return out;
}

// Keeps TARGET as TARGET.prev (hard link; copy across odd filesystems).
Status keep_prev(const stdfs::path& target) {
  if (!present(target)) return {};
  const auto prev = with_suffix(target, ".prev");
  const auto tmp = with_suffix(target, ".prev.tmp");
  ::unlink(tmp.c_str());
  if (::link(target.c_str(), tmp.c_str()) != 0) {
    std::error_code ec;
    stdfs::copy_file(target, tmp, stdfs::copy_options::overwrite_existing, ec);
    if (ec)
      return make_error(ErrorCode::kIo,
                        "cannot keep " + target.string() + " as .prev: " + ec.message());
  }
  return rename_file(tmp, prev);
}

}  // namespace

Status write_atomic(const stdfs::path& path, std::string_view data, stdfs::perms mode,
                    const Ownership& owner) {
  const stdfs::path dir = dir_of(path);
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return tl::unexpected(io_error("cannot create a file in", dir, errno));
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    return tl::unexpected(io_error(what, path, err));
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("cannot chmod");
  if ((owner.uid || owner.gid) &&
      ::fchown(fd, owner.uid ? *owner.uid : static_cast<uid_t>(-1),
               owner.gid ? *owner.gid : static_cast<gid_t>(-1)) != 0) {
    return fail("cannot chown (owner and group need root or CAP_CHOWN)");
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return tl::unexpected(io_error("cannot close", path, err));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return tl::unexpected(io_error("cannot rename a temporary file to", path, err));
  }
  return fsync_dir(dir);
}

Result<bool> pair_matches(std::string_view cert_pem, EVP_PKEY& key) {
  HERALD_TRY(auto certs, x509::Certificate::from_pem(cert_pem));
  EVP_PKEY* pub = X509_get0_pubkey(&certs.front().x509());
  if (!pub) return make_error(ErrorCode::kMalformedInput, "the certificate has no public key");
  return EVP_PKEY_eq(pub, &key) == 1;
}

Result<bool> pair_matches(std::string_view cert_pem, std::string_view key_pem) {
  HERALD_TRY(auto key, keys::decrypt_private_key(key_pem, ""));
  return pair_matches(cert_pem, *key);
}

Status check_writable(const Paths& p) {
  for (const auto& dir : dirs_of(p)) {
    std::string tmpl = (dir / ".herald-agent-probe.XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      return tl::unexpected(io_error("cannot write in directory", dir, errno));
    }
    ::close(fd);
    ::unlink(tmpl.c_str());
  }
  return {};
}

Status install(const Paths& p, const Material& m, std::chrono::milliseconds step_delay) {
  auto pause = [&] {
    if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
  };
  bool ok = false;
  if (m.key) {
    HERALD_TRY(ok, pair_matches(m.cert_pem, *m.key));
  } else {
    HERALD_TRY(ok, pair_matches(m.cert_pem, m.key_pem));
  }
  if (!ok) {
    return make_error(ErrorCode::kConflict,
                      "the issued certificate does not match the generated key; nothing written");
  }
  std::string fullchain = m.cert_pem + m.chain_pem;
  auto content = [&](const stdfs::path& t) -> std::pair<std::string, stdfs::perms> {
    if (p.pkcs12 && t == *p.pkcs12) return {m.pkcs12, p.key_mode};
    if (p.combined && t == *p.combined) return {m.key_pem + fullchain, p.key_mode};
    if (p.chain && t == *p.chain) return {fullchain, fs::kPublic};
    if (t == p.key) return {m.key_pem, p.key_mode};
    return {m.cert_pem, fs::kPublic};
  };
  const auto all = targets(p);
  // 1. TARGET.new for each, CERT.new last.
  for (const auto& t : all) {
    auto [data, mode] = content(t);
    auto st = write_atomic(with_suffix(t, ".new"), data, mode, p.owner);
    if (!st) {
      for (const auto& u : all) ::unlink(with_suffix(u, ".new").c_str());
      return st;
    }
    pause();
  }
  // 2. the previous files, for rollback.
  for (const auto& t : all) {
    HERALD_TRY_VOID(keep_prev(t));
    pause();
  }
  // 3. commit, CERT last.
  for (const auto& t : all) {
    HERALD_TRY_VOID(rename_file(with_suffix(t, ".new"), t));
    pause();
  }
  for (const auto& d : dirs_of(p)) HERALD_TRY_VOID(fsync_dir(d));
  // 4. check what is on disk now.
  HERALD_TRY(auto cert_on_disk, fs::read_file(p.cert, 1 << 20));
  HERALD_TRY(auto key_on_disk, fs::read_file(p.key, 1 << 20));
  if (cert_on_disk != m.cert_pem || key_on_disk != m.key_pem) {
    return make_error(ErrorCode::kIo, "after writing, " + p.cert.string() + " and " +
                                          p.key.string() + " on disk are not the new pair");
  }
  return {};
}

Result<RepairResult> repair(const Paths& p) {
  RepairResult result = RepairResult::kNothing;
  // Leftover temporary files (.NAME.tmp.XXXXXX, NAME.prev.tmp).
  for (const auto& t : targets(p)) {
    std::error_code ec;
    const std::string prefix = "." + t.filename().string() + ".tmp.";
    for (const auto& e : stdfs::directory_iterator(dir_of(t), ec)) {
      if (e.path().filename().string().starts_with(prefix)) ::unlink(e.path().c_str());
    }
    ::unlink(with_suffix(t, ".prev.tmp").c_str());
  }
  const auto cert_new = with_suffix(p.cert, ".new");
  const auto key_new = with_suffix(p.key, ".new");
  bool forward = false;
  if (present(cert_new)) {
    auto cert = fs::read_file(cert_new, 1 << 20);
    auto key = fs::read_file(present(key_new) ? key_new : p.key, 1 << 20);
    if (cert && key) {
      auto same = pair_matches(*cert, *key);
      forward = same && *same;
    }
  }
  const auto all = targets(p);
  for (const auto& t : all) {
    const auto n = with_suffix(t, ".new");
    if (!present(n)) continue;
    if (forward) {
      HERALD_TRY_VOID(rename_file(n, t));
      result = RepairResult::kRolledForward;
    } else {
      if (::unlink(n.c_str()) != 0) return tl::unexpected(io_error("cannot remove", n, errno));
      result = RepairResult::kDiscarded;
    }
  }
  if (result != RepairResult::kNothing) {
    for (const auto& d : dirs_of(p)) HERALD_TRY_VOID(fsync_dir(d));
  }
  return result;
}

Current read_current(const Paths& p, TimePoint now) {
  Current c;
  if (!present(p.cert) || !present(p.key)) {
    c.state = DiskState::kMissing;
    c.why =
        present(p.cert) ? p.key.string() + " does not exist" : p.cert.string() + " does not exist";
    return c;
  }
  auto cert_pem = fs::read_file(p.cert, 1 << 20);
  auto key_pem = fs::read_file(p.key, 1 << 20);
  if (!cert_pem || !key_pem) {
    c.state = DiskState::kUnreadable;
    c.why = (!cert_pem ? cert_pem.error() : key_pem.error()).describe();
    return c;
  }
  auto certs = x509::Certificate::from_pem(*cert_pem);
  if (!certs) {
    c.state = DiskState::kUnreadable;
    c.why = p.cert.string() + ": " + certs.error().message;
    return c;
  }
  auto same = pair_matches(*cert_pem, *key_pem);
  if (!same) {
    c.state = DiskState::kUnreadable;
    c.why = p.key.string() + ": " + same.error().message;
    return c;
  }
  const auto& leaf = certs->front();
  c.cert_pem = std::move(*cert_pem);
  c.key_pem = std::move(*key_pem);
  c.serial = leaf.serial().hex();
  c.cn = leaf.common_name();
  for (const auto& s : leaf.sans()) c.sans.push_back(s.to_string());
  std::sort(c.sans.begin(), c.sans.end());
  c.not_before = leaf.not_before();
  c.not_after = leaf.not_after();
  struct stat st {};
  if (::stat(p.cert.c_str(), &st) == 0) {
    c.obtained = TimePoint(std::chrono::seconds(st.st_mtim.tv_sec));
  }
  if (!*same) {
    c.state = DiskState::kMismatch;
    c.why = p.cert.string() + " does not match the key " + p.key.string();
    return c;
  }
  if (now >= c.not_after) {
    c.state = DiskState::kExpired;
    c.why = "certificate " + c.serial + " has expired";
    return c;
  }
  c.state = DiskState::kValid;
  return c;
}

namespace {
// "" when a file cannot be stat'ed (then nothing is cached).
std::string stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}
}  // namespace

Current read_current_cached(const Paths& p, TimePoint now, CurrentCache& cache) {
  const std::string cert = stamp_of(p.cert), key = stamp_of(p.key);
  const std::string stamp = cert.empty() || key.empty() ? std::string() : cert + "|" + key;
  const bool timed = cache.current.state == DiskState::kValid || cache.current.state == DiskState::kExpired;
  if (!stamp.empty() && stamp == cache.stamp && timed) {
    Current c = cache.current;
    if (now >= c.not_after) {
      c.state = DiskState::kExpired;
      c.why = "certificate " + c.serial + " has expired";
    } else {
      c.state = DiskState::kValid;
      c.why.clear();
    }
    return c;
  }
  Current c = read_current(p, now);
  cache.stamp = stamp;
  cache.current = c;
  return c;
}

}  // namespace herald::agent
