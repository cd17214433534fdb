#include "stream_routes.hpp"

#include <optional>
#include <string>
#include <vector>

#include "route.hpp"

namespace socket_proxy {
namespace {

// Docker's httputils.BoolValueOrDefault: the first value, trimmed and lowercased, is false
// when empty, "0", "no", "false" or "none"; an absent parameter takes the default.
bool query_flag(const QueryValues& query, std::string_view name, bool absent) {
    for (const auto& [key, value] : query) {
        if (key != name) {
            continue;
        }
        std::string text;
        for (const char c : value) {
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                text += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            }
        }
        return !(text.empty() || text == "0" || text == "no" || text == "false" || text == "none");
    }
    return absent;
}

}  // namespace

bool opens_stream(std::string_view method, std::string_view route_path, std::string_view query,
                  bool upgrade_requested) {
    if (upgrade_requested) {
        return true;  // a tunnel once the daemon agrees
    }
    // Podman serves the same streams under /libpod.
    if (route_path.starts_with("/libpod/")) {
        route_path.remove_prefix(std::string_view("/libpod").size());
    }
    const std::vector<std::string_view> segments = route_segments(route_path);
    if (segments.empty()) {
        return false;
    }
    const std::string_view first = segments.front();
    const std::string_view last = segments.back();
    const bool get = method == "GET";
    const bool post = method == "POST";
    if (get && segments.size() == 1 && first == "events") {
        return true;
    }
    if (post && first == "exec" && segments.size() == 3 && last == "start") {
        return true;
    }
    if (first != "containers" || segments.size() < 2) {
        return false;
    }
    const bool attach_ws =
        segments.size() >= 4 && segments[segments.size() - 2] == "attach" && last == "ws";
    if ((post && last == "attach") || (get && attach_ws)) {
        return true;
    }
    // Podman's /libpod/containers/stats streams every container's.
    const bool logs = last == "logs" && segments.size() >= 3;
    if (!get || (!logs && last != "stats")) {
        return false;
    }
    const std::optional<QueryValues> values = parse_query(query);
    if (!values) {
        return true;
    }
    return logs ? query_flag(*values, "follow", false) : query_flag(*values, "stream", true);
}

}  // namespace socket_proxy
