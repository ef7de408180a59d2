// inventory_fill: fills the inventory of a hierarchy made by `herald ca
// init --dir` with N certificate records, for the production-scale
// benchmark of issue #15 (bench/scale_bench.sh).
//
//   inventory_fill --dir PKI_DIR [--store URL] --count N [--valid-share 0.1]
//                  [--revoked-share 0.01] [--threads T] [--batch B] [--seed S]
//                  [--start K --now UNIX_SECONDS]
//
// --start and --now resume a fill that stopped (records K.. of the same N,
// time slots from the same "now", which the first run prints).
//
// Every record is a real certificate, issued by Herald's own pipeline
// (ca::Authority::issue: policy, profile, build, lint, sign with the issuing
// CA's key, and the CertRecord as issuance records it), so the DER, the
// serials (ca::random_serial, 128 random bits) and the columns are those of
// production. What differs from issuance:
//
// - Leaf public keys come from a pool of 256 P-256 keys generated at start
//   (generating 10 million keys is not what is measured); each key is
//   shared by many certificates.
// - Time: records are issued in time order, as a CA's inventory grows (so
//   the indexes by issuing time, notAfter within a profile, and the search
//   rows' runs grow at their ends, as in production). Record i is issued at
//   T_i = now - span + (i + u) * span / N (u uniform in [0, 1), "now" the
//   tool's start), through the worker's own FakeClock, with its profile's
//   default lifetime: server 90 d, client 30 d, spiffe 24 h. span is the
//   profile mix's mean lifetime (51.2 d) / (valid share + revoked share), so
//   that share of the records is still current at now:
//     current  notAfter > now; each is revoked with probability
//              revoked / (valid + revoked), at a uniform time between its
//              notBefore and now (keyCompromise, superseded,
//              cessationOfOperation or unspecified), so every revoked one
//              is on the CRL; the others are valid
//     expired  the rest (notAfter up to span ago)
//   The shares are exact in expectation while span is at least the longest
//   lifetime (valid + revoked <= 0.57); the tool prints the counts written.
//   Expired certificates' validity can begin before the CA's own (the CA was
//   made by `ca init` minutes ago); nothing checks that.
// - Profiles: server 45 %, client 35 %, spiffe 20 %. Owner labels
//   service=sK (s0..s999) and team=tM (t0..t49, M = K mod 50), plus
//   provisioner=admin as the pipeline records it. Names: 1-3 DNS SANs
//   host-N.team-M.internal (the first is the CN); spiffe: one URI SAN
//   spiffe://TRUST_DOMAIN/ns/tM/sa/sK and no CN.
// - Records are written with Inventory::insert_batch (B records a
//   transaction, each row with its 'issue' audit entry as insert() writes
//   it); the revoked records of a batch then get their 'revoke' audit
//   entries through Store::append_audit_records, so the revocation feed
//   (revocations_since), the CRL and `herald serve`'s OCSP see them as if
//   revoked by `herald revoke`. The two are separate transactions: a fill
//   interrupted between them leaves revoked records without their entry.
//
// Everything chosen per record comes from a generator seeded with --seed
// and the index; serials and signatures are random as in production.
// Prints progress to stderr every 5 s and, at the end, one line:
//   filled N records in S s: R records/s (valid V, revoked X, expired E)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ca/authority.h"
#include "datadir/data_dir.h"
#include "keys/private_key.h"
#include "keys/public_key.h"
#include "policy/config.h"
#include "store/open.h"
#include "x509/san.h"

namespace herald {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;

struct Options {
  std::string dir;
  std::optional<std::string> store_url;
  int64_t count = 0;
  double valid_share = 0.1;
  double revoked_share = 0.01;
  int threads = 0;
  size_t batch = 1000;
  uint64_t seed = 1;
  int64_t start = 0;                 // first record index (resuming a fill)
  std::optional<int64_t> now;        // the fill's "now", Unix seconds (resuming)
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "inventory_fill: " << why
            << "\nusage: inventory_fill --dir PKI_DIR [--store URL] --count N [--valid-share 0.1]"
               " [--revoked-share 0.01] [--threads T] [--batch B] [--seed S]"
               " [--start K --now UNIX_SECONDS]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--dir") {
        o.dir = value();
      } else if (a == "--store") {
        o.store_url = value();
      } else if (a == "--count") {
        o.count = std::stoll(value());
      } else if (a == "--valid-share") {
        o.valid_share = std::stod(value());
      } else if (a == "--revoked-share") {
        o.revoked_share = std::stod(value());
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
      } else if (a == "--batch") {
        o.batch = std::stoul(value());
      } else if (a == "--seed") {
        o.seed = std::stoull(value());
      } else if (a == "--start") {
        o.start = std::stoll(value());
      } else if (a == "--now") {
        o.now = std::stoll(value());
      } else {
        usage("unknown argument " + a);
      }
    } catch (const std::exception&) {
      usage("bad value for " + a);
    }
  }
  if (o.dir.empty()) usage("--dir is required");
  if (o.count <= 0) usage("--count must be positive");
  if (o.start < 0 || o.start >= o.count) usage("--start must be in [0, --count)");
  if (o.valid_share < 0 || o.revoked_share < 0 || o.valid_share + o.revoked_share > 1)
    usage("the shares must be >= 0 and add up to at most 1");
  if (o.batch == 0) usage("--batch must be positive");
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

enum class Kind { kValid, kRevoked, kExpired };

// One batch of records ready to write, and the 'revoke' audit rows for those of them revoked.
struct Batch {
  std::vector<store::CertRecord> records;
  std::vector<store::AuditRecord> revocations;
};

// A bounded hand-over from the signing workers to the writer.
class Queue {
 public:
  explicit Queue(size_t cap) : cap_(cap) {}
  void push(Batch b) {
    std::unique_lock lk(mu_);
    not_full_.wait(lk, [&] { return q_.size() < cap_; });
    q_.push_back(std::move(b));
    not_empty_.notify_one();
  }
  std::optional<Batch> pop() {
    std::unique_lock lk(mu_);
    not_empty_.wait(lk, [&] { return !q_.empty() || producers_ == 0; });
    if (q_.empty()) return std::nullopt;
    Batch b = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return b;
  }
  void set_producers(int n) {
    std::lock_guard lk(mu_);
    producers_ = n;
  }
  void producer_done() {
    std::lock_guard lk(mu_);
    --producers_;
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> q_;
  size_t cap_;
  int producers_ = 0;
};

int run(const Options& o) {
  SystemClock system_clock;
  const TimePoint now = o.now ? TimePoint{seconds(*o.now)} : system_clock.now();
  auto dir = datadir::DataDir(o.dir);
  auto config = dir.load_config();
  if (!config) {
    std::cerr << "inventory_fill: " << config.error().message << "\n";
    return 1;
  }
  auto ca = datadir::open_ca(dir, system_clock, datadir::IssuingKey::kLoad, std::nullopt);
  if (!ca) {
    std::cerr << "inventory_fill: " << ca.error().message << "\n";
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(ca->store);
  if (o.store_url) {
    store::StoreSpec spec;
    spec.url = *o.store_url;
    auto password = datadir::store_password(std::nullopt);
    if (!password) {
      std::cerr << "inventory_fill: " << password.error().message << "\n";
      return 1;
    }
    spec.password = *password;
    auto opened = store::open(spec, store::OpenMode::kExisting, system_clock);
    if (!opened) {
      std::cerr << "inventory_fill: " << opened.error().message << "\n";
      return 1;
    }
    store = std::move(*opened);
  }
  std::cerr << "inventory_fill: records " << o.start << ".." << o.count << " into "
            << store->describe() << ", now " << now.time_since_epoch().count() << ", "
            << o.threads << " signing threads, batches of " << o.batch << "\n";

  std::vector<keys::PublicKey> pool;
  for (int i = 0; i < 256; ++i) {
    auto key = keys::generate_key(keys::KeyType::kEcP256);
    auto pub = key ? keys::public_key_of(**key) : Result<keys::PublicKey>(tl::unexpected(key.error()));
    if (!pub) {
      std::cerr << "inventory_fill: key pool: " << pub.error().message << "\n";
      return 1;
    }
    pool.push_back(std::move(*pub));
  }

  const auto n = static_cast<uint64_t>(o.count);
  // The issuing times' span (see the top): the mean lifetime over the
  // profile mix (below) / the current share; all expired when it is 0.
  const double current_share = o.valid_share + o.revoked_share;
  constexpr double kMeanLifetime = (0.45 * 90 + 0.35 * 30 + 0.20 * 1) * 86400.0;
  const double span = current_share > 0 ? kMeanLifetime / current_share : 365 * 86400.0;
  const double revoked_odds = current_share > 0 ? o.revoked_share / current_share : 0;
  std::atomic<uint64_t> n_valid{0}, n_revoked{0}, n_expired{0};

  const Serial intermediate_serial = ca->intermediate.serial();
  const std::string trust_domain = config->policy.spiffe_trust_domain;
  ca::SignOptions sign_options;
  sign_options.provisioner = "admin";

  std::atomic<uint64_t> next{static_cast<uint64_t>(o.start)};
  std::atomic<uint64_t> written{0};
  std::atomic<bool> failed{false};
  Queue queue(static_cast<size_t>(o.threads) * 2 + 2);
  queue.set_producers(o.threads);
  std::mutex err_mu;
  std::string first_error;
  auto fail = [&](const std::string& what) {
    std::lock_guard lk(err_mu);
    if (first_error.empty()) first_error = what;
    failed = true;
  };

  auto worker = [&]() {
    FakeClock clock(now);
    ca::Authority authority(clock, *store, *config, *ca->signer, ca->issuing, intermediate_serial);
    // The hierarchy's status was checked by open_ca's caller (ca init made it).
    authority.use_ca_status([](const Serial&) -> Result<store::CertStatus> {
      return store::CertStatus::kValid;
    });
    store::CertRecord captured;
    ca::Recorder capture = [&](const store::CertRecord& r) -> Status {
      captured = r;
      return {};
    };
    while (!failed) {
      uint64_t start = next.fetch_add(o.batch);
      if (start >= n) break;
      uint64_t end = std::min(n, start + o.batch);
      Batch batch;
      batch.records.reserve(end - start);
      for (uint64_t i = start; i < end && !failed; ++i) {
        std::mt19937_64 rng(splitmix(o.seed * 0x100000001B3ull ^ i));
        auto uniform = [&](int64_t lo, int64_t hi) {  // [lo, hi]
          return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
        };
        int64_t pick = uniform(0, 99);
        policy::Profile profile = pick < 45   ? policy::Profile::kServer
                                  : pick < 80 ? policy::Profile::kClient
                                              : policy::Profile::kSpiffe;
        seconds ttl = profile == policy::Profile::kServer   ? seconds(days(90))
                      : profile == policy::Profile::kClient ? seconds(days(30))
                                                            : seconds(hours(24));
        const int64_t service = uniform(0, 999);
        const int64_t team = service % 50;
        policy::IssueRequest req;
        req.profile = profile;
        req.ttl = ttl;
        if (profile == policy::Profile::kSpiffe) {
          auto san = x509::parse_san("uri:spiffe://" + trust_domain + "/ns/t" +
                                     std::to_string(team) + "/sa/s" + std::to_string(service));
          if (!san) {
            fail("spiffe SAN: " + san.error().message);
            break;
          }
          req.sans.push_back(std::move(*san));
        } else {
          int64_t names = uniform(1, 3);
          for (int64_t k = 0; k < names; ++k) {
            std::string host = "host-" + std::to_string(uniform(0, 999999)) + ".team-" +
                               std::to_string(team) + ".internal";
            if (k == 0) req.common_name = host;
            auto san = x509::parse_san("dns:" + host);
            if (!san) {
              fail("DNS SAN: " + san.error().message);
              break;
            }
            if (std::find(req.sans.begin(), req.sans.end(), *san) == req.sans.end())
              req.sans.push_back(std::move(*san));
          }
        }
        // The issuing time in the record's slot of the span; the kind from it.
        const int64_t now_s = now.time_since_epoch().count();
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        int64_t issue_at = now_s - static_cast<int64_t>(
                                     span - (static_cast<double>(i) + u) * span /
                                                static_cast<double>(n));
        if (current_share <= 0) issue_at -= ttl.count();  // all expired
        const bool current = issue_at + ttl.count() > now_s;
        const Kind kind = !current ? Kind::kExpired
                          : std::uniform_real_distribution<double>(0, 1)(rng) < revoked_odds
                              ? Kind::kRevoked
                              : Kind::kValid;
        (kind == Kind::kValid ? n_valid : kind == Kind::kRevoked ? n_revoked : n_expired)++;
        clock.set(TimePoint{seconds(issue_at)});
        store::Labels owner = {{"service", "s" + std::to_string(service)},
                               {"team", "t" + std::to_string(team)}};
        const keys::PublicKey& key = pool[static_cast<size_t>(uniform(0, 255))];
        req.key = key.info;
        auto issued = authority.issue(req, key, owner, sign_options, capture);
        if (!issued) {
          fail("issue: " + issued.error().message);
          break;
        }
        store::CertRecord& r = captured;
        if (kind == Kind::kRevoked) {
          static constexpr x509::RevocationReason kReasons[] = {
              x509::RevocationReason::kKeyCompromise, x509::RevocationReason::kSuperseded,
              x509::RevocationReason::kCessationOfOperation,
              x509::RevocationReason::kUnspecified};
          const int64_t from = r.not_before.time_since_epoch().count();
          TimePoint revoked_at{seconds(uniform(std::min(from, now_s), now_s))};
          auto reason = kReasons[uniform(0, 3)];
          r.status = store::CertStatus::kRevoked;
          r.revoked_at = revoked_at;
          r.revocation_reason = reason;
          store::AuditRecord a;
          a.at = revoked_at;
          a.action = "revoke";
          a.serial = r.serial.hex();
          a.detail = "{\"reason\":\"" + std::string(x509::reason_name(reason)) + "\"}";
          batch.revocations.push_back(std::move(a));
        }
        batch.records.push_back(std::move(r));
      }
      if (failed) break;
      queue.push(std::move(batch));
    }
    queue.producer_done();
  };

  auto writer = [&]() {
    while (auto b = queue.pop()) {
      if (failed) continue;  // drain so the workers never block
      if (auto s = store->insert_batch(b->records); !s) {
        fail("insert_batch: " + s.error().message);
        continue;
      }
      if (!b->revocations.empty()) {
        if (auto s = store->append_audit_records(b->revocations); !s) {
          fail("append_audit_records: " + s.error().message);
          continue;
        }
      }
      written += b->records.size();
    }
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) threads.emplace_back(worker);
  std::thread writer_thread(writer);
  std::atomic<bool> done{false};
  std::thread progress([&] {
    auto last = t0;
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto t = std::chrono::steady_clock::now();
      if (t - last < seconds(5)) continue;
      last = t;
      double el = std::chrono::duration<double>(t - t0).count();
      std::fprintf(stderr, "  %llu / %llu records, %.0f s, %.0f records/s\n",
                   static_cast<unsigned long long>(written.load()),
                   static_cast<unsigned long long>(n - static_cast<uint64_t>(o.start)), el,
                   static_cast<double>(written) / el);
    }
  });
  for (auto& t : threads) t.join();
  writer_thread.join();
  done = true;
  progress.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (failed) {
    std::cerr << "inventory_fill: failed after " << written.load() << " records: " << first_error
              << "\n";
    return 1;
  }
  std::printf("filled %llu records in %.1f s: %.0f records/s (valid %llu, revoked %llu, expired %llu)\n",
              static_cast<unsigned long long>(written.load()), elapsed,
              static_cast<double>(written.load()) / elapsed,
              static_cast<unsigned long long>(n_valid.load()),
              static_cast<unsigned long long>(n_revoked.load()),
              static_cast<unsigned long long>(n_expired.load()));
  return 0;
}

}  // namespace
}  // namespace herald

int main(int argc, char** argv) { return herald::run(herald::parse(argc, argv)); }
