// Label-scoped visibility: a rule that shows a client only the containers carrying given labels
// (traefik.enable=true). For that client the other containers do not exist:
//
//   GET /containers/json              the daemon's list, with the others taken out
//   GET /events                       container events of visible containers only; no other
//                                     event type (a network or volume event names containers)
//   /containers/{ref}/... , DELETE /containers/{ref}
//                                     the proxy first asks the daemon which container {ref}
//                                     (id, id prefix or name) is; an invisible one is answered
//                                     404 as if absent, a visible one is forwarded under its
//                                     full id, so a rename in between cannot swap it
//
// Any other route under such a rule is refused: the proxy cannot tell what it would reveal.
// Pure: bytes in, bytes out; the session does the lookups.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "target.hpp"

namespace socket_proxy {

// "traefik.enable=true" (that value) or "traefik.enable" (any value).
struct LabelSelector {
    std::string key;
    std::optional<std::string> value;

    // nullopt with `problem` set when `text` is not a selector the proxy can hold to.
    [[nodiscard]] static std::optional<LabelSelector> parse(std::string_view text,
                                                            std::string& problem);
    [[nodiscard]] std::string text() const;
};

enum class ScopedRouteKind { container_list, events, container };

struct ScopedRoute {
    ScopedRouteKind kind = ScopedRouteKind::container_list;
    std::string container;  // kind container: the reference as the client wrote it (decoded)
    std::string endpoint;   // kind container: "json", "logs", "attach/ws"; empty for DELETE
};

// How a request under a label-scoped rule is narrowed, or nullopt when it cannot be.
[[nodiscard]] std::optional<ScopedRoute> scoped_route(std::string_view method,
                                                      std::string_view route_path);

// The daemon's answer to GET /containers/json without the invisible containers, or nullopt
// when it is not the JSON list the proxy expects (then nothing may be forwarded).
[[nodiscard]] std::optional<std::string> filter_container_list(
    std::string_view body, const std::vector<LabelSelector>& labels);

enum class EventVisibility { visible, hidden, unreadable };

// One line of the /events stream (a JSON object).
[[nodiscard]] EventVisibility event_visibility(std::string_view event,
                                               const std::vector<LabelSelector>& labels);

struct ContainerIdentity {
    std::string id;  // the full id
    bool visible = false;
};

// Reads the daemon's answer to GET /containers/{ref}/json; nullopt when it is not readable.
[[nodiscard]] std::optional<ContainerIdentity> read_container_identity(
    std::string_view inspect_body, const std::vector<LabelSelector>& labels);

// The target to forward: the container reference replaced by its full id, the version prefix
// and the query kept as the client wrote them.
[[nodiscard]] Target pinned_target(const Target& target, const ScopedRoute& route,
                                   std::string_view id);

}  // namespace socket_proxy
