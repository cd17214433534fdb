#include "log_format.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <time.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace socket_proxy {
namespace {

using namespace std::string_view_literals;

// Sets TZ for one test and puts the previous value back, so other tests see the usual zone.
class ScopedTimeZone {
  public:
    explicit ScopedTimeZone(const char* zone) {
        if (const char* previous = std::getenv("TZ")) {
            saved_ = previous;
        }
        ::setenv("TZ", zone, 1);
        ::tzset();
    }
    ~ScopedTimeZone() {
        if (saved_) {
            ::setenv("TZ", saved_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

  private:
    std::optional<std::string> saved_;
};

// --- timestamps -------------------------------------------------------------------------

constexpr std::time_t winter_noon_utc = 1768478400;         // 2026-01-15T12:00:00Z
constexpr std::time_t summer_noon_utc = 1784116800;         // 2026-07-15T12:00:00Z
constexpr std::time_t zurich_springs_forward = 1774746000;  // 2026-03-29T01:00:00Z

struct TimestampRow {
    const char* zone;
    std::timespec when;
    std::string_view expected;
};

TEST(LogTimestampTest, LocalTimeWithNumericOffset) {
    const TimestampRow rows[] = {
        {"Europe/Zurich", {winter_noon_utc, 123'456'789}, "2026-01-15T13:00:00.123+01:00"},
        {"Europe/Zurich", {summer_noon_utc, 0}, "2026-07-15T14:00:00.000+02:00"},
        {"Europe/Zurich",
         {zurich_springs_forward - 1, 999'999'999},
         "2026-03-29T01:59:59.999+01:00"},
        {"Europe/Zurich", {zurich_springs_forward, 0}, "2026-03-29T03:00:00.000+02:00"},
        {"UTC", {winter_noon_utc, 123'456'789}, "2026-01-15T12:00:00.123+00:00"},
        {"UTC", {summer_noon_utc, 7'000'000}, "2026-07-15T12:00:00.007+00:00"},
        {"America/New_York", {winter_noon_utc, 1'000'000}, "2026-01-15T07:00:00.001-05:00"},
        {"Asia/Kolkata", {winter_noon_utc, 0}, "2026-01-15T17:30:00.000+05:30"},
        {"UTC", {0, 0}, "1970-01-01T00:00:00.000+00:00"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(std::string(row.zone) + " " + std::to_string(row.when.tv_sec));
        const ScopedTimeZone zone(row.zone);
        EXPECT_EQ(format_timestamp(row.when), row.expected);
    }
}

TEST(LogTimestampTest, RestoresTheTimeZone) {
    const char* before = std::getenv("TZ");
    const std::string before_text = before ? before : "(unset)";
    {
        const ScopedTimeZone zone("Asia/Kolkata");
        EXPECT_STREQ(std::getenv("TZ"), "Asia/Kolkata");
    }
    const char* after = std::getenv("TZ");
    EXPECT_EQ(after ? after : "(unset)", before_text);
}

// --- escaping ---------------------------------------------------------------------------

struct EscapeRow {
    std::string_view value;
    std::string_view rendered;  // what follows "key="
};

TEST(LogEscapingTest, BareTokensAndQuotedValues) {
    const EscapeRow rows[] = {
        {"GET", "GET"},
        {"/v1.41/containers/json", "/v1.41/containers/json"},
        {"127.0.0.1:53122", "127.0.0.1:53122"},
        {"[::1]:4000", "[::1]:4000"},
        {"user@host", "user@host"},
        {"a+b,c-d_e%2F", "a+b,c-d_e%2F"},
        {"", R"("")"},
        {"a b", R"("a b")"},
        {"a=b", R"("a=b")"},
        {"all=1", R"("all=1")"},
        {"/containers/json?all=1&size=true", R"("/containers/json?all=1&size=true")"},
        {R"(say "hi")", R"("say \"hi\"")"},
        {R"(C:\path)", R"("C:\\path")"},
        {"\"", R"("\"")"},
        {"\\", R"("\\")"},
        {"line\nbreak", R"("line\nbreak")"},
        {"carriage\rreturn", R"("carriage\rreturn")"},
        {"tab\there", R"("tab\there")"},
        {"\0"sv, R"("\x00")"},
        {"\x01\x1f", R"("\x01\x1f")"},
        {"\x7f", R"("\x7f")"},
        {"\x80\xff", R"("\x80\xff")"},
        {"caf\xc3\xa9", R"("caf\xc3\xa9")"},
        {"\x1b[31mred", R"("\x1b[31mred")"},
        // A client trying to end the line and start a forged one.
        {"/x\n2026-01-01T00:00:00.000+00:00 info allowed path=/",
         R"("/x\n2026-01-01T00:00:00.000+00:00 info allowed path=/")"},
        // A client trying to forge a field on the same line.
        {"/x decision=allow", R"("/x decision=allow")"},
        {"/x\" decision=\"allow", R"("/x\" decision=\"allow")"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(std::string(row.rendered));
        std::string line = "start";
        append_field(line, "path", row.value);
        EXPECT_EQ(line, "start path=" + std::string(row.rendered));
        if (row.rendered.starts_with('"')) {
            EXPECT_EQ(quote_value(row.value), row.rendered);
        }
    }
}

TEST(LogEscapingTest, QuoteValueAlwaysQuotes) {
    EXPECT_EQ(quote_value("plain"), R"("plain")");
    EXPECT_EQ(quote_value(""), R"("")");
}

TEST(LogEscapingTest, NamesCannotBreakTheLine) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"path", "path"}, {"client.uid", "client.uid"}, {"bad key", "bad_key"},
        {"k=v", "k_v"},   {"new\nline", "new_line"},    {"", "_"},
    };
    for (const auto& [key, rendered] : rows) {
        std::string line;
        append_field(line, key, "v");
        EXPECT_EQ(line, " " + std::string(rendered) + "=v");
    }
}

// Decodes what append_field wrote; the escaping is only right if every value survives this.
std::optional<std::string> decode_value(std::string_view rendered) {
    if (!rendered.starts_with('"')) {
        return std::string(rendered);
    }
    if (rendered.size() < 2 || !rendered.ends_with('"')) {
        return std::nullopt;
    }
    std::string decoded;
    for (std::size_t i = 1; i + 1 < rendered.size(); ++i) {
        const char c = rendered[i];
        if (c == '"') {
            return std::nullopt;  // an unescaped quote would end the value early
        }
        if (c != '\\') {
            decoded += c;
            continue;
        }
        if (++i + 1 >= rendered.size()) {
            return std::nullopt;
        }
        switch (rendered[i]) {
            case '"':
            case '\\':
                decoded += rendered[i];
                break;
            case 'n':
                decoded += '\n';
                break;
            case 'r':
                decoded += '\r';
                break;
            case 't':
                decoded += '\t';
                break;
            case 'x':
                if (i + 3 >= rendered.size()) {
                    return std::nullopt;
                }
                decoded += static_cast<char>(
                    std::stoi(std::string(rendered.substr(i + 1, 2)), nullptr, 16));
                i += 2;
                break;
            default:
                return std::nullopt;
        }
    }
    return decoded;
}

TEST(LogEscapingTest, EveryByteRoundTripsAndStaysPrintable) {
    for (int byte = 0; byte < 256; ++byte) {
        SCOPED_TRACE(byte);
        const std::string value = "a" + std::string(1, static_cast<char>(byte)) + "b";
        std::string line;
        append_field(line, "k", value);
        ASSERT_TRUE(line.starts_with(" k=")) << line;
        const std::string_view rendered = std::string_view(line).substr(3);
        for (const char c : rendered) {
            const auto u = static_cast<unsigned char>(c);
            EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "raw byte " << int{u} << " in " << line;
        }
        // A bare value can never contain the space that separates fields.
        if (!rendered.starts_with('"')) {
            EXPECT_EQ(rendered.find_first_of(" =\"\\"), std::string_view::npos) << line;
        }
        EXPECT_EQ(decode_value(rendered), value) << line;
    }
}

// --- whole lines ------------------------------------------------------------------------

TEST(LogLineTest, TimestampLevelEventFields) {
    const ScopedTimeZone zone("UTC");
    const std::timespec when{winter_noon_utc, 123'000'000};
    const struct {
        LogLevel level;
        std::string_view event;
        std::vector<LogField> fields;
        std::string_view expected;
    } rows[] = {
        {LogLevel::info, "started", {}, "2026-01-15T12:00:00.123+00:00 info started"},
        {LogLevel::warning,
         "request_denied",
         {{"method", "GET"}, {"path", "/x y"}, {"reason", ""}},
         R"(2026-01-15T12:00:00.123+00:00 warning request_denied method=GET path="/x y" reason="")"},
        {LogLevel::debug,
         "request",
         {{"status", "200"}},
         "2026-01-15T12:00:00.123+00:00 debug request status=200"},
        {LogLevel::error,
         "bad event",
         {{"path", "a\nb"}},
         R"(2026-01-15T12:00:00.123+00:00 error bad_event path="a\nb")"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.event);
        const std::string line = format_log_line(when, row.level, row.event, row.fields);
        EXPECT_EQ(line, row.expected);
        EXPECT_EQ(line.find('\n'), std::string::npos);
    }
}

TEST(JsonLogLineTest, NumbersWhereTheyCountStringsElsewhere) {
    const ScopedTimeZone utc("UTC");
    const std::timespec when{winter_noon_utc, 123'000'000};
    const std::string line = format_json_log_line(when, LogLevel::warning, "request",
                                                  {{"status", "403"},
                                                   {"bytes_out", "0"},
                                                   {"stream_ms", "7"},
                                                   {"ms", "012"},
                                                   {"path", "42"},
                                                   {"rule", "x"}});
    EXPECT_EQ(line,
              R"({"time":"2026-01-15T12:00:00.123+00:00","level":"warning","event":"request",)"
              R"("status":403,"bytes_out":0,"stream_ms":7,"ms":"012","path":"42","rule":"x"})");
}

TEST(JsonLogLineTest, DaysLeftIsANumberBelowZeroToo) {
    const ScopedTimeZone utc("UTC");
    const std::timespec when{winter_noon_utc, 0};
    EXPECT_EQ(format_json_log_line(when, LogLevel::error, "certificate-expired",
                                   {{"days_left", "-3"}, {"ms", "-3"}, {"count", "-0"}}),
              R"({"time":"2026-01-15T12:00:00.000+00:00","level":"error",)"
              R"("event":"certificate-expired","days_left":-3,"ms":-3,"count":"-0"})");
}

TEST(JsonLogLineTest, EveryByteStaysValidJson) {
    const ScopedTimeZone utc("UTC");
    const std::timespec when{winter_noon_utc, 0};
    std::string every_byte;
    for (int byte = 0; byte < 256; ++byte) {
        every_byte += static_cast<char>(byte);
    }
    for (const std::string& value :
         {every_byte, std::string("\"},"), std::string("\xc3\x28"), std::string("\xff\"\n")}) {
        const std::string line =
            format_json_log_line(when, LogLevel::info, "request", {{"path", value}});
        EXPECT_EQ(line.find('\n'), std::string::npos);
        boost::system::error_code error;
        const boost::json::value parsed = boost::json::parse(line, error);
        ASSERT_FALSE(error) << line;
        EXPECT_EQ(parsed.at("event"), "request");
        EXPECT_TRUE(parsed.at("path").is_string());
    }
}

TEST(LogLevelTest, Names) {
    const std::pair<LogLevel, std::string_view> rows[] = {
        {LogLevel::debug, "debug"},
        {LogLevel::info, "info"},
        {LogLevel::warning, "warning"},
        {LogLevel::error, "error"},
    };
    for (const auto& [level, name] : rows) {
        EXPECT_EQ(level_name(level), name);
    }
}

}  // namespace
}  // namespace socket_proxy
