#include "head_check.hpp"

#include <algorithm>
#include <array>

namespace socket_proxy {
namespace {

// RFC 9110 section 5.6.2: token characters.
bool is_tchar(unsigned char c) {
    static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           extra.find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 9110 section 5.5: field values are VCHAR, obs-text, SP and HTAB.
bool is_field_value_char(unsigned char c) {
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

HeadCheck refuse(std::string reason) {
    HeadCheck check;
    check.ok = false;
    check.reason = std::move(reason);
    return check;
}

HeadCheck check_request_line_bytes(std::string_view line) {
    const std::size_t first_space = line.find(' ');
    const std::size_t last_space = line.rfind(' ');
    if (first_space == std::string_view::npos || first_space == last_space) {
        return refuse("the request line is not \"METHOD target HTTP/1.1\" (RFC 9112 section 3)");
    }
    const std::string_view method = line.substr(0, first_space);
    const std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
    const std::string_view version = line.substr(last_space + 1);
    if (method.empty()) {
        return refuse("the request line starts with white space (RFC 9112 section 3)");
    }
    for (const char c : method) {
        if (!is_tchar(static_cast<unsigned char>(c))) {
            return refuse("the method is not a token (RFC 9110 section 9.1)");
        }
    }
    if (target.empty()) {
        return refuse(
            "the request line separates its parts with more than one space (RFC 9112 section 3)");
    }
    for (const char c : target) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) {
            return refuse(
                "the request target contains white space, a control or a non-ASCII byte "
                "(RFC 9112 section 3.2)");
        }
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return refuse("the protocol version is not HTTP/1.1 or HTTP/1.0");
    }
    return {};
}

HeadCheck check_field_line(std::string_view line) {
    if (line.front() == ' ' || line.front() == '\t') {
        return refuse(
            "a header line is folded onto the previous one (obsolete line folding, RFC 9112 "
            "section 5.2)");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return refuse("a header line has no colon (RFC 9112 section 5)");
    }
    if (colon == 0) {
        return refuse("a header line has an empty field name (RFC 9112 section 5)");
    }
    for (const char c : line.substr(0, colon)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte == ' ' || byte == '\t') {
            return refuse(
                "a header has white space between its name and the colon (RFC 9112 "
                "section 5.1)");
        }
        if (!is_tchar(byte)) {
            return refuse(
                "a header name contains a character that is not allowed (RFC 9110 section 5.1)");
        }
    }
    for (const char c : line.substr(colon + 1)) {
        if (!is_field_value_char(static_cast<unsigned char>(c))) {
            return refuse("a header value contains a control character (RFC 9110 section 5.5)");
        }
    }
    return {};
}

}  // namespace

std::size_t find_head_end(std::string_view bytes) {
    for (std::size_t i = bytes.find('\n'); i != std::string_view::npos;
         i = bytes.find('\n', i + 1)) {
        if (i + 1 < bytes.size() && bytes[i + 1] == '\n') {
            return i + 2;
        }
        if (i + 2 < bytes.size() && bytes[i + 1] == '\r' && bytes[i + 2] == '\n') {
            return i + 3;
        }
    }
    return std::string_view::npos;
}

HeadCheck check_request_line(std::string_view line) {
    return check_request_line_bytes(line);
}

HeadCheck check_request_head(std::string_view head, const HeadLimits& limits) {
    std::size_t fields = 0;
    bool request_line = true;
    while (!head.empty()) {
        const std::size_t line_feed = head.find('\n');
        if (line_feed == std::string_view::npos) {
            return refuse(
                "the request head does not end with an empty line (RFC 9112 section 2.1)");
        }
        // RFC 9112 section 2.2: a bare CR or LF inside a head is invalid.
        if (line_feed == 0 || head[line_feed - 1] != '\r') {
            return refuse(
                "a line of the request head ends with a bare line feed instead of CRLF "
                "(RFC 9112 section 2.2)");
        }
        const std::string_view line = head.substr(0, line_feed - 1);
        head.remove_prefix(line_feed + 1);
        if (line.find('\r') != std::string_view::npos) {
            return refuse(
                "the request head contains a bare carriage return (RFC 9112 section 2.2)");
        }
        if (line.empty()) {
            if (request_line) {
                return refuse("the request starts with an empty line (RFC 9112 section 2.2)");
            }
            if (!head.empty()) {
                return refuse("bytes follow the end of the request head");
            }
            return {};
        }
        const HeadCheck check =
            request_line ? check_request_line_bytes(line) : check_field_line(line);
        if (!check.ok) {
            return check;
        }
        if (!request_line && ++fields > limits.max_fields) {
            HeadCheck too_many =
                refuse("the request has more than " + std::to_string(limits.max_fields) +
                       " header fields (SOCKET_PROXY_MAX_HEADERS)");
            too_many.too_many_fields = true;  // RFC 6585 section 5: 431, not 400
            return too_many;
        }
        request_line = false;
    }
    return refuse("the request head does not end with an empty line (RFC 9112 section 2.1)");
}

bool may_be_form_body(std::string_view content_type) {
    std::string_view base = content_type.substr(0, content_type.find(';'));
    constexpr std::string_view ascii_space = " \t\n\v\f\r";
    base.remove_prefix(std::min(base.find_first_not_of(ascii_space), base.size()));
    base.remove_suffix(base.size() - std::min(base.find_last_not_of(ascii_space) + 1, base.size()));
    if (std::any_of(base.begin(), base.end(),
                    [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        return true;
    }
    constexpr std::string_view form = "application/x-www-form-urlencoded";
    return base.size() == form.size() &&
           std::equal(base.begin(), base.end(), form.begin(), [](char a, char b) {
               return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
           });
}

}  // namespace socket_proxy
