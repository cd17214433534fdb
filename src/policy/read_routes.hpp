// Every GET and HEAD route of the two engines socket-proxy fronts, classified by what its answer
// carries, and what the built-in read-only policy does with it. A unit test holds the policy and
// the redaction to this table: a route that returns files, secret values or runs something is
// never simply allowed. Pure data: no I/O.
#pragma once

#include <span>
#include <string_view>

namespace socket_proxy {

enum class Engine { docker, podman };

// What the daemon's answer holds.
enum class Carries {
    metadata,  // names, states, counters, paths: what read-only is for
    output,    // what the container itself prints (logs): read-only passes it on by design
    files,     // file contents or archives: a container's, an image's, a volume's, an artifact's
    secrets,   // values that are often passwords: environment, secrets, keys, tokens, build args
    runs,      // answering starts a process in a container
};

// What the built-in read-only policy does with a GET of the route.
enum class ReadOnlyAnswer {
    allowed,   // forwarded as the daemon answers
    denied,    // a deny rule of Policy::read_only()
    redacted,  // forwarded with secret values rewritten (route_carries_secrets, redact.hpp)
    guarded,   // refused only with the query values that make it print secrets (ps_args)
};

struct ReadRoute {
    Engine engine;
    std::string_view methods;  // "GET" or "GET,HEAD"
    // As the engine registers it, without the version prefix, e.g. "/containers/{name:.*}/json".
    std::string_view route;
    // A request on the route, as a client sends it: what the tests decide on.
    std::string_view sample;
    Carries carries;
    ReadOnlyAnswer read_only;
    std::string_view since;  // the first engine version routing it, empty when older than 20.10/4.3
};

// Docker's from moby's api/server/router (v20.10.24 and master b985e23, 2026-08-23); Podman's
// libpod routes from pkg/api/server/register_*.go (v4.3.1, v5.0.0, v5.8.2 and main c6580b4,
// 2026-05-19). Podman's Docker-compatible routes are a subset of Docker's rows.
[[nodiscard]] std::span<const ReadRoute> read_routes();

}  // namespace socket_proxy
