// `socket-proxy learn LOGFILE`: the request log of real traffic (JSON lines, DEBUG on, so that
// allowed requests are logged too) turned into the smallest policy file that allows exactly
// the routes and methods that were seen, names and ids generalised to patterns, for the user
// to review. A client the log names by certificate, container or named listener gets rules of
// its own, selecting it. Pure: the caller reads the file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace socket_proxy {

struct LearnedPolicy {
    std::string yaml;              // the policy file; empty when nothing was learned
    std::size_t requests = 0;      // request lines read
    std::size_t other_lines = 0;   // log lines of other events, skipped
    std::size_t unreadable = 0;    // lines that are not JSON (a text-format log has only these)
    std::size_t outside_api = 0;   // requests whose route is not an API route: not allowed
    std::size_t allowed_seen = 0;  // of the requests, those the proxy allowed at the time
};

// `source` names the log in the file's header comment.
[[nodiscard]] LearnedPolicy learn_policy(std::string_view log, std::string_view source);

// A route as a policy path pattern: "/containers/3f0a.../logs" -> "/containers/{id}/logs",
// "/images/ghcr.io/me/app:1/json" -> "/images/{name...}/json"; empty for a route outside the
// API (the generalisation of metrics.hpp's route_template).
[[nodiscard]] std::string learned_path_pattern(std::string_view route_path);

}  // namespace socket_proxy
