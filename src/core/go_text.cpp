#include "go_text.hpp"

namespace socket_proxy {
namespace {

constexpr std::string_view long_s = "\xC5\xBF";           // U+017F
constexpr std::string_view kelvin_sign = "\xE2\x84\xAA";  // U+212A

char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The folded letter at `at` in `text`, advancing past it.
char next_folded(std::string_view text, std::size_t& at) {
    if (text.substr(at, long_s.size()) == long_s) {
        at += long_s.size();
        return 's';
    }
    if (text.substr(at, kelvin_sign.size()) == kelvin_sign) {
        at += kelvin_sign.size();
        return 'k';
    }
    return ascii_lower(text[at++]);
}

}  // namespace

std::string go_fold(std::string_view text) {
    std::string folded;
    folded.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        folded += next_folded(text, at);
    }
    return folded;
}

bool go_fold_equals(std::string_view key, std::string_view name) {
    std::size_t at = 0;
    for (const char letter : name) {
        if (at == key.size() || next_folded(key, at) != ascii_lower(letter)) {
            return false;
        }
    }
    return at == key.size();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    while (true) {
        const std::size_t at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return parts;
        }
        text.remove_prefix(at + 1);
    }
}

}  // namespace socket_proxy
