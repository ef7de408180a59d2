#include "datadir/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "datadir/init.h"

namespace herald::datadir {
namespace {

namespace fsys = std::filesystem;

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fsys::temp_directory_path() /
            ("herald-dd-" + std::to_string(::getpid()) +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fsys::remove_all(root_);
  }
  void TearDown() override { fsys::remove_all(root_); }
  static unsigned mode(const fsys::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  FakeClock clock_{TimePoint{std::chrono::seconds(1'800'000'000)}};
  fsys::path root_;
};

TEST_F(DataDirTest, InitCreatesEverythingWithSafeModes) {
  DataDir dir(root_);
  InitOptions o;
  o.hierarchy.organization = "Acme";
  auto report = initialise(dir, o, clock_);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->generated_secrets.size(), 3u);
  EXPECT_TRUE(dir.require_initialised());
  for (auto l : {ca::CaLevel::kRoot, ca::CaLevel::kIntermediate, ca::CaLevel::kIssuing}) {
    EXPECT_EQ(mode(dir.key_path(l)), 0600u);
    EXPECT_EQ(mode(dir.secret_path(l)), 0600u);
    EXPECT_TRUE(fsys::exists(dir.crl_path(l, false)));
    auto signer = dir.load_signer(l, std::nullopt);
    ASSERT_TRUE(signer) << signer.error().describe();
  }
  EXPECT_EQ(mode(root_ / "keys"), 0700u);
  EXPECT_EQ(mode(root_ / "secrets"), 0700u);
  EXPECT_TRUE(fsys::exists(dir.trust_dir() / "endpoints.json"));
  EXPECT_EQ(std::distance(fsys::directory_iterator(root_), fsys::directory_iterator()),
            7);  // no staging left
  auto cfg = dir.load_config();
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->ca.organization, "Acme");
  auto inv = dir.open_store(clock_);
  ASSERT_TRUE(inv);
  EXPECT_EQ(*(*inv)->count(), 3);
}

TEST_F(DataDirTest, SecondInitRefusesAndChangesNothing) {
  DataDir dir(root_);
  ASSERT_TRUE(initialise(dir, {}, clock_));
  auto before = fs::read_file(dir.key_path(ca::CaLevel::kRoot));
  auto again = initialise(dir, {}, clock_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(*fs::read_file(dir.key_path(ca::CaLevel::kRoot)), *before);
}

TEST_F(DataDirTest, FailedInitLeavesNoTrace) {
  DataDir dir(root_);
  InitOptions o;
  o.issuing_passphrase_file = (root_.parent_path() / "no-such-passphrase-file").string();
  auto r = initialise(dir, o, clock_);
  ASSERT_FALSE(r);
  EXPECT_FALSE(fsys::exists(root_));
}

TEST_F(DataDirTest, SamePassphraseTwiceIsRefused) {
  fsys::create_directories(root_.string() + "-p");
  auto pfile = fsys::path(root_.string() + "-p") / "same.pass";
  ASSERT_TRUE(
      fs::write_file(pfile, "a long shared passphrase\n", fs::kPrivate, fs::Overwrite::kReplace));
  InitOptions o;
  o.intermediate_passphrase_file = pfile.string();
  o.issuing_passphrase_file = pfile.string();
  auto r = initialise(DataDir(root_), o, clock_);
  fsys::remove_all(root_.string() + "-p");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("different"), std::string::npos);
}

TEST_F(DataDirTest, WrongPassphraseIsReportedWithoutLeakingIt) {
  DataDir dir(root_);
  ASSERT_TRUE(initialise(dir, {}, clock_));
  auto wrong = root_ / "wrong.pass";
  ASSERT_TRUE(fs::write_file(wrong, "definitely-not-it\n", fs::kPrivate));
  auto s = dir.load_signer(ca::CaLevel::kIssuing, wrong.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kBadPassphrase);
  EXPECT_EQ(s.error().describe().find("definitely"), std::string::npos);
}

TEST_F(DataDirTest, UninitialisedDirectoryIsNotFound) {
  DataDir dir(root_);
  auto s = dir.require_initialised();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_NE(s.error().message.find("herald ca init"), std::string::npos);
}

}  // namespace
}  // namespace herald::datadir
