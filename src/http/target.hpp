// Normalising a request target into the path the Docker daemon will route.
//
// The daemon (Go net/http + gorilla/mux) percent-decodes the path once before routing,
// accepts absolute-form targets, strips a version prefix (`/v<digits and dots>`; Podman also
// `/v<digit><letters, digits, '.', '-'>`), and answers 301
// to a cleaned path instead of routing `//`, `/./`, `/../`. The policy must decide on the
// same path, so everything the proxy cannot map to exactly one route is refused here.
// Podman routes on the still-escaped path (gorilla/mux UseEncodedPath): the proxy forwards the
// canonical encoding of the decoded path, in which no route's literal segment carries an
// escape, so Podman too routes exactly what the policy saw.
// Facts: ../shared/docker-api.md. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socket_proxy {

struct Target {
    // Percent-decoded path with the version prefix removed; always starts with '/'.
    // This is what policy rules match on, e.g. "/containers/c1/json".
    std::string route_path;
    // The version as written after "/v" ("1.41", "01.041", "4.0.0-rc1"), empty when
    // unversioned.
    std::string api_version;
    // Raw query string without the '?', passed through untouched (the daemon ignores it for
    // routing).
    std::string query;
    // Origin-form target to send to the daemon: the canonically re-encoded decoded path
    // (version prefix included) plus "?query" when present. Decoding it once yields exactly
    // the path the policy saw.
    std::string forward_target;
};

enum class TargetError {
    empty,
    not_origin_form,  // "*", authority-form, a relative path, or an absolute form we do not accept
    foreign_host,     // absolute-form whose authority is not the Host header
    invalid_character,  // raw control, space, non-ASCII byte in the target
    invalid_escape,     // '%' not followed by two hex digits (the daemon answers 400 too)
    encoded_slash,      // %2F: ambiguous between the name and the route
    control_in_path,    // a decoded byte < 0x20 or 0x7f (NUL, CR, LF, ...)
    not_canonical,      // "//", "/./", "/../", trailing "/." or "/.." (also after decoding)
};

struct NormaliseResult {
    std::optional<Target> target;  // set on success
    TargetError error{};           // meaningful only when !target
    // One sentence for the client and the log when !target, e.g.
    // "the path contains an encoded slash (%2F), which the proxy cannot map to one route".
    std::string reason;

    [[nodiscard]] bool ok() const { return target.has_value(); }
};

// `host_header` is the request's Host value (empty when absent); only used for absolute-form.
[[nodiscard]] NormaliseResult normalise_target(std::string_view raw_target,
                                               std::string_view host_header);

// The value of a hex digit, or -1: percent-escapes in paths and queries.
[[nodiscard]] int hex_digit_value(char c);

// Percent-encodes every byte of a decoded path except unreserved, sub-delims, ':', '@' and '/'.
[[nodiscard]] std::string encode_path(std::string_view decoded_path);

// Percent-encodes every byte of a query key or value except the unreserved ones (RFC 3986
// section 2.3), so that '&', '=', '+' and ';' stay data.
[[nodiscard]] std::string encode_query_part(std::string_view decoded);

}  // namespace socket_proxy
