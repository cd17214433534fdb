// Durations and sizes as settings write them ("30s", "500ms", "64KiB"), read and written back.
// Pure.
#pragma once

#include <charconv>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace socket_proxy {

using Duration = std::chrono::milliseconds;

// "30s", "500ms", "2m", "1h", or a bare number of seconds ("30", "0.5"). Throws ConfigError
// naming `what` (the variable or flag) and quoting the value.
[[nodiscard]] Duration parse_duration(std::string_view what, std::string_view value);

// "65536", "64KiB", "64k", "1MiB", "1m": bytes, or KiB/MiB (k/K and m/M are the same units).
// Throws ConfigError naming `what` and quoting the value.
[[nodiscard]] std::size_t parse_size(std::string_view what, std::string_view value);

// The way --help writes values, also handy for log lines: "500ms", "30s", "2m", "1h", "0".
[[nodiscard]] std::string format_duration(Duration duration);
[[nodiscard]] std::string format_size(std::size_t bytes);  // "64KiB", "1MiB", "1500"

// Whole string, decimal digits only: from_chars already refuses signs and spaces for
// unsigned types, and this refuses trailing junk.
template <typename Unsigned>
std::optional<Unsigned> parse_decimal(std::string_view text) {
    Unsigned number{};
    const char* const end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, number);
    if (text.empty() || error != std::errc{} || stop != end) {
        return std::nullopt;
    }
    return number;
}

// A-Z to a-z only: setting words are ASCII, and the C locale's tolower would be a global.
[[nodiscard]] std::string ascii_lowercase(std::string_view text);

// The text without the spaces at either end.
[[nodiscard]] std::string_view trim_spaces(std::string_view text);

// A setting's comma-separated list ("a, b,c,"): each item without the spaces around it; empty
// items are left out.
[[nodiscard]] std::vector<std::string_view> comma_list_items(std::string_view value);

}  // namespace socket_proxy
