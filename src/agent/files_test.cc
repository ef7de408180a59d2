#include "agent/files.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <filesystem>

#include "base/fs.h"
#include "keys/private_key.h"
#include "ossl/ossl.h"

namespace herald::agent {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

struct Pair {
  std::string cert, key;
};

// A self-signed certificate for a new P-256 key, valid [now-1h, now+days).
Pair make_pair_pem(int days = 1) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  EXPECT_TRUE(key);
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400L * days);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("t"), -1, -1, 0);
  X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
  X509_set_pubkey(x.get(), key->get());
  X509_sign(x.get(), key->get(), EVP_sha256());
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  Pair p{std::string(data, static_cast<size_t>(len)), ""};
  auto pem = keys::private_key_pem(**key);
  EXPECT_TRUE(pem);
  p.key = *pem;
  return p;
}

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = stdfs::temp_directory_path() /
           ("herald-agent-files-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    stdfs::remove_all(dir_);
    stdfs::create_directories(dir_);
    paths_.cert = dir_ / "cert.pem";
    paths_.key = dir_ / "key.pem";
    paths_.chain = dir_ / "chain.pem";
  }
  void TearDown() override { stdfs::remove_all(dir_); }
  std::string read(const stdfs::path& p) { return fs::read_file(p).value_or("<missing>"); }
  void write(const stdfs::path& p, const std::string& s) {
    ASSERT_TRUE(fs::write_file(p, s, fs::kPrivate, fs::Overwrite::kReplace));
  }
  bool on_disk_matches() {
    auto m = pair_matches(read(paths_.cert), read(paths_.key));
    return m && *m;
  }
  stdfs::path dir_;
  Paths paths_;
};

TEST_F(Files, InstallWritesEveryFileAndKeepsThePreviousPair) {
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "CHAIN\n", a.key}));
  EXPECT_EQ(read(paths_.cert), a.cert);
  EXPECT_EQ(read(paths_.key), a.key);
  EXPECT_EQ(read(*paths_.chain), a.cert + "CHAIN\n");
  struct stat st {};
  ASSERT_EQ(::stat(paths_.key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(paths_.cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  ASSERT_TRUE(install(paths_, {b.cert, "CHAIN\n", b.key}));
  EXPECT_EQ(read(paths_.cert), b.cert);
  EXPECT_EQ(read(dir_ / "cert.pem.prev"), a.cert);
  EXPECT_EQ(read(dir_ / "key.pem.prev"), a.key);
  ASSERT_EQ(::stat((dir_ / "key.pem.prev").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(stdfs::exists(dir_ / "cert.pem.new"));
  EXPECT_FALSE(stdfs::exists(dir_ / "key.pem.new"));

  auto cur = read_current(
      paths_,
      TimePoint(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())));
  EXPECT_EQ(cur.state, DiskState::kValid) << cur.why;
  EXPECT_TRUE(cur.obtained.has_value());
}

TEST_F(Files, InstallRefusesAMismatchedPairAndWritesNothing) {
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "", a.key}));
  auto st = install(paths_, {b.cert, "", a.key});
  ASSERT_FALSE(st);
  EXPECT_EQ(read(paths_.cert), a.cert);
  EXPECT_FALSE(stdfs::exists(dir_ / "cert.pem.new"));
}

TEST_F(Files, RepairDiscardsANewKeyWithoutItsCertificate) {
  // Crash while writing the .new files: KEY.new complete, CERT.new not yet.
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "", a.key}));
  write(dir_ / "key.pem.new", b.key);
  write(dir_ / ".cert.pem.tmp.abc123", "partial");
  auto r = repair(paths_);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, RepairResult::kDiscarded);
  EXPECT_EQ(read(paths_.key), a.key);
  EXPECT_FALSE(stdfs::exists(dir_ / "key.pem.new"));
  EXPECT_FALSE(stdfs::exists(dir_ / ".cert.pem.tmp.abc123"));
  EXPECT_TRUE(on_disk_matches());
}

TEST_F(Files, RepairRollsForwardACompleteSetOfNewFiles) {
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "C\n", a.key}));
  write(dir_ / "chain.pem.new", b.cert + "C\n");
  write(dir_ / "key.pem.new", b.key);
  write(dir_ / "cert.pem.new", b.cert);
  auto r = repair(paths_);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, RepairResult::kRolledForward);
  EXPECT_EQ(read(paths_.cert), b.cert);
  EXPECT_EQ(read(paths_.key), b.key);
  EXPECT_EQ(read(*paths_.chain), b.cert + "C\n");
  EXPECT_TRUE(on_disk_matches());
}

TEST_F(Files, RepairFinishesACommitCutBetweenKeyAndCertificate) {
  // The one mixed state the scheme has: KEY renamed, CERT.new not yet.
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "", a.key}));
  write(paths_.key, b.key);
  write(dir_ / "cert.pem.new", b.cert);
  EXPECT_FALSE(on_disk_matches());
  EXPECT_EQ(read_current(paths_, TimePoint{}).state, DiskState::kMismatch);
  auto r = repair(paths_);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, RepairResult::kRolledForward);
  EXPECT_EQ(read(paths_.cert), b.cert);
  EXPECT_TRUE(on_disk_matches());
}

TEST_F(Files, RepairDiscardsACertificateThatMatchesNoKey) {
  Pair a = make_pair_pem(), b = make_pair_pem();
  ASSERT_TRUE(install(paths_, {a.cert, "", a.key}));
  write(dir_ / "cert.pem.new", b.cert);  // its key never written
  auto r = repair(paths_);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, RepairResult::kDiscarded);
  EXPECT_EQ(read(paths_.cert), a.cert);
  EXPECT_TRUE(on_disk_matches());
}

TEST_F(Files, NothingToRepair) {
  auto r = repair(paths_);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, RepairResult::kNothing);
}

TEST_F(Files, ReadCurrentSaysWhatIsWrong) {
  const TimePoint now(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  EXPECT_EQ(read_current(paths_, now).state, DiskState::kMissing);
  Pair a = make_pair_pem(), b = make_pair_pem();
  write(paths_.cert, a.cert);
  write(paths_.key, b.key);
  EXPECT_EQ(read_current(paths_, now).state, DiskState::kMismatch);
  write(paths_.key, a.key);
  EXPECT_EQ(read_current(paths_, now).state, DiskState::kValid);
  EXPECT_EQ(read_current(paths_, now + std::chrono::hours(48)).state, DiskState::kExpired);
  write(paths_.cert, "garbage");
  EXPECT_EQ(read_current(paths_, now).state, DiskState::kUnreadable);
}

TEST_F(Files, ReadCurrentCachedSeesEveryChange) {
  const TimePoint now(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  CurrentCache cache;
  EXPECT_EQ(read_current_cached(paths_, now, cache).state, DiskState::kMissing);
  Pair a = make_pair_pem(), b = make_pair_pem();
  write(paths_.cert, a.cert);
  write(paths_.key, a.key);
  auto first = read_current_cached(paths_, now, cache);
  ASSERT_EQ(first.state, DiskState::kValid);
  EXPECT_EQ(read_current_cached(paths_, now, cache).serial, first.serial);  // unchanged files: the cache
  EXPECT_EQ(read_current_cached(paths_, now + std::chrono::hours(48), cache).state, DiskState::kExpired);
  EXPECT_EQ(read_current_cached(paths_, now, cache).state, DiskState::kValid);
  // A new pair written (as the agent does: new files renamed in) is read again.
  write(paths_.key, b.key);
  EXPECT_EQ(read_current_cached(paths_, now, cache).state, DiskState::kMismatch);
  write(paths_.cert, b.cert);
  auto second = read_current_cached(paths_, now, cache);
  EXPECT_EQ(second.state, DiskState::kValid);
  EXPECT_NE(second.cert_pem, first.cert_pem);
  EXPECT_EQ(second.cert_pem, b.cert);
}

TEST_F(Files, UnwritableDirectoryIsReported) {
  Paths p = paths_;
  p.cert = "/proc/herald-no/cert.pem";
  auto st = check_writable(p);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("/proc/herald-no"), std::string::npos);
}

}  // namespace
}  // namespace herald::agent
