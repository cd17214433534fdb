// Docker's write routes, read from moby's routers (write_routes.hpp names the versions), with
// what each body or route can do to the host. Facts on what a handler reads: the handler's
// source in the same tree (postCommit decodes only the Config and drops the HostConfig;
// setPlugin takes "name.source=/path" settings of the plugin's mounts and devices;
// upgradePlugin takes the privileges list pull takes; postContainerCheckpoint writes the
// process's memory to the CheckpointDir the body names). BuildKit: dockerd grants the
// network.host entitlement unless its builder config turns it off, so a build driven through
// /grpc or /session may run steps in the host's network namespace.
#include "write_routes.hpp"

#include <algorithm>
#include <array>

#include "route.hpp"

namespace socket_proxy {
namespace {

using enum WriteHandling;
constexpr Engine docker = Engine::docker;

constexpr std::array kWriteRoutes = {
    // ---- judged ----
    WriteRoute{docker, "POST", "/containers/create", "/v1.41/containers/create", body_checked, "",
               ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/update", "/v1.41/containers/c1/update",
               body_checked, "", ""},
    // Before API 1.24 the start body is a HostConfig the engine applies.
    WriteRoute{docker, "POST", "/containers/{name:.*}/start", "/v1.23/containers/c1/start",
               body_checked, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/exec", "/v1.41/containers/c1/exec",
               body_checked, "", ""},
    WriteRoute{docker, "POST", "/services/create", "/v1.41/services/create", body_checked, "", ""},
    WriteRoute{docker, "POST", "/services/{id}/update", "/v1.41/services/s1/update", body_checked,
               "", ""},
    WriteRoute{docker, "POST", "/volumes/create", "/v1.41/volumes/create", body_checked, "", ""},
    WriteRoute{docker, "POST", "/plugins/pull", "/v1.41/plugins/pull?remote=x", body_checked, "",
               ""},
    WriteRoute{docker, "POST", "/build", "/v1.41/build?t=x", query_checked, "", ""},
    WriteRoute{docker, "POST", "/images/create", "/v1.41/images/create?fromImage=busybox",
               query_checked, "", ""},

    // ---- refused unless a rule's body option allows them ----
    WriteRoute{docker, "POST", "/grpc", "/grpc", refused, "host_namespaces",
               "opens a BuildKit session, whose builds may run steps on the host's network"},
    WriteRoute{docker, "POST", "/session", "/session", refused, "host_namespaces",
               "opens a BuildKit session, whose builds may run steps on the host's network"},
    WriteRoute{docker, "POST", "/plugins/create", "/v1.41/plugins/create?name=p", refused,
               "plugin_privileges",
               "installs a plugin from a tarball whose config grants it mounts, devices and "
               "capabilities"},
    WriteRoute{docker, "POST", "/plugins/{name:.*}/set", "/v1.41/plugins/p/set", refused,
               "plugin_privileges", "sets a plugin's mount sources and devices to host paths"},
    WriteRoute{docker, "POST", "/plugins/{name:.*}/upgrade", "/v1.41/plugins/p/upgrade?remote=x",
               refused, "plugin_privileges", "grants the upgraded plugin host privileges"},
    WriteRoute{docker, "POST", "/swarm/join", "/v1.41/swarm/join", refused, "privileged",
               "makes this node a worker of another swarm, whose managers may run any service "
               "on it"},
    WriteRoute{docker, "POST", "/containers/{name:.*}/checkpoints",
               "/v1.41/containers/c1/checkpoints", refused, "privileged",
               "dumps the container's memory into a host directory the body names"},

    // ---- a read behind a write method ----
    WriteRoute{docker, "POST", "/containers/{name:.*}/copy", "/v1.23/containers/c1/copy", files_out,
               "", "returns files of the container's file system (API before 1.24)"},

    // ---- nothing in the body reaches the host ----
    WriteRoute{docker, "POST", "/containers/{name:.*}/kill", "/v1.41/containers/c1/kill",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/pause", "/v1.41/containers/c1/pause",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/unpause", "/v1.41/containers/c1/unpause",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/restart", "/v1.41/containers/c1/restart",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/stop", "/v1.41/containers/c1/stop",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/wait", "/v1.41/containers/c1/wait",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/resize", "/v1.41/containers/c1/resize",
               not_escalating, "", ""},
    // The body is the container's stdin.
    WriteRoute{docker, "POST", "/containers/{name:.*}/attach", "/v1.41/containers/c1/attach",
               not_escalating, "", ""},
    // Detach and Tty: it runs what the exec create allowed.
    WriteRoute{docker, "POST", "/exec/{name:.*}/start", "/v1.41/exec/e1/start", not_escalating, "",
               ""},
    WriteRoute{docker, "POST", "/exec/{name:.*}/resize", "/v1.41/exec/e1/resize", not_escalating,
               "", ""},
    WriteRoute{docker, "POST", "/containers/{name:.*}/rename", "/v1.41/containers/c1/rename",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/containers/prune", "/v1.41/containers/prune", not_escalating, "",
               ""},
    // The Config of the new image; the handler drops any HostConfig.
    WriteRoute{docker, "POST", "/commit", "/v1.41/commit?container=c1", not_escalating, "", ""},
    // Files into the container, and through its binds into what the policy let it mount.
    WriteRoute{docker, "PUT", "/containers/{name:.*}/archive",
               "/v1.41/containers/c1/archive?path=/tmp", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/images/load", "/v1.41/images/load", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/images/{name:.*}/push", "/v1.41/images/app/push", not_escalating,
               "", ""},
    WriteRoute{docker, "POST", "/images/{name:.*}/tag", "/v1.41/images/app/tag?repo=x",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/images/prune", "/v1.41/images/prune", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/build/prune", "/v1.41/build/prune", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/build/cancel", "/v1.41/build/cancel?id=b", not_escalating, "", ""},
    // Driver options: a macvlan or ipvlan parent puts containers on a host network segment,
    // not in the host's namespace; "host" cannot be connected to.
    WriteRoute{docker, "POST", "/networks/create", "/v1.41/networks/create", not_escalating, "",
               ""},
    WriteRoute{docker, "POST", "/networks/{id:.*}/connect", "/v1.41/networks/n1/connect",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/networks/{id:.*}/disconnect", "/v1.41/networks/n1/disconnect",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/networks/prune", "/v1.41/networks/prune", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/plugins/{name:.*}/enable", "/v1.41/plugins/p/enable",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/plugins/{name:.*}/disable", "/v1.41/plugins/p/disable",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/plugins/{name:.*}/push", "/v1.41/plugins/p/push", not_escalating,
               "", ""},
    WriteRoute{docker, "POST", "/swarm/init", "/v1.41/swarm/init", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/swarm/leave", "/v1.41/swarm/leave", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/swarm/update", "/v1.41/swarm/update?version=1", not_escalating, "",
               ""},
    WriteRoute{docker, "POST", "/swarm/unlock", "/v1.41/swarm/unlock", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/nodes/{id}/update", "/v1.41/nodes/n1/update?version=1",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/secrets/create", "/v1.41/secrets/create", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/secrets/{id}/update", "/v1.41/secrets/s1/update?version=1",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/configs/create", "/v1.41/configs/create", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/configs/{id}/update", "/v1.41/configs/c1/update?version=1",
               not_escalating, "", ""},
    WriteRoute{docker, "POST", "/auth", "/v1.41/auth", not_escalating, "", ""},
    WriteRoute{docker, "POST", "/volumes/prune", "/v1.41/volumes/prune", not_escalating, "", ""},
    // Cluster volumes (API 1.42): the availability and access of a CSI volume.
    WriteRoute{docker, "PUT", "/volumes/{name:.*}", "/v1.42/volumes/v1?version=1", not_escalating,
               "", ""},
};

// The route as a path pattern: "{name:.*}" is "{name...}" (names may hold slashes).
PathPattern pattern_of(std::string_view route) {
    std::string pattern;
    for (std::size_t i = 0; i < route.size();) {
        if (route[i] == '{') {
            const std::size_t end = route.find('}', i);
            const std::string_view inside = route.substr(i + 1, end - i - 1);
            const std::size_t colon = inside.find(':');
            pattern +=
                "{" + std::string(inside.substr(0, colon)) +
                (colon != std::string_view::npos && inside.substr(colon) == ":.*" ? "...}" : "}");
            i = end + 1;
        } else {
            pattern += route[i++];
        }
    }
    return PathPattern::parse(pattern);
}

bool allowed_by(const WriteLimits& limits, std::string_view option) {
    for (const WriteLimitSwitch& limit : write_limit_switches()) {
        if (limit.name == option) {
            return limits.*limit.member;
        }
    }
    return false;
}

// POST /libpod/containers/{name}/start and the like, per Podman's register_containers.go and
// register_pods.go: no body, nothing but the state of what the name already is.
bool is_libpod_lifecycle_action(std::string_view route_path) {
    constexpr std::array<std::string_view, 9> container_actions{
        "start", "stop", "restart", "kill", "pause", "unpause", "wait", "resize", "init"};
    constexpr std::array<std::string_view, 6> pod_actions{"start", "stop",  "restart",
                                                          "kill",  "pause", "unpause"};
    const std::size_t last_slash = route_path.rfind('/');
    const std::string_view action = route_path.substr(last_slash + 1);
    const auto named = [&](std::string_view prefix, const auto& actions) {
        // The prefix, a name of at least one character, then the action.
        return route_path.starts_with(prefix) && last_slash > prefix.size() &&
               std::find(actions.begin(), actions.end(), action) != actions.end();
    };
    return named("/libpod/containers/", container_actions) || named("/libpod/pods/", pod_actions);
}

}  // namespace

std::span<const WriteRoute> write_routes() {
    return kWriteRoutes;
}

std::optional<std::string> refuse_write_route(std::string_view method, std::string_view route_path,
                                              const WriteLimits& limits) {
    static const std::vector<std::pair<const WriteRoute*, PathPattern>> refused_routes = [] {
        std::vector<std::pair<const WriteRoute*, PathPattern>> routes;
        for (const WriteRoute& route : kWriteRoutes) {
            if (route.handling == WriteHandling::refused) {
                routes.emplace_back(&route, pattern_of(route.route));
            }
        }
        return routes;
    }();
    // Podman's own API takes its own JSON shapes (a SpecGenerator's privileged, mounts,
    // namespaces, devices; kube YAML; checkpoint and restore paths on the host), which the
    // body checks do not read. Removing, and the lifecycle actions, which take no body, are
    // harmless; every other write needs the rule to say so.
    if (route_path.starts_with("/libpod/") && method != "GET" && method != "HEAD" &&
        method != "DELETE" && !limits.libpod_writes && !is_libpod_lifecycle_action(route_path)) {
        return std::string(
            "is a write of Podman's own API, whose bodies the proxy does not "
            "check (body.libpod_writes)");
    }
    for (const auto& [route, pattern] : refused_routes) {
        if (method == route->method && pattern.matches(route_path) &&
            !allowed_by(limits, route->allowed_by)) {
            return std::string(route->why) + " (body." + std::string(route->allowed_by) + ")";
        }
    }
    return std::nullopt;
}

}  // namespace socket_proxy
