#include "base/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace herald::fs {

namespace {
tl::unexpected<Error> io_error(std::string what, const std::filesystem::path& p, int err) {
  return make_error(ErrorCode::kIo, what + " " + p.string() + ": " + std::strerror(err));
}
}  // namespace

Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, "no such file: " + path.string());
  }
  if (std::filesystem::is_directory(path, ec)) {
    return make_error(ErrorCode::kInvalidArgument, "is a directory, not a file: " + path.string());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read", path, errno);
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "file too large (over " + std::to_string(max_bytes) + " bytes): " + path.string());
    }
  }
  return data;
}

Status write_file(const std::filesystem::path& path, std::string_view data,
                  std::filesystem::perms mode, Overwrite overwrite) {
  std::error_code ec;
  if (overwrite == Overwrite::kRefuse && std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kAlreadyExists,
                      "refusing to overwrite existing file " + path.string());
  }
  auto tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return io_error("cannot create", tmp, errno);
  ::fchmod(fd, static_cast<mode_t>(mode));  // not subject to umask
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("cannot write", tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot sync", tmp, err);
  }
  if (overwrite == Overwrite::kRefuse) {
    // link() fails if the target appeared meanwhile: never clobber.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      if (err == EEXIST) {
        return make_error(ErrorCode::kAlreadyExists,
                          "refusing to overwrite existing file " + path.string());
      }
      return io_error("cannot create", path, err);
    }
    ::unlink(tmp.c_str());
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot replace", path, err);
  }
  return {};
}

Status make_dir(const std::filesystem::path& path, std::filesystem::perms mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec)
    return make_error(ErrorCode::kIo,
                      "cannot create directory " + path.string() + ": " + ec.message());
  std::filesystem::permissions(path, mode, ec);
  if (ec)
    return make_error(ErrorCode::kIo, "cannot set mode of " + path.string() + ": " + ec.message());
  return {};
}

Result<std::string> read_passphrase_file(const std::filesystem::path& path) {
  auto text = read_file(path, 4096);
  if (!text) {
    return tl::unexpected(std::move(text.error()).with("purpose", "passphrase file"));
  }
  std::string s = std::move(*text);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty())
    return make_error(ErrorCode::kInvalidArgument, "passphrase file is empty: " + path.string());
  return s;
}

}  // namespace herald::fs
