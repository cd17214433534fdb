// Reading and re-writing the daemon's JSON answers the proxy rewrites (redact.hpp,
// label_scope.hpp), with Boost.JSON. Pure.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace socket_proxy {

// The document, or nullopt when it is not JSON or nests deeper than Docker's answers do.
[[nodiscard]] std::optional<boost::json::value> parse_daemon_json(std::string_view text);

// The document as text, newline-terminated as the daemon ends its answers; nullopt when it
// holds a number JSON cannot write back (2e400 reads as infinity, which would be written as
// "Infinity"): such an answer is not forwarded.
[[nodiscard]] std::optional<std::string> serialise_daemon_json(const boost::json::value& document);

}  // namespace socket_proxy
