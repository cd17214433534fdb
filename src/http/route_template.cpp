#include "route_template.hpp"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "route.hpp"

namespace socket_proxy {
namespace {

// Top-level segments of the Engine API (moby's api/server/router/*).
constexpr std::string_view api_roots[]{
    "_ping",    "auth",    "build",  "commit", "configs",  "containers", "distribution", "events",
    "exec",     "grpc",    "images", "info",   "networks", "nodes",      "plugins",      "secrets",
    "services", "session", "swarm",  "system", "tasks",    "version",    "volumes"};

// The literal words below the roots; every other segment is a name or an id.
constexpr std::string_view api_words[]{
    "archive",    "attach", "cancel", "changes",    "connect",   "create",     "df",     "disable",
    "disconnect", "enable", "export", "get",        "history",   "init",       "join",   "json",
    "kill",       "leave",  "load",   "logs",       "pause",     "privileges", "prune",  "pull",
    "push",       "rename", "resize", "restart",    "search",    "set",        "start",  "stats",
    "stop",       "tag",    "top",    "unlock",     "unlockkey", "unpause",    "update", "upgrade",
    "wait",       "ws",     "exec",   "data-usage", "inspect",   "remove"};

// Deeper templates than Docker has are not API routes.
constexpr std::size_t max_template_segments = 4;

template <std::size_t N>
bool contains(const std::string_view (&words)[N], std::string_view word) {
    return std::find(std::begin(words), std::end(words), word) != std::end(words);
}

}  // namespace

std::string route_template(std::string_view route_path) {
    if (route_path.empty()) {
        return "invalid";
    }
    if (route_path == "/") {
        return "/";
    }
    const std::vector<std::string_view> segments = route_segments(route_path);
    if (!contains(api_roots, segments.front())) {
        return "other";
    }
    std::string result = "/" + std::string(segments.front());
    std::size_t template_segments = 1;
    bool last_was_name = false;
    for (std::size_t i = 1; i < segments.size(); ++i) {
        const bool word = contains(api_words, segments[i]);
        if (!word && last_was_name) {
            continue;  // image and plugin names contain slashes: one {id} for all of them
        }
        result += word ? "/" + std::string(segments[i]) : std::string("/{id}");
        last_was_name = !word;
        if (++template_segments > max_template_segments) {
            return "other";
        }
    }
    return result;
}

std::string_view method_label(std::string_view method) {
    for (const std::string_view known :
         {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}) {
        if (method == known) {
            return known;
        }
    }
    return "other";
}

}  // namespace socket_proxy
