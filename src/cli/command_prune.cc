// herald inventory prune: retention (issue #15; the rule is store/retention.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <thread>

#include "base/duration.h"
#include "cli/output.h"
#include "cli/session.h"
#include "ossl/ossl.h"
#include "store/record_json.h"

namespace herald::cli {

namespace {

struct PruneFlags {
  std::string expired_before;
  size_t batch = 200;
  std::optional<std::string> archive;
  bool dry_run = false;
  bool json = false;
};

// --expired-before: a duration back from now ("90d": expired more than 90
// days ago) or a UTC date (2026-01-31, 2026-01-31T12:00:00Z). Never after now.
Result<TimePoint> parse_cutoff(const std::string& text, TimePoint now) {
  if (auto d = parse_duration(text)) return now - *d;
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest && (*rest == 'Z' || *rest == 'z')) ++rest;
  if (!rest || *rest != '\0') {
    tm = {};
    rest = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (!rest || *rest != '\0') {
    return make_error(ErrorCode::kInvalidArgument,
                      "--expired-before '" + text +
                          "': give a duration (90d: expired more than 90 days ago) or a UTC "
                          "date (2026-01-31, 2026-01-31T12:00:00Z)");
  }
  const TimePoint at{std::chrono::seconds(static_cast<int64_t>(timegm(&tm)))};
  if (at > now) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--expired-before " + format_time(at) + " is in the future (now " +
                          format_time(now) +
                          "): only certificates that have already expired can be pruned");
  }
  return at;
}

// The archive: one JSON line per record, appended; on disk (fsync) before
// the batch it holds is deleted.
class Archive {
 public:
  static Result<Archive> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      return make_error(ErrorCode::kIo,
                        "cannot open the archive " + path + ": " + std::strerror(errno));
    }
    return Archive(fd, path);
  }
  Archive(Archive&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;
  Archive& operator=(Archive&&) = delete;
  ~Archive() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status append_durably(const std::string& lines) {
    size_t off = 0;
    while (off < lines.size()) {
      ssize_t n = ::write(fd_, lines.data() + off, lines.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return make_error(ErrorCode::kIo,
                          "cannot write the archive " + path_ + ": " + std::strerror(errno));
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd_) != 0) {
      return make_error(ErrorCode::kIo,
                        "cannot fsync the archive " + path_ + ": " + std::strerror(errno));
    }
    return {};
  }

 private:
  Archive(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

Status run_prune(Context& ctx, const PruneFlags& f) {
  const TimePoint now = ctx.clock->now();
  HERALD_TRY(const TimePoint cutoff, parse_cutoff(f.expired_before, now));
  if (f.batch < 1 || f.batch > 10000) {
    return make_error(ErrorCode::kInvalidArgument, "--batch must be between 1 and 10000");
  }
  if (f.dry_run && f.archive) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--dry-run deletes nothing, so there is nothing to --archive");
  }
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  store::Store& st = *s->inventory;
  HERALD_TRY(const int64_t prunable, st.count_prunable(cutoff, now));
  if (f.dry_run) {
    if (f.json) {
      std::cout << nlohmann::json{{"expired_before", format_time(cutoff)},
                                  {"would_prune", prunable},
                                  {"dry_run", true}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << prunable << " certificate" << (prunable == 1 ? "" : "s")
                << " expired before " << format_time(cutoff)
                << " would be pruned (dry run: nothing deleted)\n";
    }
    return {};
  }

  std::optional<Archive> archive;
  if (f.archive) {
    HERALD_TRY(auto a, Archive::open(*f.archive));
    archive.emplace(std::move(a));
  }
  int64_t pruned = 0;
  size_t batches = 0;
  auto audit = [&]() -> Status {
    nlohmann::json detail{{"expired_before", format_time(cutoff)},
                          {"count", pruned},
                          {"batches", batches},
                          {"archive", f.archive ? nlohmann::json(*f.archive) : nlohmann::json()},
                          {"by", "cli"}};
    return st.record_audit("prune", detail.dump());
  };
  // One batch: without an archive, picked and deleted in one transaction;
  // with one, read, appended and fsynced, and only then deleted.
  auto one_batch = [&]() -> Result<size_t> {
    if (!archive) {
      HERALD_TRY(auto gone, st.prune_expired(cutoff, now, f.batch));
      return gone.size();
    }
    HERALD_TRY(auto serials, st.prunable(cutoff, now, f.batch));
    if (serials.empty()) return size_t{0};
    std::string lines;
    for (const auto& serial : serials) {
      HERALD_TRY(auto rec, st.find(serial));
      if (!rec) continue;  // pruned meanwhile by another process
      auto j = store::to_json(*rec, now);
      j["pem"] = ossl::pem_encode(rec->der, "CERTIFICATE");
      j["pruned_at"] = format_time(now);
      lines += j.dump() + "\n";
    }
    HERALD_TRY_VOID(archive->append_durably(lines));
    HERALD_TRY(auto gone, st.delete_prunable(serials, cutoff, now));
    if (gone.empty()) {
      // Archived but nothing deleted: another process pruned them first.
      // The next pick will not return them again.
      HERALD_TRY(auto next, st.prunable(cutoff, now, 1));
      if (!next.empty() && next.front() == serials.front()) {
        return make_error(ErrorCode::kStore, "certificate " + serials.front().hex() +
                                                 " is prunable but could not be deleted");
      }
    }
    return gone.size();
  };
  int idle = 0;
  for (;;) {
    auto n = one_batch();
    if (!n) {
      if (pruned > 0) (void)audit();  // what did go stays on record
      return tl::unexpected(n.error());
    }
    if (*n == 0) {
      HERALD_TRY(auto left, st.count_prunable(cutoff, now));
      if (left == 0) break;
      // Raced with another pruner, or the rows are locked (PostgreSQL skips
      // them): look again shortly, but not forever.
      if (++idle > 50) {
        if (pruned > 0) (void)audit();
        return make_error(ErrorCode::kStore, std::to_string(left) +
                                                 " prunable certificates could not be deleted "
                                                 "(held by another transaction?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    idle = 0;
    pruned += static_cast<int64_t>(*n);
    ++batches;
    std::cerr << "pruned " << pruned << " of " << prunable << "\n";
  }
  HERALD_TRY_VOID(audit());
  if (f.json) {
    std::cout << nlohmann::json{{"expired_before", format_time(cutoff)},
                                {"pruned", pruned},
                                {"batches", batches},
                                {"archive", f.archive ? nlohmann::json(*f.archive)
                                                      : nlohmann::json()}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "pruned " << pruned << " certificate" << (pruned == 1 ? "" : "s")
              << " expired before " << format_time(cutoff);
    if (f.archive) std::cout << " (archived to " << *f.archive << ")";
    std::cout << "\n";
  }
  return {};
}

}  // namespace

void add_retention_commands(CLI::App& app, Context& ctx) {
  auto* inventory = app.add_subcommand("inventory", "Maintain the inventory (retention)");
  inventory->require_subcommand(1);
  auto f = std::make_shared<PruneFlags>();
  auto* prune = inventory->add_subcommand(
      "prune",
      "Delete the records of certificates that expired before a date, in batches that never "
      "hold up issuance for long. Never an unexpired certificate (a revoked one stays on the "
      "CRL until it expires), never the hierarchy's CA certificates. With each record go its "
      "search rows and stored OCSP answer; the audit log and `herald scan`'s deployments are "
      "kept. Audited as a 'prune' entry. Exit 64 for a date in the future.");
  add_dir_option(*prune, ctx);
  prune
      ->add_option("--expired-before", f->expired_before,
                   "A duration (90d: certificates that expired more than 90 days ago) or a UTC "
                   "date (2026-01-31, 2026-01-31T12:00:00Z), not in the future")
      ->required();
  prune->add_option("--batch", f->batch, "Records per transaction (1-10000, default 200)");
  prune->add_option("--archive", f->archive,
                    "Append every record to FILE as a JSON line (the `list --json` fields and "
                    "the certificate as \"pem\"), fsynced before its batch is deleted");
  prune->add_flag("--dry-run", f->dry_run, "Only count what would be pruned");
  prune->add_flag("--json", f->json, "Print the summary as JSON");
  prune->callback([&ctx, f] { ctx.result = run_prune(ctx, *f); });
}

}  // namespace herald::cli
