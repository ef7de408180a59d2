#include "obs/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace herald::obs {
namespace {

using Clock = std::chrono::system_clock;

// 2026-12-06T17:10:00.123Z
Clock::time_point at() { return Clock::time_point(std::chrono::milliseconds(1796577000123LL)); }

std::string json_line(std::string_view msg, std::initializer_list<LogField> fields,
                      LogLevel level = LogLevel::kInfo) {
  return format_log_line(LogFormat::kJson, at(), level, msg, fields.begin(), fields.size());
}

TEST(Log, JsonLineHasTimeLevelMessageAndTypedFields) {
  const std::string line = json_line(
      "request",
      {{"request_id", "abc"}, {"status", 201}, {"ms", 1.5}, {"ok", true}, {"n", uint64_t{7}}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-06T17:10:00.123Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "request");
  EXPECT_EQ(j["request_id"], "abc");
  EXPECT_EQ(j["status"], 201);
  EXPECT_DOUBLE_EQ(j["ms"].get<double>(), 1.5);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["n"], 7);
}

TEST(Log, EscapesControlCharactersQuotesAndInvalidUtf8) {
  const std::string evil = "a\"b\\c\nd\re\tf\x01g\xff\xfeh";
  const std::string line = json_line(evil, {{"path", evil}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  const std::string want = "a\"b\\c\nd\re\tf\x01g\xEF\xBF\xBD\xEF\xBF\xBDh";
  EXPECT_EQ(j["path"], want);
  EXPECT_EQ(j["msg"], want);
  // Text: one line too.
  const LogField f{"path", evil};
  const std::string text = format_log_line(LogFormat::kText, at(), LogLevel::kWarn, evil, &f, 1);
  EXPECT_EQ(text.find('\n'), text.size() - 1);
}

TEST(Log, TruncatesLongFieldsAndLongLines) {
  const std::string big(5000, 'x');
  auto j = nlohmann::json::parse(json_line("m", {{"a", big}}));
  EXPECT_EQ(j["a"].get<std::string>(), std::string(kMaxFieldBytes, 'x') + "...");
  EXPECT_FALSE(j.contains("truncated"));
  // Many long fields: the line stays under the cap and says it was cut.
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back("k" + std::to_string(i));
  std::vector<LogField> fields;
  for (const auto& k : keys) fields.emplace_back(k, std::string_view(big));
  const std::string line =
      format_log_line(LogFormat::kJson, at(), LogLevel::kInfo, "m", fields.data(), fields.size());
  EXPECT_LE(line.size(), kMaxLineBytes);
  auto t = nlohmann::json::parse(line);
  EXPECT_EQ(t["truncated"], true);
  EXPECT_TRUE(t.contains("k0"));
  EXPECT_FALSE(t.contains("k19"));
  const std::string text =
      format_log_line(LogFormat::kText, at(), LogLevel::kInfo, "m", fields.data(), fields.size());
  EXPECT_LE(text.size(), kMaxLineBytes);
  EXPECT_NE(text.find("truncated=true"), std::string::npos);
}

TEST(Log, TruncationKeepsUtf8Whole) {
  std::string s(kMaxFieldBytes - 1, 'x');
  s += "\xC3\xA9tail";  // é straddles the cut
  auto j = nlohmann::json::parse(json_line("m", {{"a", s}}));
  EXPECT_EQ(j["a"].get<std::string>(), std::string(kMaxFieldBytes - 1, 'x') + "...");
}

TEST(Log, TextFormatIsReadable) {
  const LogField f[] = {{"method", "GET"}, {"path", "/v1/a b"}, {"status", 404}};
  const std::string line =
      format_log_line(LogFormat::kText, at(), LogLevel::kError, "request", f, 3);
  EXPECT_EQ(line,
            "2026-12-06T17:10:00.123Z ERROR request method=GET path=\"/v1/a b\" status=404\n");
}

TEST(Log, LevelsAndFormatsParse) {
  EXPECT_EQ(*parse_log_level("debug"), LogLevel::kDebug);
  EXPECT_EQ(*parse_log_level("warn"), LogLevel::kWarn);
  EXPECT_FALSE(parse_log_level("loud"));
  EXPECT_EQ(*parse_log_format("json"), LogFormat::kJson);
  EXPECT_FALSE(parse_log_format("xml"));
}

TEST(Log, RequestIds) {
  const std::string id = new_request_id();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_TRUE(valid_request_id(id));
  EXPECT_NE(id, new_request_id());
  EXPECT_TRUE(valid_request_id("client.req-1_A"));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\nb"));
}

TEST(Log, RequestNotesBelongToTheCurrentRequest) {
  note_request("ignored", "outside any request");
  RequestLog outer;
  note_request("serial", "01");
  note_request("serial", "02");
  {
    RequestLog inner;
    note_request("account", "x");
    ASSERT_EQ(inner.notes().size(), 1u);
  }
  ASSERT_EQ(outer.notes().size(), 1u);
  EXPECT_EQ(outer.notes()[0].second, "02");
}

TEST(Log, FileLevelsAndReopen) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("herald-log-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "serve.log";
  ASSERT_TRUE(configure_logging({LogFormat::kJson, LogLevel::kInfo, path.string()}));
  EXPECT_FALSE(log_enabled(LogLevel::kDebug));
  log(LogLevel::kDebug, "hidden");
  log(LogLevel::kInfo, "first", {{"n", 1}});
  std::filesystem::rename(path, dir / "serve.log.1");
  ASSERT_TRUE(reopen_log());
  log(LogLevel::kWarn, "second");
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string old_text = read(dir / "serve.log.1"), new_text = read(path);
  EXPECT_NE(old_text.find("\"first\""), std::string::npos);
  EXPECT_EQ(old_text.find("hidden"), std::string::npos);
  EXPECT_EQ(old_text.find("second"), std::string::npos);
  EXPECT_NE(new_text.find("\"second\""), std::string::npos);
  ASSERT_TRUE(configure_logging({std::nullopt, LogLevel::kInfo, ""}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace herald::obs
