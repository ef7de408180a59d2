// CRL generation from the inventory for 100,000 and 1,000,000 revoked
// certificates: the query, building the CRL, signing and encoding, as
// `herald crl` and `herald serve` do it (ca::generate_crl). Reports the DER
// size. See docs/benchmarks.md.

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <filesystem>

#include "ca/hierarchy.h"
#include "ca/revocation.h"
#include "keys/signer.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald {
namespace {

struct CrlFixture {
  SystemClock clock;
  std::filesystem::path dir;
  std::unique_ptr<ca::Hierarchy> h;
  std::unique_ptr<keys::KeySigner> signer;
  std::unique_ptr<store::SqliteInventory> inv;

  explicit CrlFixture(int64_t revoked) {
    dir = std::filesystem::temp_directory_path() /
          ("herald-crl-bench-" + std::to_string(::getpid()) + "-" + std::to_string(revoked));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    h = std::make_unique<ca::Hierarchy>(std::move(*ca::create_hierarchy(clock, {})));
    EVP_PKEY_up_ref(h->issuing.key.get());
    signer = std::move(*keys::KeySigner::create(ossl::EvpPkeyPtr(h->issuing.key.get())));
    inv = std::move(
        *store::SqliteInventory::open(dir / "herald.db", store::OpenMode::kCreate, clock));
    // Bulk-load revoked records in one transaction (the bench measures CRL
    // generation, not insertion).
    sqlite3* db = nullptr;
    sqlite3_open((dir / "herald.db").c_str(), &db);
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(
        db,
        "INSERT INTO certificates (serial, issuer_serial, subject, common_name, sans, issuer, "
        "not_before, not_after, key_algorithm, key_bits, signature_algorithm, eku, profile, "
        "fingerprint_sha256, owner, status, revoked_at, revocation_reason, issued_at, der) VALUES "
        "(?, ?, '', '', '[]', '', 0, ?, 'ec-p256', 256, '', '[]', 'server', ?, '{}', 'revoked', ?, "
        "?, 0, x'00')",
        -1, &st, nullptr);
    const std::string issuer = h->issuing.cert.serial().hex();
    const int64_t now = clock.now().time_since_epoch().count();
    auto rnd = *ossl::random_bytes(static_cast<size_t>(revoked) * 16);
    for (int64_t i = 0; i < revoked; ++i) {
      rnd[static_cast<size_t>(i) * 16] =
          static_cast<uint8_t>((rnd[static_cast<size_t>(i) * 16] & 0x7F) | 0x01);
      std::string serial = to_hex(std::span(rnd.data() + i * 16, 16));
      sqlite3_bind_text(st, 1, serial.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, issuer.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 3, now + 86400 * 30);
      sqlite3_bind_text(st, 4, serial.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 5, now - 60);
      sqlite3_bind_int64(st, 6, i % 3 == 0 ? 0 : 1);  // unspecified (no extension) or keyCompromise
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  ~CrlFixture() {
    inv.reset();
    std::filesystem::remove_all(dir);
  }
};

void BM_GenerateCrl(benchmark::State& state) {
  CrlFixture f(state.range(0));
  size_t size = 0;
  for (auto _ : state) {
    auto crl = ca::generate_crl(f.clock, *f.inv, *f.signer, f.h->issuing.cert, "issuing",
                                std::chrono::hours(24));
    if (!crl || crl->entries != static_cast<size_t>(state.range(0))) {
      state.SkipWithError("generate_crl failed");
      break;
    }
    size = crl->der.size();
  }
  state.counters["entries"] = static_cast<double>(state.range(0));
  state.counters["der_bytes"] = static_cast<double>(size);
}
BENCHMARK(BM_GenerateCrl)
    ->Name("herald/generate_crl")
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
