#include "log_format.hpp"

#include <time.h>  // localtime_r

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "json_text.hpp"

namespace socket_proxy {
namespace {

bool is_alnum(unsigned char byte) {
    // Not std::isalnum: that one follows the C locale, and a log line must not.
    return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
           (byte >= '0' && byte <= '9');
}

// Bytes a value may consist of to be written bare. No space, '=', '"' or '\\', so a bare value
// always ends at the next space and can never look like the start of another field.
bool is_token_byte(unsigned char byte) {
    constexpr std::string_view punctuation = "._-:/@+,%[]";
    return is_alnum(byte) || punctuation.find(static_cast<char>(byte)) != std::string_view::npos;
}

bool is_plain_token(std::string_view value) {
    if (value.empty()) {
        return false;  // written as "" so the field stays visible
    }
    for (const char c : value) {
        if (!is_token_byte(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

void append_quoted(std::string& line, std::string_view value) {
    constexpr std::string_view hex_digits = "0123456789abcdef";
    line += '"';
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                line += "\\\"";
                continue;
            case '\\':
                line += "\\\\";
                continue;
            case '\n':
                line += "\\n";
                continue;
            case '\r':
                line += "\\r";
                continue;
            case '\t':
                line += "\\t";
                continue;
            default:
                break;
        }
        if (byte < 0x20 || byte >= 0x7f) {
            line += "\\x";
            line += hex_digits[byte >> 4];
            line += hex_digits[byte & 0x0f];
        } else {
            line += c;
        }
    }
    line += '"';
}

// Keys and event names come from our code, not from clients; still, a stray space or '=' in
// one must not shift every field after it, so such bytes become '_'.
void append_name(std::string& line, std::string_view name) {
    if (name.empty()) {
        line += '_';
        return;
    }
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        line += (is_alnum(byte) || c == '_' || c == '.' || c == '-') ? c : '_';
    }
}

}  // namespace

std::string format_timestamp(std::timespec when) {
    // Truncated, not rounded: rounding 59.9996 up would print a second that has not begun.
    const long milliseconds = std::clamp(when.tv_nsec / 1'000'000L, 0L, 999L);

    std::tm local{};
    if (localtime_r(&when.tv_sec, &local) == nullptr) {
        // Only for instants a struct tm cannot hold; a real clock never gets here.
        char fallback[48];
        std::snprintf(fallback, sizeof fallback, "@%lld.%03ld", static_cast<long long>(when.tv_sec),
                      milliseconds);
        return fallback;
    }

    // tm_gmtoff already includes daylight saving time. RFC 3339 offsets have no seconds; the
    // only zones with second offsets are historic local mean times.
    const long offset_minutes = std::labs(local.tm_gmtoff) / 60;
    const char offset_sign = local.tm_gmtoff < 0 ? '-' : '+';

    char buffer[160];  // generous, so -Wformat-truncation has nothing to fear for any int
    std::snprintf(buffer, sizeof buffer, "%04ld-%02d-%02dT%02d:%02d:%02d.%03ld%c%02ld:%02ld",
                  static_cast<long>(local.tm_year) + 1900, local.tm_mon + 1, local.tm_mday,
                  local.tm_hour, local.tm_min, local.tm_sec, milliseconds, offset_sign,
                  offset_minutes / 60, offset_minutes % 60);
    return buffer;
}

void append_field(std::string& line, std::string_view key, std::string_view value) {
    line += ' ';
    append_name(line, key);
    line += '=';
    if (is_plain_token(value)) {
        line += value;
    } else {
        append_quoted(line, value);
    }
}

std::string quote_value(std::string_view value) {
    std::string quoted;
    quoted.reserve(value.size() + 2);
    append_quoted(quoted, value);
    return quoted;
}

std::string format_log_line(std::timespec when, LogLevel level, std::string_view event,
                            const std::vector<LogField>& fields) {
    std::string line = format_timestamp(when);
    line += ' ';
    line += level_name(level);
    line += ' ';
    append_name(line, event);
    for (const auto& field : fields) {
        append_field(line, field.key, field.value);
    }
    return line;
}

namespace {

constexpr std::string_view numeric_keys[] = {
    "status",          "bytes_in",      "bytes_out",         "ms",
    "stream_ms",       "hidden_events", "unreadable_events", "rules",
    "max_connections", "requests",      "streams",           "count",
    "connections",     "threads",       "days_left"};

// A certificate's days_left is the one field that goes below zero.
bool is_decimal_integer(std::string_view value) {
    if (value.size() > 1 && value.front() == '-' && value[1] != '0') {
        value.remove_prefix(1);
    }
    return !value.empty() && value.size() <= 18 && (value == "0" || value.front() != '0') &&
           std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string format_json_log_line(std::timespec when, LogLevel level, std::string_view event,
                                 const std::vector<LogField>& fields) {
    std::string line = "{\"time\":" + json_string(format_timestamp(when));
    line += ",\"level\":";
    line += json_string(level_name(level));
    line += ",\"event\":";
    line += json_string(event);
    for (const auto& field : fields) {
        line += ',';
        line += json_string(field.key);
        line += ':';
        const bool numeric = std::find(std::begin(numeric_keys), std::end(numeric_keys),
                                       field.key) != std::end(numeric_keys);
        line += numeric && is_decimal_integer(field.value) ? field.value : json_string(field.value);
    }
    line += '}';
    return line;
}

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warning:
            return "warning";
        case LogLevel::error:
            return "error";
    }
    return "unknown";  // only reachable through a cast of an out-of-range integer
}

}  // namespace socket_proxy
