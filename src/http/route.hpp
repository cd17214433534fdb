// Route paths as the policy reads them: their segments, path patterns over them, and the query
// as the daemon's url.ParseQuery reads it. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace socket_proxy {

// A path pattern over the normalised route path, segment by segment:
//   literal segments match themselves; "{name}" matches exactly one non-empty segment;
//   "{name...}" matches one or more non-empty segments (container and image names may
//   contain slashes, so the daemon identifies those routes by their literal ending).
//   A pattern ending in "/**" also matches the path without that suffix and any path below it.
// Example: "/containers/{id...}/export", "/secrets/**", "/images/get".
struct PathPattern {
    std::string source;  // as written, for messages
    std::vector<std::string> segments;

    [[nodiscard]] static PathPattern parse(
        std::string_view pattern);  // throws std::invalid_argument
    [[nodiscard]] bool matches(std::string_view route_path) const;
};

// The segments of a route path or pattern after its leading '/':
// "/containers/c1/json" -> {"containers", "c1", "json"}, "/" -> {""}.
[[nodiscard]] std::vector<std::string_view> route_segments(std::string_view path);

using QueryValues = std::vector<std::pair<std::string, std::string>>;

// The query as the daemon's url.ParseQuery reads it, or nullopt where the daemon would drop a
// pair (a ';' separator since Go 1.17, a bad escape) and so could read another value than
// the proxy: a rule on query values then cannot be decided.
[[nodiscard]] std::optional<QueryValues> parse_query(std::string_view query);

// The values as a query string parse_query() reads back as they are: every byte but the
// unreserved ones (RFC 3986 section 2.3) percent-encoded.
[[nodiscard]] std::string encode_query(const QueryValues& values);

}  // namespace socket_proxy
