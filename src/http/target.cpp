// Normalisation of the request target into the path the daemon routes on.
// Every decision here mirrors a fact in ../shared/docker-api.md; a difference is a bypass.
#include "target.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace socket_proxy {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";

// Long enough to recognise a value in a message, short enough to keep the line readable.
constexpr std::size_t kMaxQuotedLength = 100;

NormaliseResult fail(TargetError error, std::string reason) {
    NormaliseResult result;
    result.error = error;
    result.reason = std::move(reason);
    return result;
}

std::string byte_name(unsigned char byte) {
    std::string name = "0x";
    name += kHexDigits[byte >> 4];
    name += kHexDigits[byte & 0x0f];
    return name;
}

// Callers only quote values already checked to be printable ASCII, so the quote cannot
// break the one-line message.
std::string quoted(std::string_view value) {
    if (value.size() > kMaxQuotedLength) {
        return "\"" + std::string(value.substr(0, kMaxQuotedLength)) + "...\"";
    }
    return "\"" + std::string(value) + "\"";
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// RFC 9112 §3.2: the request-target is a run of visible ASCII; whitespace or a control byte
// would let the target be read differently by the proxy, the log and the daemon.
bool is_forbidden_raw_byte(unsigned char byte) {
    return byte <= 0x20 || byte >= 0x7f;
}

// RFC 3986 §3.3 pchar minus '%': unreserved, sub-delims, ':', '@', plus the separator '/'.
constexpr std::string_view kRawPathPunctuation = "-._~!$&'()*+,;=:@/";

bool is_kept_raw(unsigned char byte) {
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
        (byte >= '0' && byte <= '9')) {
        return true;
    }
    return kRawPathPunctuation.find(static_cast<char>(byte)) != std::string_view::npos;
}

bool is_dot_segment(std::string_view segment) {
    return segment == "." || segment == "..";
}

bool has_dot_segment(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        if (is_dot_segment(path.substr(start, end - start))) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_docker_version_char(char c) {
    return is_digit(c) || c == '.';
}

bool is_podman_version_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
}

// Docker registers every route also behind "/v{version:[0-9.]+}" (moby daemon/server/server.go);
// Podman behind "/v{version:[0-9][0-9A-Za-z.-]*}" (pkg/api/server/handler_api.go, VersionedPath),
// which routes "/v4.0.0-rc1/", "/v4x/" and "/v1.41-x/containers/c1/export" too. Exactly one
// prefix that either engine routes, followed by '/', is stripped, so a deny rule holds on both;
// "/v/...", "/v1.41" (no '/') and "/version" are not prefixes.
// Returns the length of the version text after "/v", or 0 when there is no prefix.
std::size_t version_length(std::string_view path) {
    if (!path.starts_with("/v")) {
        return 0;
    }
    std::size_t end = 2;
    while (end < path.size() && is_podman_version_char(path[end])) {
        ++end;
    }
    if (end == 2 || end >= path.size() || path[end] != '/') {
        return 0;
    }
    const std::string_view version = path.substr(2, end - 2);
    const bool docker = std::all_of(version.begin(), version.end(), is_docker_version_char);
    return docker || is_digit(version.front()) ? version.size() : 0;
}

// Decodes exactly once, like Go's url.PathUnescape: a second pass would let "%252F"
// become a slash for the policy but not for the daemon.
// Returns the failure, or nothing when `decoded` holds the decoded path.
std::optional<NormaliseResult> decode_path(std::string_view raw_path, std::string& decoded) {
    decoded.clear();
    decoded.reserve(raw_path.size());
    for (std::size_t i = 0; i < raw_path.size(); ++i) {
        if (raw_path[i] != '%') {
            decoded.push_back(raw_path[i]);
            continue;
        }
        if (i + 2 >= raw_path.size() || hex_digit_value(raw_path[i + 1]) < 0 ||
            hex_digit_value(raw_path[i + 2]) < 0) {
            return fail(TargetError::invalid_escape,
                        "the path contains '%' at offset " + std::to_string(i) +
                            " not followed by two hex digits; write a literal '%' as %25");
        }
        const auto byte = static_cast<unsigned char>(hex_digit_value(raw_path[i + 1]) * 16 +
                                                     hex_digit_value(raw_path[i + 2]));
        // The daemon decodes %2F before routing, so "c1%2Fexport" reaches the export route
        // while looking like a single name segment to a naive matcher.
        if (byte == '/') {
            return fail(TargetError::encoded_slash,
                        "the path contains an encoded slash (%2F), which could hide the route "
                        "it reaches");
        }
        if (byte < 0x20 || byte == 0x7f) {
            return fail(TargetError::control_in_path,
                        "the path contains an encoded control character (" + byte_name(byte) +
                            "), which no Docker route contains");
        }
        decoded.push_back(static_cast<char>(byte));
        i += 2;
    }
    return std::nullopt;
}

NormaliseResult normalise_origin_form(std::string_view origin) {
    const std::size_t question = origin.find('?');
    const std::string_view raw_path = origin.substr(0, question);

    std::string decoded;
    if (std::optional<NormaliseResult> failure = decode_path(raw_path, decoded)) {
        return std::move(*failure);
    }
    // The daemon answers 301 to the cleaned path instead of routing these; the client then
    // comes back through the proxy with the clean path, so refusing loses nothing.
    if (decoded.find("//") != std::string::npos) {
        return fail(TargetError::not_canonical,
                    "the path contains an empty segment (\"//\"), which the daemon would "
                    "redirect instead of routing; send the cleaned path");
    }
    if (has_dot_segment(decoded)) {
        return fail(TargetError::not_canonical,
                    "the path contains a \".\" or \"..\" segment (also when percent-encoded), "
                    "which the daemon would redirect instead of routing; send the cleaned path");
    }

    Target target;
    const std::size_t version_size = version_length(decoded);
    if (version_size > 0) {
        target.api_version = decoded.substr(2, version_size);
        target.route_path = decoded.substr(2 + version_size);
    } else {
        target.route_path = decoded;
    }
    target.forward_target = encode_path(decoded);
    if (question != std::string_view::npos) {
        target.query = std::string(origin.substr(question + 1));
        target.forward_target += '?';
        target.forward_target += target.query;
    }

    NormaliseResult result;
    result.target = std::move(target);
    return result;
}

// Go's server routes "scheme://anything/path" on its path, whatever the scheme. We accept only
// the form a real HTTP/1.1 client may send (RFC 9112 §3.2.2): http, naming the Host it sent.
NormaliseResult normalise_absolute_form(std::string_view after_scheme,
                                        std::string_view host_header) {
    const std::size_t authority_end = after_scheme.find_first_of("/?");
    const std::string_view authority = after_scheme.substr(0, authority_end);
    if (host_header.empty()) {
        return fail(TargetError::foreign_host,
                    "the absolute-form target names host " + quoted(authority) +
                        " but the request has no Host header to match; send an origin-form path");
    }
    if (!iequals(authority, host_header)) {
        return fail(TargetError::foreign_host,
                    "the absolute-form target names host " + quoted(authority) +
                        ", which is not the request's Host header; send an origin-form path");
    }
    if (authority_end == std::string_view::npos) {
        return normalise_origin_form("/");
    }
    const std::string_view rest = after_scheme.substr(authority_end);
    if (rest.front() == '?') {
        return normalise_origin_form("/" + std::string(rest));
    }
    return normalise_origin_form(rest);
}

}  // namespace

NormaliseResult normalise_target(std::string_view raw_target, std::string_view host_header) {
    if (raw_target.empty()) {
        return fail(TargetError::empty, "the request target is empty");
    }
    for (std::size_t i = 0; i < raw_target.size(); ++i) {
        const auto byte = static_cast<unsigned char>(raw_target[i]);
        if (is_forbidden_raw_byte(byte)) {
            return fail(TargetError::invalid_character,
                        "the request target contains byte " + byte_name(byte) + " at offset " +
                            std::to_string(i) +
                            " (a control character, space or non-ASCII byte); percent-encode it");
        }
    }
    if (raw_target.front() == '/') {
        return normalise_origin_form(raw_target);
    }
    if (raw_target == "*") {
        return fail(TargetError::not_origin_form,
                    "the request target \"*\" (asterisk-form) names no Docker API route");
    }
    constexpr std::string_view http_scheme = "http://";
    if (istarts_with(raw_target, http_scheme)) {
        return normalise_absolute_form(raw_target.substr(http_scheme.size()), host_header);
    }
    return fail(TargetError::not_origin_form,
                "the request target " + quoted(raw_target) +
                    " is neither a path starting with '/' nor an http:// URL naming this host");
}

int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

namespace {

std::string percent_encode(std::string_view decoded, bool (*kept)(unsigned char)) {
    std::string encoded;
    encoded.reserve(decoded.size());
    for (const char c : decoded) {
        const auto byte = static_cast<unsigned char>(c);
        if (kept(byte)) {
            encoded.push_back(c);
        } else {
            encoded.push_back('%');
            encoded.push_back(kHexDigits[byte >> 4]);
            encoded.push_back(kHexDigits[byte & 0x0f]);
        }
    }
    return encoded;
}

bool is_unreserved(unsigned char byte) {
    return (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
           (byte >= '0' && byte <= '9') || byte == '-' || byte == '_' || byte == '.' || byte == '~';
}

}  // namespace

std::string encode_path(std::string_view decoded_path) {
    return percent_encode(decoded_path, is_kept_raw);
}

std::string encode_query_part(std::string_view decoded) {
    return percent_encode(decoded, is_unreserved);
}

}  // namespace socket_proxy
