// An independent model of how the Docker daemon routes a request target, for the fuzzers:
// written from shared/docker-api.md, sharing no code with the proxy's normaliser, so that the
// two can disagree. Go's net/http + gorilla/mux: percent-decode once, answer a redirect
// instead of routing an unclean path, strip a /v<digits and dots> prefix.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fuzz_model {

inline void check(bool invariant) {
    if (!invariant) {
        __builtin_trap();
    }
}

inline int hex_value(char c) {
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

// Go's url.PathUnescape: nullopt where the daemon answers 400 for a bad escape.
inline std::optional<std::string> decode_once(std::string_view encoded) {
    std::string decoded;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        if (encoded[i] != '%') {
            decoded.push_back(encoded[i]);
            continue;
        }
        if (i + 2 >= encoded.size() || hex_value(encoded[i + 1]) < 0 ||
            hex_value(encoded[i + 2]) < 0) {
            return std::nullopt;
        }
        decoded.push_back(
            static_cast<char>(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2])));
        i += 2;
    }
    return decoded;
}

// net/http's cleanPath differs from the path: the daemon redirects instead of routing.
inline bool is_clean(std::string_view path) {
    return path.find("//") == std::string_view::npos &&
           path.find("/./") == std::string_view::npos &&
           path.find("/../") == std::string_view::npos && !path.ends_with("/.") &&
           !path.ends_with("/..");
}

// The route the engine's mux matches for an origin-form target, or nullopt when it answers
// without routing (400, 301).
inline std::optional<std::string> daemon_route(std::string_view origin_form_target) {
    const std::string_view raw_path = origin_form_target.substr(0, origin_form_target.find('?'));
    auto path = decode_once(raw_path);
    if (!path || path->empty() || path->front() != '/' || !is_clean(*path)) {
        return std::nullopt;
    }
    // Docker: "/v" [0-9.]+ "/" rest, the versioned registration of every route. Podman:
    // "/v" [0-9] [0-9A-Za-z.-]* "/" rest, which Docker answers 404 where its own does not
    // match: a target routes by whichever of the two the version fits.
    if (path->size() > 2 && (*path)[1] == 'v') {
        const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
        const auto docker_char = [&](char c) { return is_digit(c) || c == '.'; };
        const auto podman_char = [&](char c) {
            return docker_char(c) || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        };
        std::size_t end = 2;
        bool docker = true;
        while (end < path->size() && podman_char((*path)[end])) {
            docker = docker && docker_char((*path)[end]);
            ++end;
        }
        if (end > 2 && end < path->size() && (*path)[end] == '/' &&
            (docker || is_digit((*path)[2]))) {
            return path->substr(end);
        }
    }
    return path;
}

// True when `path` is "<prefix><one or more characters>/<ending>", the shape of a route
// whose name may contain slashes.
inline bool is_named_route(std::string_view path, std::string_view prefix,
                           std::string_view ending) {
    if (!path.starts_with(prefix)) {
        return false;
    }
    const std::string_view rest = path.substr(prefix.size());
    return rest.size() > ending.size() + 1 && rest.ends_with(ending) &&
           rest[rest.size() - ending.size() - 1] == '/';
}

inline bool is_tree(std::string_view path, std::string_view root) {
    return path == root || (path.starts_with(root) && path[root.size()] == '/');
}

// A naive restatement of the read-only deny list, independent of PathPattern.
inline bool is_sensitive(std::string_view route) {
    return is_named_route(route, "/containers/", "export") ||
           is_named_route(route, "/containers/", "archive") ||
           is_named_route(route, "/containers/", "attach/ws") ||
           is_named_route(route, "/images/", "get") || route == "/images/get" ||
           route == "/swarm/unlockkey" || is_tree(route, "/secrets") || is_tree(route, "/configs");
}

}  // namespace fuzz_model
