#include "units.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "config_error.hpp"

namespace socket_proxy {
namespace {

constexpr std::uint64_t max_duration_ms = 365ULL * 24 * 60 * 60 * 1000;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// A number as a duration writes it, "12.5ms": digits, optionally '.' and more digits, then
// the rest, its unit. Hand-rolled rather than from_chars<double>, which would accept "1e3",
// "inf" and "nan", and rather than strtod, which follows the locale's decimal separator.
struct DecimalText {
    std::string_view whole;
    std::string_view fraction;
    std::string_view unit;
};

std::optional<DecimalText> split_decimal(std::string_view value) {
    std::size_t position = 0;
    while (position < value.size() && is_digit(value[position])) {
        ++position;
    }
    const std::string_view whole = value.substr(0, position);
    std::string_view fraction;
    if (position < value.size() && value[position] == '.') {
        const std::size_t fraction_start = ++position;
        while (position < value.size() && is_digit(value[position])) {
            ++position;
        }
        fraction = value.substr(fraction_start, position - fraction_start);
        if (fraction.empty()) {
            return std::nullopt;
        }
    }
    if (whole.empty()) {
        return std::nullopt;
    }
    return DecimalText{whole, fraction, value.substr(position)};
}

// A duration's unit in milliseconds; no unit is seconds.
std::optional<std::uint64_t> unit_milliseconds(std::string_view unit) {
    if (unit.empty() || unit == "s") {
        return 1000;
    }
    if (unit == "ms") {
        return 1;
    }
    if (unit == "m") {
        return 60 * 1000;
    }
    if (unit == "h") {
        return 60 * 60 * 1000;
    }
    return std::nullopt;
}

}  // namespace

std::string_view trim_spaces(std::string_view text) {
    while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    while (!text.empty() && text.back() == ' ') {
        text.remove_suffix(1);
    }
    return text;
}

std::vector<std::string_view> comma_list_items(std::string_view value) {
    std::vector<std::string_view> items;
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        const std::string_view item = trim_spaces(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        if (!item.empty()) {
            items.push_back(item);
        }
    }
    return items;
}

std::string ascii_lowercase(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return lower;
}

Duration parse_duration(std::string_view what, std::string_view value) {
    const auto not_a_duration = [&] {
        return value_error(what, value,
                           "is not a duration: use a number of seconds or a value like 500ms, "
                           "30s, 2m, 1h");
    };

    const auto number = split_decimal(value);
    if (!number) {
        throw not_a_duration();
    }
    const auto unit_ms = unit_milliseconds(number->unit);
    if (!unit_ms) {
        throw not_a_duration();
    }
    const std::string_view fraction = number->fraction;

    const auto too_long = [&] {
        return value_error(what, value, "is too long: use at most 8760h (a year), or 0 for none");
    };
    const auto whole_units = parse_decimal<std::uint64_t>(number->whole);
    if (!whole_units || *whole_units > max_duration_ms / *unit_ms) {
        throw too_long();
    }

    // Nine fractional digits are exact to the nanosecond of an hour's unit; further digits
    // cannot change the millisecond count.
    constexpr std::size_t fraction_digits = 9;
    std::uint64_t fraction_nanounits = 0;
    for (std::size_t i = 0; i < fraction_digits; ++i) {
        fraction_nanounits =
            fraction_nanounits * 10 +
            (i < fraction.size() ? static_cast<std::uint64_t>(fraction[i] - '0') : 0);
    }
    const std::uint64_t total_ms =
        *whole_units * *unit_ms + fraction_nanounits * *unit_ms / 1'000'000'000ULL;
    if (total_ms > max_duration_ms) {
        throw too_long();
    }

    const bool written_as_zero = value.find_first_of("123456789") == std::string_view::npos;
    if (total_ms == 0 && !written_as_zero) {
        // Silently rounding 0.0001 down to 0 would turn the limit off.
        throw value_error(what, value, "is shorter than 1ms: use at least 1ms, or 0 for none");
    }
    return Duration(static_cast<Duration::rep>(total_ms));
}

std::size_t parse_size(std::string_view what, std::string_view value) {
    std::size_t digits = 0;
    while (digits < value.size() && is_digit(value[digits])) {
        ++digits;
    }
    const std::string unit = ascii_lowercase(value.substr(digits));
    std::size_t multiplier = 0;
    if (unit.empty() || unit == "b") {
        multiplier = 1;
    } else if (unit == "k" || unit == "kib" || unit == "kb") {
        multiplier = 1024;  // binary units: a "64KB" limit that means 64000 surprises nobody less
    } else if (unit == "m" || unit == "mib" || unit == "mb") {
        multiplier = 1024 * 1024;
    }
    const auto number = parse_decimal<std::size_t>(value.substr(0, digits));
    if (multiplier == 0 || !number) {
        throw value_error(what, value,
                          "is not a size: use a number of bytes or a value like 64KiB, 1MiB");
    }
    if (*number > std::numeric_limits<std::size_t>::max() / multiplier / 1024) {
        throw value_error(what, value, "is too large");
    }
    return *number * multiplier;
}

std::string format_duration(Duration duration) {
    const auto ms = duration.count();
    if (ms == 0) {
        return "0";
    }
    constexpr Duration::rep second = 1000;
    constexpr Duration::rep minute = 60 * second;
    constexpr Duration::rep hour = 60 * minute;
    if (ms % hour == 0) {
        return std::to_string(ms / hour) + "h";
    }
    if (ms % minute == 0) {
        return std::to_string(ms / minute) + "m";
    }
    if (ms % second == 0) {
        return std::to_string(ms / second) + "s";
    }
    return std::to_string(ms) + "ms";
}

std::string format_size(std::size_t bytes) {
    constexpr std::size_t kib = 1024;
    constexpr std::size_t mib = 1024 * kib;
    if (bytes != 0 && bytes % mib == 0) {
        return std::to_string(bytes / mib) + "MiB";
    }
    if (bytes != 0 && bytes % kib == 0) {
        return std::to_string(bytes / kib) + "KiB";
    }
    return std::to_string(bytes);
}

}  // namespace socket_proxy
