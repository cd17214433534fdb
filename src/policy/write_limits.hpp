// A rule's `body:` limits, and what judging a write's body against them yields: a refusal, or
// the references only the engine can resolve. Pure: no I/O.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace socket_proxy {

// A rule's `body:` settings. The defaults are the safe ones every allowing rule gets.
struct WriteLimits {
    bool privileged = false;                // Privileged in HostConfig and exec
    bool host_namespaces = false;           // NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode,
                                            // CgroupnsMode "host"; a service on the "host" network
    std::vector<std::string> capabilities;  // CapAdd allowed, as "NET_ADMIN"; "ALL" for any
    bool devices = false;                   // Devices, DeviceCgroupRules, DeviceRequests
    bool unconfined = false;  // SecurityOpt beyond no-new-privileges/apparmor/label types,
                              // Masked/ReadonlyPaths without Docker's defaults, service
                              // Privileges
    // Host paths mounts may name: "/srv/app" exactly (read-write), "/srv/app/**" that and
    // anything below it, read-only. No entry contains another.
    std::vector<std::string> bind_sources;
    bool volumes_from = false;
    bool links = false;      // Links: the engine copies the linked container's environment (its
                             // secrets too) into the new one, where logs and exec can read it
    bool exec_root = false;  // exec as uid 0, as exec_user_is_root() reads User
    std::vector<std::string> images;   // repositories ("docker.io/library/nginx", "ghcr.io/me/*");
                                       // empty: any image
    bool remote_build = false;         // /build?remote=
    bool image_import = false;         // /images/create?fromSrc=
    bool plugin_privileges = false;    // a plugin granted host privileges
    bool remote_mounts = false;        // local-driver volumes of a network file system (nfs, cifs)
    bool libpod_writes = false;        // Podman's own write routes, whose bodies are not checked
    std::vector<std::string> secrets;  // swarm secrets a service may mount, by SecretName
    std::vector<std::string> configs;  // swarm configs a service may mount, by ConfigName
    std::size_t max_body_bytes = 1024 * 1024;
};

// The yes-or-no settings of a rule's `body:`, by the name a policy file gives them: the one
// list the policy file reader, `check`'s description and the route refusals go by.
struct WriteLimitSwitch {
    std::string_view name;
    bool WriteLimits::*member;
};
[[nodiscard]] std::span<const WriteLimitSwitch> write_limit_switches();

// The shape a held body may have, so that reading it stays linear in its size. Docker's
// deepest body (a service's TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.DriverConfig
// .Options) nests 8 levels; its largest free-form objects are Labels and driver options, which
// hold dozens of keys. Deeper is refused with 400, more keys in one object with 413.
inline constexpr std::size_t max_body_depth = 64;
inline constexpr std::size_t max_object_keys = 10'000;

// Why a write is refused, and the status that says so: 403 for what the limits do not allow
// (and for a body that is not JSON), 400 for one nested deeper than max_body_depth, 413 for
// one with more than max_object_keys keys in an object.
struct WriteRefusal {
    int status = 403;
    std::string reason;
};

// What a body names that only the engine can tell apart: a container whose namespace it joins
// (`NetworkMode: container:X`, which is the host's when X runs with the host's), a network a
// service attaches to (the host network by its id or an id prefix); under an owner rule, the
// volumes, containers and networks a body uses, which must be the client's own.
struct EngineReference {
    enum class Kind { namespace_owner, network, volume, container };
    Kind kind = Kind::namespace_owner;
    std::string where;  // the field, for the refusal: "HostConfig.NetworkMode"
    std::string name;   // the container or network as the body names it
    std::string mode;   // namespace_owner: X's HostConfig field to read, e.g. "NetworkMode"
    // A volume create's Name under an owner rule: an absent volume is made, but the engine
    // answers a create of an existing one with that one's description, so it must be the
    // client's own.
    bool may_be_absent = false;
};

// The limits that differ from the safe defaults, as `check` lists them:
// "privileged bind_sources=/srv/app capabilities=NET_ADMIN max_size=2MiB"; "defaults".
[[nodiscard]] std::string describe_write_limits(const WriteLimits& limits);

}  // namespace socket_proxy
