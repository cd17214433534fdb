// Label-scoped visibility: a rule that shows a client only the containers carrying given labels
// (traefik.enable=true). For that client the other containers do not exist:
//
//   GET /containers/json              the daemon's list, with the others taken out
//   GET /events                       container events of visible containers only; no other
//                                     event type (a network or volume event names containers
//                                     and carries no labels)
//   /containers/{ref}/... , DELETE /containers/{ref}
//                                     the proxy first asks the daemon which container {ref}
//                                     (id, id prefix or name) is; an invisible one is answered
//                                     404 as if absent, a visible one is forwarded under its
//                                     full id, so a rename in between cannot swap it
//   /exec/{id}/start, /resize, /json  an exec instance is its container's: the proxy asks the
//                                     daemon which container it runs in, then as above
//
// An owner rule (policy.hpp) narrows volumes and networks the same way: their lists, GET and
// DELETE of one (a network also by id prefix, forwarded under its full id), a network's
// connect and disconnect; and a prune gets the owner's label as one more filter, which the
// daemon ANDs with the client's.
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

enum class ScopedRouteKind {
    container_list,  // GET /containers/json
    volume_list,     // GET /volumes (owner rules)
    network_list,    // GET /networks, /networks/ (owner rules)
    events,          // GET /events
    container,       // one container's routes
    volume,          // GET, DELETE /volumes/{name} (owner rules)
    network,         // GET, DELETE /networks/{ref}, POST .../connect, .../disconnect (owner rules)
    exec,            // POST /exec/{id}/start, /resize, GET /exec/{id}/json: its container decides
    prune,           // POST /containers/prune, /volumes/prune, /networks/prune (owner rules)
};

// The objects a scope narrows; each resolves its references its own way at the daemon.
enum class ScopedObject { container, volume, network, exec };

struct ScopedRoute {
    ScopedRouteKind kind = ScopedRouteKind::container_list;
    // container, volume, network: the reference as the client wrote it (decoded)
    std::string reference;
    // container, network: "json", "logs", "attach/ws", "connect"; empty for DELETE and a
    // volume's or network's own GET
    std::string endpoint;
};

// How a request under a label-scoped rule is narrowed, or nullopt when it cannot be.
// `owner`: the rule is an owner rule, which narrows volumes, networks and prunes too.
[[nodiscard]] std::optional<ScopedRoute> scoped_route(std::string_view method,
                                                      std::string_view route_path,
                                                      bool owner = false);

// The objects of a list kind or of a one-object kind.
[[nodiscard]] ScopedObject scoped_object(ScopedRouteKind kind);

// A kind about one object (a container, volume, network, exec instance), which the daemon is
// asked about before the request is forwarded under the object's full id.
[[nodiscard]] bool names_one_object(ScopedRouteKind kind);

// "container", "volume", "network": for messages.
[[nodiscard]] std::string_view object_noun(ScopedObject object);

// The daemon's own 404 message for an object it does not have (Docker 20.10's words):
// "No such container: X", "get X: no such volume", "network X not found".
[[nodiscard]] std::string absent_message(ScopedObject object, std::string_view reference);

// The daemon's answer to a list (GET /containers/json, /volumes, /networks) without the
// invisible objects, or nullopt when it is not the JSON the proxy expects (then nothing may be
// forwarded). /volumes answers {"Volumes": [...], "Warnings": ...}, the others a list.
[[nodiscard]] std::optional<std::string> filter_list(ScopedRouteKind list, std::string_view body,
                                                     const std::vector<LabelSelector>& labels);

enum class EventVisibility { visible, hidden, unreadable };

// One line of the /events stream (a JSON object).
[[nodiscard]] EventVisibility event_visibility(std::string_view event,
                                               const std::vector<LabelSelector>& labels);

struct ObjectIdentity {
    std::string id;  // a container's, network's or exec instance's full id, a volume's name
    bool visible = false;
    // An exec instance carries no labels: it is visible when this container is (look it up).
    std::string container;
};

// The daemon's route that describes one object, resolving `reference` as the routes on it do:
// "/containers/X/json", "/volumes/X", "/networks/X".
[[nodiscard]] std::string describe_target(ScopedObject object, std::string_view reference);

// Reads the daemon's answer to describe_target(); nullopt when it is not readable.
[[nodiscard]] std::optional<ObjectIdentity> read_identity(ScopedObject object,
                                                          std::string_view description,
                                                          const std::vector<LabelSelector>& labels);

// The target to forward: the reference replaced by the object's full id (a volume's name), the
// version prefix and the query kept as the client wrote them.
[[nodiscard]] Target pinned_target(const Target& target, const ScopedRoute& route,
                                   std::string_view id);

// The query of a prune with `owner` added to its `filters` as a label filter, which the daemon
// ANDs with the client's own label filters; every other parameter kept as written. nullopt when
// the query or its filters cannot be read as the daemon reads them.
[[nodiscard]] std::optional<std::string> narrowed_prune_query(std::string_view query,
                                                              const LabelSelector& owner);

}  // namespace socket_proxy
