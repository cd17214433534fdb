#include "json_text.hpp"

#include <array>
#include <cstdint>

namespace socket_proxy {
namespace {

// Length of the valid UTF-8 sequence starting at text[0], or 0 if it is not valid
// (overlong forms, surrogates and code points above U+10FFFF are invalid: RFC 3629 section 4).
std::size_t utf8_sequence_length(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
    const std::uint8_t lead = byte(0);
    std::size_t length = 0;
    std::uint8_t min_second = 0x80;
    std::uint8_t max_second = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            min_second = 0xA0;
        if (lead == 0xED)
            max_second = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            min_second = 0x90;
        if (lead == 0xF4)
            max_second = 0x8F;
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < min_second || byte(1) > max_second) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xBF) {
            return 0;
        }
    }
    return length;
}

}  // namespace

std::string json_string(std::string_view text) {
    static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('"');
    while (!text.empty()) {
        const auto c = static_cast<unsigned char>(text.front());
        if (c >= 0x80) {
            const std::size_t length = utf8_sequence_length(text);
            if (length == 0) {
                out += "\\ufffd";
                text.remove_prefix(1);
            } else {
                out.append(text.substr(0, length));
                text.remove_prefix(length);
            }
            continue;
        }
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        } else {
            out.push_back(static_cast<char>(c));
        }
        text.remove_prefix(1);
    }
    out.push_back('"');
    return out;
}

std::string docker_error_body(std::string_view message) {
    return "{\"message\":" + json_string(message) + "}\n";
}

void append_percent_escaped(std::string& out, std::string_view text, std::size_t limit,
                            bool (*escape)(unsigned char byte)) {
    static constexpr char hex_digits[] = "0123456789ABCDEF";
    for (const char c : text.substr(0, limit)) {
        const auto byte = static_cast<unsigned char>(c);
        if (escape(byte)) {
            out += '%';
            out += hex_digits[byte >> 4];
            out += hex_digits[byte & 0x0f];
        } else {
            out += c;
        }
    }
    if (text.size() > limit) {
        out += "...";
    }
}

}  // namespace socket_proxy
