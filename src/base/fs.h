#pragma once
// Filesystem helpers for the adapters (CLI, data directory). The core never
// calls these. Secrets and keys are written with mode 0600, atomically
// (temporary file + fsync + rename), never overwriting.

#include <filesystem>
#include <string>

#include "base/error.h"

namespace herald::fs {

enum class Overwrite { kRefuse, kReplace };

[[nodiscard]] Result<std::string> read_file(const std::filesystem::path& path,
                                            size_t max_bytes = 16 << 20);
// Writes atomically with the given mode. kRefuse fails with kAlreadyExists if the path exists.
[[nodiscard]] Status write_file(const std::filesystem::path& path, std::string_view data,
                                std::filesystem::perms mode,
                                Overwrite overwrite = Overwrite::kRefuse);
// Creates the directory (and parents) and sets its mode.
[[nodiscard]] Status make_dir(const std::filesystem::path& path, std::filesystem::perms mode);
// A passphrase file's content without its trailing newline; refuses empty ones.
[[nodiscard]] Result<std::string> read_passphrase_file(const std::filesystem::path& path);

constexpr auto kPrivate = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
constexpr auto kPrivateDir = std::filesystem::perms::owner_all;
constexpr auto kPublic =
    kPrivate | std::filesystem::perms::group_read | std::filesystem::perms::others_read;
constexpr auto kPublicDir =
    kPrivateDir | std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
    std::filesystem::perms::others_read | std::filesystem::perms::others_exec;

}  // namespace herald::fs
