// What an allowed write may ask for in its body: `POST /containers/create` with
// `"Privileged": true` or a bind mount of `/` is root on the host, so a rule that allows such a
// route allows only bodies within its limits. Pure: no I/O.
//
// The checks read the body as the daemon's Go decoder does (facts measured on Docker 20.10):
// field names match case-insensitively, with Unicode folding ("privileged", "Bindſ" are
// Privileged and Binds); of two keys that fold alike the last wins; and HostConfig's fields
// are also read at the top level of a create body when "HostConfig" is absent. So a body
// with keys that fold alike is refused, and both places are checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "label_scope.hpp"
#include "write_limits.hpp"

namespace socket_proxy {

// The routes whose request says what the daemon will run or mount.
enum class WriteKind {
    none,
    container_create,  // POST /containers/create: JSON, Config + HostConfig
    container_update,  // POST /containers/{id}/update: JSON, resources and restart policy
    container_start,   // POST /containers/{id}/start: before API 1.24, a HostConfig body
    exec_create,       // POST /containers/{id}/exec: JSON, User, Privileged
    service_write,     // POST /services/create, /services/{id}/update: JSON, TaskTemplate
    volume_create,     // POST /volumes/create: JSON, Driver, DriverOpts
    plugin_pull,       // POST /plugins/pull: JSON array of privileges granted
    image_create,      // POST /images/create: the query (fromImage, fromSrc); body a tarball
    build,             // POST /build: the query (remote, networkmode); body a tar context
    // Held under owner rules only (owner_write_kind()), for the owner's label and references:
    network_create,  // POST /networks/create: JSON, Labels
    network_attach,  // POST /networks/{id}/connect, /disconnect: JSON, Container
};

// Which kind a request is; routes are normalised (no version prefix).
[[nodiscard]] WriteKind write_kind(std::string_view method, std::string_view route_path);

// write_kind(), and under an owner rule also the network writes whose bodies it holds.
[[nodiscard]] WriteKind owner_write_kind(std::string_view method, std::string_view route_path);

// The creates an owner rule stamps with the owner's label: containers, volumes, networks.
[[nodiscard]] bool creates_object(WriteKind kind);

// Whether the kind's body is JSON the proxy holds and reads before forwarding.
[[nodiscard]] bool write_body_is_checked(WriteKind kind);

// nullopt when the request is within the limits, else the refusal (a reference only the engine
// can resolve is refused here: judge_write_body() is the session's way), whose reason names the
// field and the setting that would allow it, e.g. `HostConfig.Privileged is true
// (body.privileged)`. `query` is the raw query string; `body` the whole body (empty for the
// query-only kinds).
[[nodiscard]] std::optional<WriteRefusal> judge_write(WriteKind kind, std::string_view query,
                                                      std::string_view body,
                                                      const WriteLimits& limits);

struct WriteJudgement {
    std::optional<WriteRefusal> refusal;
    // Without a refusal: every reference must pass judge_reference() before forwarding.
    std::vector<EngineReference> references;
};

// judge_write() for the session, which asks the engine about the references itself.
[[nodiscard]] WriteJudgement judge_write_body(WriteKind kind, std::string_view query,
                                              std::string_view body, const WriteLimits& limits);

// The engine's route that describes a reference ("/containers/X/json", "/networks/X",
// "/volumes/X"); it resolves names, ids and id prefixes as the engine does when it creates the
// container or service.
[[nodiscard]] std::string reference_target(const EngineReference& reference);

// What kind of object a reference names.
[[nodiscard]] ScopedObject reference_object(const EngineReference& reference);

// The refusal the engine's answer to reference_target() calls for: the container's own mode is
// the host's or joins another container's, the network is the host's, the engine does not
// know it (403); an answer the proxy cannot read (502). nullopt when it may be forwarded.
[[nodiscard]] std::optional<WriteRefusal> judge_reference(const EngineReference& reference,
                                                          unsigned status, std::string_view answer);

// The body with each borrowed namespace's container named by the full id the engine resolved
// it to (`container:agent` -> `container:<64 hex>`), so that a container renamed to that name
// between the question and the create is not the one joined; nullopt when the body cannot be
// written back. The engine stores the full id itself, so the create means the same.
[[nodiscard]] std::optional<std::string> pin_borrowed_namespaces(
    std::string_view body, const std::vector<std::pair<EngineReference, std::string>>& resolved);

// What a body names that an owner rule requires to be the client's own (kinds volume,
// container and network, resolved by the engine): in a container create (and a pre-1.24 start)
// the named volumes of Binds and Mounts, VolumesFrom's containers, NetworkMode's network and
// the networks of NetworkingConfig.EndpointsConfig (by key, or by the NetworkID the engine
// prefers to it); a connect's or disconnect's Container and EndpointConfig.NetworkID; a volume
// create's Name, when that volume exists (the engine answers with its description). The
// built-in networks (bridge, host, none, default) are no one's and pass unnamed. A refusal
// for what cannot be checked (a network created from another's ConfigFrom).
[[nodiscard]] WriteJudgement owned_references(WriteKind kind, std::string_view body);

// The body an owner rule forwards: a create's Labels with `owner` set, whatever the client
// wrote there (a client cannot pass for another owner), and so the Labels of the volumes a
// container's Mounts create; the containers and networks owned_references() named pinned to
// the ids `resolved` holds, so that a rename or a new object of the same name between the
// question and the create (or the container's start, which resolves its networks again) is
// not the one used. nullopt when the body cannot be written back.
[[nodiscard]] std::optional<std::string> owner_body(
    WriteKind kind, std::string_view body, const LabelSelector& owner,
    const std::vector<std::pair<EngineReference, std::string>>& resolved);

// judge_write()'s reason alone, for the query-only kinds, whose refusals are all 403.
[[nodiscard]] std::optional<std::string> refuse_write(WriteKind kind, std::string_view query,
                                                      std::string_view body,
                                                      const WriteLimits& limits);

// Whether an exec `User` runs as uid 0, read as the engine reads it (moby's getUser, then
// runc's user.GetExecUserPath; measured on Docker 20.10, see exec_user.cpp): the part before
// the first ':' is the user; empty means uid 0; a Go strconv.Atoi number ("+0", "-0", "00")
// is a uid; anything else a name in the container's /etc/passwd, of which only "root" is
// known to be 0. An empty `User` as a whole is the container's own user, decided at create.
[[nodiscard]] bool exec_user_is_root(std::string_view user);

// Go's strconv.Atoi on 64-bit: an optional sign, then at least one decimal digit, within
// int64; nullopt where Go returns an error.
[[nodiscard]] std::optional<std::int64_t> go_atoi(std::string_view text);

// Why a rule's bind_sources cannot be held safely, or nullopt: an entry that is no clean
// absolute path, or two entries one of which contains the other (an entry admits exactly
// itself, and "DIR/**" read-only mounts below DIR; a container that may write one entry could
// otherwise plant a symlink at the other).
[[nodiscard]] std::optional<std::string> bind_sources_problem(
    const std::vector<std::string>& entries);

// A capability as the daemon reads CapAdd: any case, with or without "CAP_":
// "cap_net_admin" -> "NET_ADMIN". Rules' `capabilities` lists are kept in this form.
[[nodiscard]] std::string capability_name(std::string_view name);

// "nginx" -> "docker.io/library/nginx", "me/app:1" -> "docker.io/me/app",
// "ghcr.io/me/app@sha256:..." -> "ghcr.io/me/app": the repository an image reference names.
[[nodiscard]] std::string image_repository(std::string_view reference);

}  // namespace socket_proxy
