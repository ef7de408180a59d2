// The partner store (herald trust import|list|remove): what it records, what
// it refuses without writing, and how it reads what a crash or a hand edit
// left behind.
#include "datadir/partners.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/fs.h"
#include "ca/hierarchy.h"

namespace herald::datadir {
namespace {

namespace fsys = std::filesystem;

class PartnerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fsys::temp_directory_path() /
           ("herald-partners-" + std::to_string(::getpid()) +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fsys::remove_all(dir_);
  }
  void TearDown() override { fsys::remove_all(dir_); }

  ca::Hierarchy hierarchy(const std::string& org) {
    ca::HierarchyOptions o;
    o.organization = org;
    auto h = ca::create_hierarchy(clock_, o);
    EXPECT_TRUE(h) << h.error().describe();
    return std::move(*h);
  }

  FakeClock clock_{TimePoint{std::chrono::seconds(1'800'000'000)}};
  fsys::path dir_;
};

TEST_F(PartnerStoreTest, ImportListRemove) {
  auto h = hierarchy("Globex");
  const auto& root = h.root.cert;
  PartnerStore store(dir_);
  auto listed = store.list();
  ASSERT_TRUE(listed) << listed.error().describe();
  EXPECT_TRUE(listed->empty());  // no directory yet: no partners

  auto r = store.import(root.pem(), "globex", root.fingerprint_sha256(), clock_.now());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(r->partner.name, "globex");
  auto pem = fs::read_file(dir_ / "globex.pem");
  ASSERT_TRUE(pem);
  EXPECT_EQ(*pem, root.pem());

  listed = store.list();
  ASSERT_TRUE(listed) << listed.error().describe();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "globex");
  EXPECT_EQ((*listed)[0].cert.fingerprint_sha256(), root.fingerprint_sha256());
  EXPECT_EQ((*listed)[0].imported_at, clock_.now());

  auto removed = store.remove("globex");
  ASSERT_TRUE(removed) << removed.error().describe();
  EXPECT_EQ(*removed, root.fingerprint_sha256());
  EXPECT_FALSE(fsys::exists(dir_ / "globex.pem"));
  EXPECT_TRUE(store.list()->empty());
  EXPECT_EQ(store.remove("globex").error().code, ErrorCode::kNotFound);
}

TEST_F(PartnerStoreTest, RefusalsWriteNothing) {
  auto h = hierarchy("Globex");
  auto other = hierarchy("Initech");
  PartnerStore store(dir_);
  const auto& root = h.root.cert;
  auto mismatch =
      store.import(root.pem(), "globex", other.root.cert.fingerprint_sha256(), clock_.now());
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::kConflict);
  auto bad_name = store.import(root.pem(), "../globex", root.fingerprint_sha256(), clock_.now());
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, ErrorCode::kInvalidArgument);
  auto two = store.import(root.pem() + other.root.cert.pem(), "globex", root.fingerprint_sha256(),
                          clock_.now());
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code, ErrorCode::kInvalidArgument);
  auto garbage =
      store.import("not a certificate", "globex", root.fingerprint_sha256(), clock_.now());
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::kMalformedInput);
  auto expired = store.import(root.pem(), "globex", root.fingerprint_sha256(),
                              root.not_after() + std::chrono::seconds(1));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kPolicyViolation);
  EXPECT_FALSE(fsys::exists(store.manifest_path()));
  EXPECT_FALSE(fsys::exists(dir_ / "globex.pem"));
}

TEST_F(PartnerStoreTest, RefusesAReusedNameAndTheSameRootTwice) {
  auto a = hierarchy("Globex");
  auto b = hierarchy("Initech");
  PartnerStore store(dir_);
  ASSERT_TRUE(store.import(a.root.cert.pem(), "p", a.root.cert.fingerprint_sha256(), clock_.now()));
  auto reused =
      store.import(b.root.cert.pem(), "p", b.root.cert.fingerprint_sha256(), clock_.now());
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, ErrorCode::kAlreadyExists);
  auto again = store.import(a.root.cert.pem(), "q", a.root.cert.fingerprint_sha256(), clock_.now());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message.find("'p'"), std::string::npos) << again.error().message;
  // The first partner is untouched.
  auto listed = store.list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].cert.fingerprint_sha256(), a.root.cert.fingerprint_sha256());
}

TEST_F(PartnerStoreTest, AnIntermediateIsAcceptedWithAWarning) {
  auto h = hierarchy("Globex");
  PartnerStore store(dir_);
  auto r = store.import(h.intermediate.cert.pem(), "globex-policy",
                        h.intermediate.cert.fingerprint_sha256(), clock_.now());
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(r->warnings.size(), 1u);
}

TEST_F(PartnerStoreTest, ACertificateLeftByACrashIsIgnoredThenReplaced) {
  auto h = hierarchy("Globex");
  PartnerStore store(dir_);
  // A crash between writing NAME.pem and the manifest leaves an unlisted file.
  ASSERT_TRUE(fs::make_dir(dir_, fs::kPublicDir));
  ASSERT_TRUE(fs::write_file(dir_ / "globex.pem", "half a file", fs::kPublic));
  auto listed = store.list();
  ASSERT_TRUE(listed) << listed.error().describe();
  EXPECT_TRUE(listed->empty());
  auto r =
      store.import(h.root.cert.pem(), "globex", h.root.cert.fingerprint_sha256(), clock_.now());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(store.list()->size(), 1u);
}

TEST_F(PartnerStoreTest, ACertificateReplacedByHandIsDetected) {
  auto a = hierarchy("Globex");
  auto b = hierarchy("Initech");
  PartnerStore store(dir_);
  ASSERT_TRUE(
      store.import(a.root.cert.pem(), "globex", a.root.cert.fingerprint_sha256(), clock_.now()));
  ASSERT_TRUE(
      fs::write_file(dir_ / "globex.pem", b.root.cert.pem(), fs::kPublic, fs::Overwrite::kReplace));
  auto listed = store.list();
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, ErrorCode::kConflict);
  EXPECT_NE(listed.error().message.find(a.root.cert.fingerprint_sha256()), std::string::npos);
  // A corrupt manifest is reported, not taken for "no partners".
  ASSERT_TRUE(fs::write_file(store.manifest_path(), "{\"version\": 1", fs::kPublic,
                             fs::Overwrite::kReplace));
  EXPECT_EQ(store.list().error().code, ErrorCode::kMalformedInput);
}

TEST_F(PartnerStoreTest, ConcurrentImportsAreAllRecorded) {
  std::vector<ca::Hierarchy> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(hierarchy("Org" + std::to_string(i)));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      PartnerStore store(dir_);
      const auto& c = hs[static_cast<size_t>(i)].root.cert;
      if (store.import(c.pem(), "org" + std::to_string(i), c.fingerprint_sha256(), clock_.now()))
        ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 4);
  auto listed = PartnerStore(dir_).list();
  ASSERT_TRUE(listed) << listed.error().describe();
  ASSERT_EQ(listed->size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ((*listed)[static_cast<size_t>(i)].name, "org" + std::to_string(i));
}

}  // namespace
}  // namespace herald::datadir
