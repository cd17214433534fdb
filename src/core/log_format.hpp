// Formatting log lines; pure so the escaping rules are unit-tested. log.hpp writes them.
//
// Text, one event per line: `<local time with offset> <level> <event> key=value key="quoted"`.
// Values that are not a plain token are quoted, with '"', '\\' and every byte below 0x20 or
// >= 0x7f escaped, so a client-sent path can never break a line or forge a field.
// JSON lines: one object per line, {"time":..., "level":..., "event":..., <fields>}, valid JSON
// whatever bytes a client sent (bytes that are not UTF-8 are replaced).
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace socket_proxy {

enum class LogLevel { debug, info, warning, error };

enum class LogFormat { text, json };

struct LogField {
    std::string_view key;
    std::string value;
};

// "2026-11-28T12:00:00.123+01:00": local time per TZ (localtime_r), with the numeric offset.
[[nodiscard]] std::string format_timestamp(std::timespec when);

// Appends ` key=value` with quoting and escaping as described above.
void append_field(std::string& line, std::string_view key, std::string_view value);

// `"value"` with the same escaping, always quoted: for echoing untrusted input in messages.
[[nodiscard]] std::string quote_value(std::string_view value);

[[nodiscard]] std::string format_log_line(std::timespec when, LogLevel level,
                                          std::string_view event,
                                          const std::vector<LogField>& fields);

// Fields that count (status, bytes, ms, ...) are JSON numbers when their value is a decimal
// integer; every other value is a string.
[[nodiscard]] std::string format_json_log_line(std::timespec when, LogLevel level,
                                               std::string_view event,
                                               const std::vector<LogField>& fields);

[[nodiscard]] std::string_view level_name(LogLevel level);

}  // namespace socket_proxy
