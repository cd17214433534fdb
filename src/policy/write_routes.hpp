// Every route of the two engines that takes a request body (or acts on a write method), with
// what the proxy does about what the body can ask for. A unit test holds the proxy to this
// table: a route whose body can reach host paths, host namespaces or root is checked, or
// refused unless a rule's `body:` option says otherwise. Pure: no I/O.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "read_routes.hpp"
#include "write_body.hpp"

namespace socket_proxy {

enum class WriteHandling {
    body_checked,    // the JSON body is held and judged (write_body.hpp)
    query_checked,   // the query is judged; the body (a tar) streams unread
    refused,         // refused unless the rule's body option named by `allowed_by` is set
    files_out,       // a read behind a write method: denied wherever archive is
    not_escalating,  // nothing in it names a host path, a host namespace or a privilege
};

struct WriteRoute {
    Engine engine;
    std::string_view method;
    std::string_view route;   // as the engine registers it, without the version prefix
    std::string_view sample;  // a request target on the route, as a client sends it
    WriteHandling handling;
    std::string_view allowed_by;  // for `refused`: the body option that allows it
    std::string_view why;         // what the body or the route can do, for the refusal
};

// Docker's from moby's api/server/router (v20.10.24) and daemon/server/router (master b985e23):
// every NewPostRoute and NewPutRoute (DELETE routes take no body). Podman serves the same
// paths; its own /libpod/ writes are refused whole unless a rule sets body.libpod_writes.
[[nodiscard]] std::span<const WriteRoute> write_routes();

// Why a write on this normalised route is refused under these limits, naming the body option
// that would allow it; nullopt when it is not refused at the route (its body may still be).
[[nodiscard]] std::optional<std::string> refuse_write_route(std::string_view method,
                                                            std::string_view route_path,
                                                            const WriteLimits& limits);

}  // namespace socket_proxy
