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

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socket_proxy {

// The routes whose request says what the daemon will run or mount.
enum class WriteKind {
    none,
    container_create,  // POST /containers/create: JSON, Config + HostConfig
    container_update,  // POST /containers/{id}/update: JSON, resources and restart policy
    exec_create,       // POST /containers/{id}/exec: JSON, User, Privileged
    service_write,     // POST /services/create, /services/{id}/update: JSON, TaskTemplate
    volume_create,     // POST /volumes/create: JSON, Driver, DriverOpts
    plugin_pull,       // POST /plugins/pull: JSON array of privileges granted
    image_create,      // POST /images/create: the query (fromImage, fromSrc); body a tarball
    build,             // POST /build: the query (remote, networkmode); body a tar context
};

// Which kind a request is; routes are normalised (no version prefix).
[[nodiscard]] WriteKind write_kind(std::string_view method, std::string_view route_path);

// Whether the kind's body is JSON the proxy holds and reads before forwarding.
[[nodiscard]] bool write_body_is_checked(WriteKind kind);

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
    std::vector<std::string> bind_sources;  // host directories binds and volume devices may use
    bool volumes_from = false;
    bool exec_root = false;           // exec with User root or 0
    std::vector<std::string> images;  // repositories ("docker.io/library/nginx", "ghcr.io/me/*");
                                      // empty: any image
    bool remote_build = false;        // /build?remote=
    bool image_import = false;        // /images/create?fromSrc=
    bool plugin_privileges = false;   // a plugin granted host privileges
    std::size_t max_body_bytes = 1024 * 1024;
};

// nullopt when the request is within the limits, else the reason, naming the field and the
// setting that would allow it, e.g. `HostConfig.Privileged is true (body.privileged)`.
// `query` is the raw query string; `body` the whole body (empty for the query-only kinds).
[[nodiscard]] std::optional<std::string> refuse_write(WriteKind kind, std::string_view query,
                                                      std::string_view body,
                                                      const WriteLimits& limits);

// A capability as the daemon reads CapAdd: any case, with or without "CAP_":
// "cap_net_admin" -> "NET_ADMIN". Rules' `capabilities` lists are kept in this form.
[[nodiscard]] std::string capability_name(std::string_view name);

// The limits that differ from the safe defaults, as `check` lists them:
// "privileged bind_sources=/srv/app capabilities=NET_ADMIN max_size=2MiB"; "defaults".
[[nodiscard]] std::string describe_write_limits(const WriteLimits& limits);

// "nginx" -> "docker.io/library/nginx", "me/app:1" -> "docker.io/me/app",
// "ghcr.io/me/app@sha256:..." -> "ghcr.io/me/app": the repository an image reference names.
[[nodiscard]] std::string image_repository(std::string_view reference);

}  // namespace socket_proxy
