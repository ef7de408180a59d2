#pragma once
// Writing a certificate and its key so that a crash at any moment leaves a
// usable, matching pair.
//
// The scheme (install()):
//  1. every new file is written as TARGET.new through a temporary file
//     (.TARGET.tmp.XXXXXX: write, fsync, rename), the key with mode 0600;
//     CERT.new is written last, so its existence means every .new is complete;
//     then the directories are fsynced;
//  2. the current files are kept as TARGET.prev (a hard link, or a copy);
//  3. commit: rename(COMBINED.new), rename(CHAIN.new), rename(KEY.new) and,
//     last, rename(CERT.new) over their targets; fsync the directories.
//     CERT.new present = a commit in progress;
//  4. read cert and key back from disk and check that they match.
//
// A crash during 1 or 2 leaves the old files in place (a new key without its
// CERT.new is discarded by repair()). A crash during 3 can leave the new key
// beside the old certificate for the length of a rename; repair(), run by
// the agent before anything else, rolls such a commit forward: CERT.new is
// complete and matches KEY.new (or KEY, if already renamed), so the remaining
// renames are finished. Whatever the crash point, after repair() the files
// are the old pair or the new pair, never a mix.
//
// A reader that wants one atomic file (no window at all) can use the
// combined file: key + certificate + chain in one PEM, replaced by a single
// rename (nginx reads both ssl_certificate and ssl_certificate_key from it).

#include <openssl/evp.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace herald::agent {

// Who owns the written files (chown needs root or CAP_CHOWN); unset: the
// agent's user and group.
struct Ownership {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

struct Paths {
  std::filesystem::path cert;                  // the leaf
  std::filesystem::path key;                   // its private key, key_mode
  std::optional<std::filesystem::path> chain;  // leaf + issuing + intermediate (as `herald issue`)
  std::optional<std::filesystem::path> combined;  // key + leaf + chain, key_mode
  std::optional<std::filesystem::path> pkcs12;    // key + leaf + chain, PKCS#12, key_mode
  Ownership owner;
  // Of the files holding the key; never readable by others.
  std::filesystem::perms key_mode = std::filesystem::perms::owner_read |
                                    std::filesystem::perms::owner_write;
};

struct Material {
  std::string cert_pem;   // leaf
  std::string chain_pem;  // intermediates
  std::string key_pem;    // unencrypted PKCS#8 PEM
  std::string pkcs12;     // DER, when Paths::pkcs12 is set
  // The key of key_pem, already parsed (optional): saves decoding it again
  // for the pair check (OpenSSL 3's PEM decoder is the costliest step of a
  // renewal after the handshake).
  EVP_PKEY* key = nullptr;
};

// Writes `data` to `path` atomically (temporary file in the same directory,
// fsync, rename, fsync of the directory) with `mode` and `owner`.
[[nodiscard]] Status write_atomic(const std::filesystem::path& path, std::string_view data,
                                  std::filesystem::perms mode, const Ownership& owner = {});


// Installs `m` as described above. Refuses (and writes nothing) if the
// certificate does not match the key. Step 4 compares what is on disk with
// what was written, byte for byte (the pair was checked before writing).
// `step_delay` (tests only) pauses after every step of the scheme, so that a
// test can kill the process in the middle of a write.
[[nodiscard]] Status install(const Paths& p, const Material& m,
                             std::chrono::milliseconds step_delay = {});

enum class RepairResult { kNothing, kRolledForward, kDiscarded };
// Finishes or discards an interrupted install() (see above); removes
// leftover temporary files.
[[nodiscard]] Result<RepairResult> repair(const Paths& p);

// Fails with kIo if a file cannot be created in each directory of `p`.
[[nodiscard]] Status check_writable(const Paths& p);

// The certificate and key on disk.
enum class DiskState { kValid, kMissing, kUnreadable, kMismatch, kExpired };
struct Current {
  DiskState state = DiskState::kMissing;
  std::string why;                // for anything but kValid
  std::string cert_pem, key_pem;  // as read (cert file content, key PEM)
  std::string serial;
  std::string cn;                 // subject CN
  std::vector<std::string> sans;  // "dns:x", sorted
  TimePoint not_before{}, not_after{};
  std::optional<TimePoint> obtained;  // the certificate file's mtime
};
[[nodiscard]] Current read_current(const Paths& p, TimePoint now);

// read_current, without reading and parsing again when neither the
// certificate nor the key file changed since the last call (same device,
// inode, size, mtime and ctime): a pass over 1,000 certificates then costs
// 2,000 stat calls instead of 1,000 certificate and key parses. The state
// that depends on the time (expired) is worked out again at every call.
struct CurrentCache {
  std::string stamp;  // of the two files when `current` was read
  Current current;
};
[[nodiscard]] Current read_current_cached(const Paths& p, TimePoint now, CurrentCache& cache);

// Whether the first certificate in `cert_pem` holds the public key of `key_pem`.
[[nodiscard]] Result<bool> pair_matches(std::string_view cert_pem, std::string_view key_pem);
// The same with the key already parsed.
[[nodiscard]] Result<bool> pair_matches(std::string_view cert_pem, EVP_PKEY& key);

}  // namespace herald::agent
