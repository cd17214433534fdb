// Requests as a few words: the route template and method that metrics label a request with and
// `learn` writes rules from. Docker's own path words only, never the client's bytes. Pure.
#pragma once

#include <string>
#include <string_view>

namespace socket_proxy {

// "/containers/abc/logs" -> "/containers/{id}/logs", "/images/a/b/json" -> "/images/{id}/json",
// "/v1.41/..." is never seen here (the route path has no version). Paths outside the API:
// "other"; a target that could not be normalised (empty route path): "invalid".
[[nodiscard]] std::string route_template(std::string_view route_path);

// The method as a label: one of the verbs HTTP defines, else "other".
[[nodiscard]] std::string_view method_label(std::string_view method);

}  // namespace socket_proxy
