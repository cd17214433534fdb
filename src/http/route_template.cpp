#include "route_template.hpp"

#include <algorithm>
#include <iterator>
#include <string>

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

// Walks the path in place: every request's metrics sample takes this path.
std::string route_template(std::string_view route_path) {
    if (route_path.empty()) {
        return "invalid";
    }
    if (route_path == "/") {
        return "/";
    }
    std::string_view rest = route_path.substr(1);
    bool more = true;
    const auto next_segment = [&rest, &more] {  // as route_segments() splits
        const std::size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        more = slash != std::string_view::npos;
        rest = more ? rest.substr(slash + 1) : std::string_view();
        return segment;
    };
    const std::string_view root = next_segment();
    if (!contains(api_roots, root)) {
        return "other";
    }
    std::string result = "/";
    result += root;
    std::size_t template_segments = 1;
    bool last_was_name = false;
    while (more) {
        const std::string_view segment = next_segment();
        const bool word = contains(api_words, segment);
        if (!word && last_was_name) {
            continue;  // image and plugin names contain slashes: one {id} for all of them
        }
        result += '/';
        result += word ? segment : std::string_view("{id}");
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
