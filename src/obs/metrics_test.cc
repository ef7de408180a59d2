#include "obs/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace herald::obs {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Metrics, RendersCounterWithoutLabels) {
  Registry registry;
  auto& issued = registry.counter("herald_certificates_issued", "Certificates issued.");
  EXPECT_EQ(issued.name(), "herald_certificates_issued_total");
  issued.with({}).inc();
  issued.with({}).inc(2);
  EXPECT_EQ(registry.render(),
            "# HELP herald_certificates_issued_total Certificates issued.\n"
            "# TYPE herald_certificates_issued_total counter\n"
            "herald_certificates_issued_total 3\n");
}

TEST(Metrics, UnlabelledSeriesAreExportedFromTheStart) {
  Registry registry;
  registry.counter("herald_errors_total", "Errors.");
  registry.gauge("herald_up", "Whether Herald is up.");
  registry.histogram("herald_sign_seconds", "Signing time.", {}, {1});
  EXPECT_EQ(registry.render(),
            "# HELP herald_errors_total Errors.\n"
            "# TYPE herald_errors_total counter\n"
            "herald_errors_total 0\n"
            "# HELP herald_sign_seconds Signing time.\n"
            "# TYPE herald_sign_seconds histogram\n"
            "herald_sign_seconds_bucket{le=\"1\"} 0\n"
            "herald_sign_seconds_bucket{le=\"+Inf\"} 0\n"
            "herald_sign_seconds_sum 0\n"
            "herald_sign_seconds_count 0\n"
            "# HELP herald_up Whether Herald is up.\n"
            "# TYPE herald_up gauge\n"
            "herald_up 0\n");
}

TEST(Metrics, RendersEveryTypeWithLabelsSortedByName) {
  Registry registry;
  // Registered out of order: rendered sorted by name, series in creation order.
  auto& duration = registry.histogram("herald_request_duration_seconds", "Time to answer.",
                                      {"route"}, {0.25, 0.5, 1});
  auto& requests =
      registry.counter("herald_http_requests_total", "HTTP requests.", {"method", "code"});
  auto& open = registry.gauge("herald_connections_open", "Open connections.");
  auto& depth = registry.gauge("herald_queue_depth", "Queued jobs.", {"queue"});

  requests.with({"POST", "400"}).inc(2.5);
  requests.with({"GET", "200"}).inc();
  requests.with({"POST", "400"}).inc();
  open.with({}).set(7);
  depth.with({"issue"}).add(3);
  depth.with({"issue"}).add(-1);
  depth.with({"crl"}).set(-0.5);
  auto& acme = duration.with({"/acme"});
  for (double v : {0.25, 0.5, 0.375, 3.0}) acme.observe(v);
  duration.with({"/ocsp"});

  EXPECT_EQ(registry.render(),
            "# HELP herald_connections_open Open connections.\n"
            "# TYPE herald_connections_open gauge\n"
            "herald_connections_open 7\n"
            "# HELP herald_http_requests_total HTTP requests.\n"
            "# TYPE herald_http_requests_total counter\n"
            "herald_http_requests_total{method=\"POST\",code=\"400\"} 3.5\n"
            "herald_http_requests_total{method=\"GET\",code=\"200\"} 1\n"
            "# HELP herald_queue_depth Queued jobs.\n"
            "# TYPE herald_queue_depth gauge\n"
            "herald_queue_depth{queue=\"issue\"} 2\n"
            "herald_queue_depth{queue=\"crl\"} -0.5\n"
            "# HELP herald_request_duration_seconds Time to answer.\n"
            "# TYPE herald_request_duration_seconds histogram\n"
            "herald_request_duration_seconds_bucket{route=\"/acme\",le=\"0.25\"} 1\n"
            "herald_request_duration_seconds_bucket{route=\"/acme\",le=\"0.5\"} 3\n"
            "herald_request_duration_seconds_bucket{route=\"/acme\",le=\"1\"} 3\n"
            "herald_request_duration_seconds_bucket{route=\"/acme\",le=\"+Inf\"} 4\n"
            "herald_request_duration_seconds_sum{route=\"/acme\"} 4.125\n"
            "herald_request_duration_seconds_count{route=\"/acme\"} 4\n"
            "herald_request_duration_seconds_bucket{route=\"/ocsp\",le=\"0.25\"} 0\n"
            "herald_request_duration_seconds_bucket{route=\"/ocsp\",le=\"0.5\"} 0\n"
            "herald_request_duration_seconds_bucket{route=\"/ocsp\",le=\"1\"} 0\n"
            "herald_request_duration_seconds_bucket{route=\"/ocsp\",le=\"+Inf\"} 0\n"
            "herald_request_duration_seconds_sum{route=\"/ocsp\"} 0\n"
            "herald_request_duration_seconds_count{route=\"/ocsp\"} 0\n");
}

TEST(Metrics, EscapesHelpAndLabelValues) {
  Registry registry;
  auto& family =
      registry.gauge("herald_escape_test", "Back\\slash, \"quotes\"\nand a newline.", {"value"});
  family.with({"a\\b\"c\nd"}).set(1);
  family.with({"caf\xc3\xa9 \xe2\x9c\x93"}).set(2);  // valid UTF-8 is kept
  family.with({"bad\xff\xc3("}).set(3);              // invalid bytes become U+FFFD
  EXPECT_EQ(registry.render(),
            "# HELP herald_escape_test Back\\\\slash, \"quotes\"\\nand a newline.\n"
            "# TYPE herald_escape_test gauge\n"
            "herald_escape_test{value=\"a\\\\b\\\"c\\nd\"} 1\n"
            "herald_escape_test{value=\"caf\xc3\xa9 \xe2\x9c\x93\"} 2\n"
            "herald_escape_test{value=\"bad\xef\xbf\xbd\xef\xbf\xbd(\"} 3\n");
}

TEST(Metrics, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(1e6), "1000000");
  EXPECT_EQ(format_value(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(1e-7), "1e-07");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(1234567.5), "1.2345675e+06");
  EXPECT_EQ(format_value(-2.5e-10), "-2.5e-10");
  EXPECT_EQ(format_value(kInf), "+Inf");
  EXPECT_EQ(format_value(-kInf), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  // Shortest form that reads back exactly.
  EXPECT_EQ(std::stod(format_value(0.1 + 0.2)), 0.1 + 0.2);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  Registry registry;
  // A trailing +Inf is accepted and dropped: +Inf is always the last bucket.
  auto& h = registry.histogram("herald_size_bytes", "Sizes.", {}, {10, 100, kInf}).with({});
  for (double v : {-5.0, 10.0, 10.5, 100.0, 1e9}) h.observe(v);
  h.observe(std::numeric_limits<double>::quiet_NaN());  // counted in +Inf only
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_TRUE(std::isnan(s.sum));

  auto& only_inf = registry.histogram("herald_no_buckets", "No finite buckets.", {}, {}).with({});
  only_inf.observe(1);
  only_inf.observe(2);
  EXPECT_EQ(only_inf.snapshot().cumulative, (std::vector<uint64_t>{2}));
  EXPECT_EQ(only_inf.snapshot().sum, 3);
  EXPECT_NE(registry.render().find("herald_no_buckets_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
}

TEST(Metrics, LatencyBuckets) {
  std::vector<double> b = latency_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 0.0005);
  EXPECT_EQ(b.back(), 10);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_EQ(std::adjacent_find(b.begin(), b.end()), b.end());
}

TEST(Metrics, CallbackGaugesAreComputedAtEachRender) {
  Registry registry;
  int crl_age = 60;
  registry.gauge_callback(
      "herald_crl_age_seconds", "Seconds since the CRL was signed.", {"ca"}, [&] {
        return std::vector<CallbackSample>{{{"intermediate"}, 1.0 * crl_age}, {{"root"}, 86400}};
      });
  registry.gauge_callback("herald_certificates_expiring", "Valid certificates expiring in 7d.", {},
                          [] {
                            return std::vector<CallbackSample>{{{}, 12}};
                          });
  registry.gauge("herald_build_info", "Build.", {"version"}).with({"0.1.0"}).set(1);

  const std::string expiring =
      "# HELP herald_certificates_expiring Valid certificates expiring in 7d.\n"
      "# TYPE herald_certificates_expiring gauge\n"
      "herald_certificates_expiring 12\n";
  const std::string build =
      "# HELP herald_build_info Build.\n"
      "# TYPE herald_build_info gauge\n"
      "herald_build_info{version=\"0.1.0\"} 1\n";
  auto crl = [](int age) {
    return "# HELP herald_crl_age_seconds Seconds since the CRL was signed.\n"
           "# TYPE herald_crl_age_seconds gauge\n"
           "herald_crl_age_seconds{ca=\"intermediate\"} " +
           std::to_string(age) +
           "\n"
           "herald_crl_age_seconds{ca=\"root\"} 86400\n";
  };
  EXPECT_EQ(registry.render(), build + expiring + crl(60));
  crl_age = 75;
  EXPECT_EQ(registry.render(), build + expiring + crl(75));
}

TEST(Metrics, ReferencesAreStableAndFamiliesShared) {
  Registry registry;
  auto& family = registry.counter("herald_requests", "Requests.", {"route"});
  Counter& first = family.with({"/a"});
  first.inc(5);
  // Many more series: the index rehashes and the series list grows.
  for (int i = 0; i < 2000; ++i) family.with({std::to_string(i)}).inc();
  EXPECT_EQ(&family.with({"/a"}), &first);
  EXPECT_EQ(first.value(), 5);

  // Runtime label values (std::string, std::string_view) find the same series.
  std::vector<std::string> values{"/a"};
  EXPECT_EQ(&family.with(values), &first);
  std::vector<std::string_view> views{"/a"};
  EXPECT_EQ(&family.with(views), &first);

  // The same registration returns the same family; "_total" is optional.
  EXPECT_EQ(&registry.counter("herald_requests_total", "Other help.", {"route"}), &family);
  auto& h1 = registry.histogram("herald_h_seconds", "H.", {}, latency_buckets());
  EXPECT_EQ(&registry.histogram("herald_h_seconds", "H.", {}, latency_buckets()), &h1);
  EXPECT_EQ(&h1.with({}),
            &registry.histogram("herald_h_seconds", "H.", {}, latency_buckets()).with({}));
}

TEST(Metrics, LabelValuesAreKeyedUnambiguously) {
  Registry registry;
  auto& family = registry.gauge("herald_pairs", "Pairs.", {"a", "b"});
  Gauge& ab = family.with({"ab", ""});
  Gauge& a_b = family.with({"a", "b"});
  Gauge& empty = family.with({"", "ab"});
  EXPECT_NE(&ab, &a_b);
  EXPECT_NE(&ab, &empty);
  EXPECT_NE(&a_b, &empty);
}

TEST(Metrics, ConcurrentUpdatesAddUpExactly) {
  Registry registry;
  auto& total = registry.counter("herald_ops_total", "Operations.", {"kind"});
  auto& level = registry.gauge("herald_level", "Level.");
  auto& latency = registry.histogram("herald_op_seconds", "Latency.", {"kind"}, {0.5, 1});
  constexpr int kThreads = 4;
  constexpr int kIterations = 100000;
  constexpr uint64_t kAll = uint64_t{kThreads} * kIterations;
  std::atomic<int> running{kThreads};
  std::vector<std::thread> threads;
  threads.reserve(kThreads + 1);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& shared = total.with({"shared"});
      Histogram& h = latency.with({"shared"});
      Gauge& g = level.with({});
      for (int i = 0; i < kIterations; ++i) {
        shared.inc();
        g.add(0.5);
        h.observe((i % 2) ? 0.25 : 0.75);
        // Look-ups and series creation race with the updates and the scrapes.
        if (i % 1000 == 0) total.with({"thread-" + std::to_string(t)}).inc(1000);
      }
      --running;
    });
  }
  // Scrapes while they run: each sees a +Inf bucket equal to its _count.
  int scrapes = 0;
  threads.emplace_back([&] {
    while (running > 0 || scrapes == 0) {
      EXPECT_FALSE(registry.render().empty());
      Histogram::Snapshot s = latency.with({"shared"}).snapshot();
      EXPECT_EQ(s.cumulative.back(), s.count);
      ++scrapes;
    }
  });
  for (auto& thread : threads) thread.join();

  EXPECT_GT(scrapes, 0);
  EXPECT_EQ(total.with({"shared"}).value(), kAll);
  EXPECT_EQ(level.with({}).value(), kAll * 0.5);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(total.with({"thread-" + std::to_string(t)}).value(), kIterations);
  }
  Histogram::Snapshot s = latency.with({"shared"}).snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{kAll / 2, kAll, kAll}));
  EXPECT_EQ(s.count, kAll);
  EXPECT_EQ(s.sum, kAll * 0.5);
}

#ifndef NDEBUG
TEST(MetricsDeathTest, ProgrammingErrorsAbortDebugBuilds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Registry().gauge("1st", "Bad."), "not a valid metric name");
  EXPECT_DEATH(Registry().gauge("has-dash", "Bad."), "not a valid metric name");
  EXPECT_DEATH(Registry().gauge("herald_x", ""), "help text is empty");
  EXPECT_DEATH(Registry().gauge("herald_x", "X.", {"__reserved"}), "not a valid label name");
  EXPECT_DEATH(Registry().gauge("herald_x", "X.", {"a:b"}), "not a valid label name");
  EXPECT_DEATH(Registry().gauge("herald_x", "X.", {"le"}), "reserved");
  EXPECT_DEATH(Registry().histogram("herald_x", "X.", {"quantile"}, {1}), "reserved");
  EXPECT_DEATH(Registry().gauge("herald_x", "X.", {"a", "a"}), "repeated");
  EXPECT_DEATH(Registry().gauge("herald_x_total", "X."), "only counters end in _total");
  EXPECT_DEATH(Registry().gauge("herald_x_count", "X."), "histogram sample suffixes");
  EXPECT_DEATH(Registry().histogram("herald_x", "X.", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(Registry().histogram("herald_x", "X.", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(Registry().histogram("herald_x", "X.", {}, {std::nan("")}), "strictly increasing");

  Registry registry;
  auto& family = registry.counter("herald_x_total", "X.", {"a"});
  EXPECT_DEATH(family.with({}), "wrong number of label values");
  EXPECT_DEATH(family.with({"1", "2"}), "wrong number of label values");
  EXPECT_DEATH(family.with({"1"}).inc(-1), "negative");
  EXPECT_DEATH(registry.counter("herald_x_total", "X.", {"b"}), "registered again");
  registry.histogram("herald_y_seconds", "Y.", {}, {1, 2});
  EXPECT_DEATH(registry.histogram("herald_y_seconds", "Y.", {}, {1, 3}), "registered again");
  EXPECT_DEATH(registry.gauge("herald_y_seconds", "Y."), "registered again");
  EXPECT_DEATH(registry.gauge_callback("herald_y_seconds", "Y.", {}, {}), "name is taken");
  registry.gauge_callback("herald_z", "Z.", {"a"}, [] {
    return std::vector<CallbackSample>{{{"1", "2"}, 1}};
  });
  EXPECT_DEATH((void)registry.render(), "wrong number of label values");
}
#endif

// ---- promtool -------------------------------------------------------------

constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Pipes `exposition` into `promtool check metrics`.
PromtoolResult promtool_check(const std::string& exposition) {
  std::string out_path = ::testing::TempDir() + "/obs_promtool_" + std::to_string(::getpid());
  std::string command = std::string(kPromtool) + " check metrics >" + out_path + " 2>&1";
  std::signal(SIGPIPE, SIG_IGN);  // promtool may stop reading early on bad input
  FILE* pipe = ::popen(command.c_str(), "w");
  if (pipe == nullptr) return {};
  std::fwrite(exposition.data(), 1, exposition.size(), pipe);
  int status = ::pclose(pipe);
  PromtoolResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  std::filesystem::remove(out_path);
  return result;
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  if (!std::filesystem::exists(kPromtool)) GTEST_SKIP() << kPromtool << " is not installed";

  // The check is not vacuous: promtool does fail a counter without _total.
  PromtoolResult bad =
      promtool_check("# HELP x_requests X.\n# TYPE x_requests counter\nx_requests 1\n");
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("_total"), std::string::npos) << bad.output;

  Registry registry;
  auto& issued = registry.counter("herald_certificates_issued", "Certificates issued, by profile.",
                                  {"profile", "ca"});
  issued.with({"server", "issuing"}).inc(3);
  issued.with({"client", "issuing"}).inc(0.5);
  registry.counter("herald_errors_total", "Errors.").with({}).inc();
  registry.gauge("herald_connections_open", "Open connections.").with({}).set(12);
  auto& odd =
      registry.gauge("herald_odd_values", "Escapes: back\\slash, \"quotes\"\nnewline.", {"value"});
  odd.with({"a\\b\"c\nd"}).set(kInf);
  odd.with({"caf\xc3\xa9 bad\xff"}).set(-kInf);
  odd.with({""}).set(std::numeric_limits<double>::quiet_NaN());
  odd.with({"tiny"}).set(1e-300);
  odd.with({"huge"}).set(1e300);
  auto& duration = registry.histogram("herald_request_duration_seconds", "Request latency.",
                                      {"route", "method"}, latency_buckets());
  for (double v : {0.0001, 0.003, 0.2, 7.0, 60.0}) duration.with({"/acme", "POST"}).observe(v);
  duration.with({"/ocsp", "GET"}).observe(0.001);
  registry.histogram("herald_csr_size_bytes", "CSR sizes.", {}, {256, 1024, 4096})
      .with({})
      .observe(700);
  registry.gauge_callback(
      "herald_crl_age_seconds", "Seconds since each CRL was signed.", {"ca"}, [] {
        return std::vector<CallbackSample>{{{"intermediate"}, 3600}, {{"root"}, 86400 * 30.5}};
      });
  registry.gauge_callback("herald_certificates_expiring", "Valid certificates expiring in 7 days.",
                          {}, [] {
                            return std::vector<CallbackSample>{{{}, 4}};
                          });

  std::string exposition = registry.render();
  PromtoolResult result = promtool_check(exposition);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- exposition ---\n" << exposition;
  EXPECT_EQ(result.output, "") << "\n--- exposition ---\n" << exposition;
}

}  // namespace
}  // namespace herald::obs
