// The GET and HEAD routes of Docker and Podman, read from their routers (read_routes.hpp names the
// versions), with what each answer carries. docs/read-routes.md is this table for readers.
//
// Docker: moby api/server/router/*/ *.go (v20.10.24), daemon/server/router/ (master): every
// router.NewGetRoute and NewHeadRoute, registered bare and behind "/v{version:[0-9.]+}".
// Podman: pkg/api/server/register_*.go, every r.Handle(VersionedPath(...)).Methods(GET/HEAD);
// VersionedPath is "/v{version:[0-9][0-9A-Za-z.-]*}", and only /libpod/_ping is also bare.
// The manifests routes sit under "/v{version:[0-3]...}" and "/v{version:[4-9]...}" subrouters.
// Measured on podman 4.3.1 (Debian): every libpod row below answers as classified.
#include "read_routes.hpp"

#include <array>

namespace socket_proxy {
namespace {

using enum Carries;
using enum ReadOnlyAnswer;
constexpr Engine docker = Engine::docker;
constexpr Engine podman = Engine::podman;

constexpr std::array kReadRoutes = {
    // ---- Docker (Podman serves the same paths as its Docker-compatible API) ----
    ReadRoute{docker, "GET,HEAD", "/_ping", "/_ping", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/containers/json", "/v1.41/containers/json?all=1", metadata, allowed,
              ""},
    ReadRoute{docker, "GET", "/containers/{name:.*}/export", "/v1.41/containers/c1/export", files,
              denied, ""},
    ReadRoute{docker, "GET,HEAD", "/containers/{name:.*}/archive",
              "/v1.41/containers/c1/archive?path=/etc", files, denied, ""},
    ReadRoute{docker, "GET", "/containers/{name:.*}/attach/ws",
              "/v1.41/containers/c1/attach/ws?stream=1", output, denied, ""},
    // Names of changed paths, not their contents.
    ReadRoute{docker, "GET", "/containers/{name:.*}/changes", "/v1.41/containers/c1/changes",
              metadata, allowed, ""},
    ReadRoute{docker, "GET", "/containers/{name:.*}/json", "/v1.41/containers/c1/json", secrets,
              redacted, ""},
    // The engine runs ps with the client's ps_args; an 'e' prints every process's environment.
    ReadRoute{docker, "GET", "/containers/{name:.*}/top",
              "/v1.41/containers/c1/top?ps_args=ewwo%20pid,args", secrets, guarded, ""},
    // details=1 prefixes each line with the --log-opt env values.
    ReadRoute{docker, "GET", "/containers/{name:.*}/logs",
              "/v1.41/containers/c1/logs?stdout=1&details=1", secrets, guarded, ""},
    ReadRoute{docker, "GET", "/containers/{name:.*}/stats", "/v1.41/containers/c1/stats", metadata,
              allowed, ""},
    ReadRoute{docker, "GET", "/containers/{name:.*}/checkpoints",
              "/v1.41/containers/c1/checkpoints", metadata, allowed, ""},
    // The process's arguments (a password on a command line cannot be told apart; docs say so).
    ReadRoute{docker, "GET", "/exec/{id:.*}/json", "/v1.41/exec/e1/json", metadata, allowed, ""},
    // The daemon's own profiles and counters.
    ReadRoute{docker, "GET", "/debug/vars", "/debug/vars", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/debug/pprof/{name}", "/debug/pprof/heap", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/distribution/{name:.*}/json",
              "/v1.41/distribution/busybox:latest/json", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/images/json", "/v1.41/images/json", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/images/search", "/v1.41/images/search?term=x", metadata, allowed,
              ""},
    ReadRoute{docker, "GET", "/images/get", "/v1.41/images/get?names=busybox", files, denied, ""},
    ReadRoute{docker, "GET", "/images/{name:.*}/get", "/v1.41/images/myorg/app:1/get", files,
              denied, ""},
    // CreatedBy holds "ENV K=V" and "|1 K=V /bin/sh -c ..." for build arguments used in RUN.
    ReadRoute{docker, "GET", "/images/{name:.*}/history", "/v1.41/images/myorg/app:1/history",
              secrets, redacted, ""},
    ReadRoute{docker, "GET", "/images/{name:.*}/json", "/v1.41/images/myorg/app:1/json", secrets,
              redacted, ""},
    // statement=1: SLSA provenance, with the build's arguments and its Dockerfile.
    ReadRoute{docker, "GET", "/images/{name:.*}/attestations",
              "/v1.55/images/app/attestations?statement=1", secrets, denied, "29.6"},
    ReadRoute{docker, "GET", "/networks", "/v1.41/networks", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/networks/", "/v1.41/networks/", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/networks/{id:.+}", "/v1.41/networks/bridge", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/plugins", "/v1.41/plugins", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/plugins/{name:.*}/json", "/v1.41/plugins/vieux/sshfs/json", secrets,
              redacted, ""},
    ReadRoute{docker, "GET", "/plugins/privileges", "/v1.41/plugins/privileges?remote=x", metadata,
              allowed, ""},
    ReadRoute{docker, "GET", "/swarm", "/v1.41/swarm", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/swarm/unlockkey", "/v1.41/swarm/unlockkey", secrets, denied, ""},
    ReadRoute{docker, "GET", "/services", "/v1.41/services", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/services/{id}", "/v1.41/services/s1", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/services/{id}/logs", "/v1.41/services/s1/logs?details=1", secrets,
              guarded, ""},
    ReadRoute{docker, "GET", "/nodes", "/v1.41/nodes", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/nodes/{id}", "/v1.41/nodes/n1", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/tasks", "/v1.41/tasks", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/tasks/{id}", "/v1.41/tasks/t1", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/tasks/{id}/logs", "/v1.41/tasks/t1/logs?details=1", secrets, guarded,
              ""},
    ReadRoute{docker, "GET", "/secrets", "/v1.41/secrets", secrets, denied, ""},
    ReadRoute{docker, "GET", "/secrets/{id}", "/v1.41/secrets/x1", secrets, denied, ""},
    ReadRoute{docker, "GET", "/configs", "/v1.41/configs", files, denied, ""},
    ReadRoute{docker, "GET", "/configs/{id}", "/v1.41/configs/x1", files, denied, ""},
    ReadRoute{docker, "GET", "/events", "/v1.41/events?since=0", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/info", "/v1.41/info", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/version", "/version", metadata, allowed, ""},
    ReadRoute{docker, "GET", "/system/df", "/v1.41/system/df", metadata, allowed, ""},
    // Driver options: "o": "username=svc,password=...".
    ReadRoute{docker, "GET", "/volumes", "/v1.41/volumes", secrets, redacted, ""},
    ReadRoute{docker, "GET", "/volumes/{name:.*}", "/v1.41/volumes/v1", secrets, redacted, ""},

    // ---- Podman's libpod API ----
    ReadRoute{podman, "GET,HEAD", "/libpod/_ping", "/libpod/_ping", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/info", "/v4.3.1/libpod/info", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/version", "/v4.3.1/libpod/version", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/events", "/v4.3.1/libpod/events?stream=false", metadata,
              allowed, ""},
    ReadRoute{podman, "GET", "/libpod/system/df", "/v4.3.1/libpod/system/df", metadata, allowed,
              ""},
    ReadRoute{podman, "GET", "/libpod/swagger", "/v4.3.1/libpod/swagger", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/json", "/v4.3.1/libpod/containers/json?all=true",
              metadata, allowed, ""},
    // Container ids and where their file systems are mounted on the host.
    ReadRoute{podman, "GET", "/libpod/containers/showmounted",
              "/v4.3.1/libpod/containers/showmounted", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/stats", "/v4.3.1/libpod/containers/stats",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name}/exists",
              "/v4.3.1/libpod/containers/c1/exists", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name}/changes",
              "/v4.3.1/libpod/containers/c1/changes", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name}/stats",
              "/v4.3.1/libpod/containers/c1/stats?stream=false", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name}/export",
              "/v4.3.1/libpod/containers/c1/export", files, denied, ""},
    ReadRoute{podman, "GET,HEAD", "/libpod/containers/{name}/archive",
              "/v4.3.1/libpod/containers/c1/archive?path=/etc", files, denied, ""},
    // Config.Env, and Config.CreateCommand: the podman command line with its -e K=V.
    ReadRoute{podman, "GET", "/libpod/containers/{name}/json", "/v4.3.1/libpod/containers/c1/json",
              secrets, redacted, ""},
    // Runs ps inside the container when ps_args are not psgo descriptors.
    ReadRoute{podman, "GET", "/libpod/containers/{name}/top",
              "/v4.3.1/libpod/containers/c1/top?ps_args=eww", secrets, guarded, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name}/logs",
              "/v4.3.1/libpod/containers/c1/logs?stdout=true&details=1", secrets, guarded, ""},
    ReadRoute{podman, "GET", "/libpod/containers/{name:.*}/healthcheck",
              "/v4.3.1/libpod/containers/c1/healthcheck", runs, denied, ""},
    ReadRoute{podman, "GET", "/libpod/exec/{id}/json", "/v4.3.1/libpod/exec/e1/json", metadata,
              allowed, ""},
    // YAML with every container's env values; `podman generate kube` and `podman kube generate`.
    ReadRoute{podman, "GET", "/libpod/generate/kube", "/v4.3.1/libpod/generate/kube?names=c1",
              secrets, denied, ""},
    ReadRoute{podman, "GET", "/libpod/kube/generate", "/v4.3.1/libpod/kube/generate?names=c1",
              secrets, denied, ""},
    // With new=true the unit holds the whole podman run line, -e K=V included.
    ReadRoute{podman, "GET", "/libpod/generate/{name:.*}/systemd",
              "/v4.3.1/libpod/generate/c1/systemd?new=true", secrets, denied, ""},
    ReadRoute{podman, "GET", "/libpod/images/json", "/v4.3.1/libpod/images/json", metadata, allowed,
              ""},
    ReadRoute{podman, "GET", "/libpod/images/search", "/v4.3.1/libpod/images/search?term=x",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/images/export",
              "/v4.3.1/libpod/images/export?references=busybox", files, denied, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/get", "/v4.3.1/libpod/images/myorg/app/get",
              files, denied, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/exists",
              "/v4.3.1/libpod/images/myorg/app/exists", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/tree",
              "/v4.3.1/libpod/images/myorg/app/tree", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/resolve",
              "/v5.0.0/libpod/images/app/resolve", metadata, allowed, "5.0"},
    ReadRoute{podman, "GET", "/libpod/images/{name}/changes", "/v4.3.1/libpod/images/app/changes",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/history",
              "/v4.3.1/libpod/images/myorg/app/history", secrets, redacted, ""},
    ReadRoute{podman, "GET", "/libpod/images/{name:.*}/json",
              "/v4.3.1/libpod/images/myorg/app/json", secrets, redacted, ""},
    ReadRoute{podman, "GET", "/libpod/manifests/{name:.*}/exists",
              "/v4.3.1/libpod/manifests/list1/exists", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/manifests/{name:.*}/json",
              "/v4.3.1/libpod/manifests/list1/json", metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/networks/json", "/v4.3.1/libpod/networks/json", metadata,
              allowed, ""},
    ReadRoute{podman, "GET", "/libpod/networks/{name}", "/v4.3.1/libpod/networks/podman", metadata,
              allowed, ""},
    ReadRoute{podman, "GET", "/libpod/networks/{name}/json", "/v4.3.1/libpod/networks/podman/json",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/networks/{name}/exists",
              "/v4.3.1/libpod/networks/podman/exists", metadata, allowed, ""},
    // A pod's CreateCommand is `podman pod create ...`, which takes no environment.
    ReadRoute{podman, "GET", "/libpod/pods/json", "/v4.3.1/libpod/pods/json", metadata, allowed,
              ""},
    ReadRoute{podman, "GET", "/libpod/pods/stats", "/v4.3.1/libpod/pods/stats?all=true", metadata,
              allowed, ""},
    ReadRoute{podman, "GET", "/libpod/pods/{name}/exists", "/v4.3.1/libpod/pods/p1/exists",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/pods/{name}/json", "/v4.3.1/libpod/pods/p1/json", metadata,
              allowed, ""},
    ReadRoute{podman, "GET", "/libpod/pods/{name}/top", "/v4.3.1/libpod/pods/p1/top?ps_args=eww",
              secrets, guarded, ""},
    // showsecret=true returns the value (Podman 4.5 and later); the rest names them.
    ReadRoute{podman, "GET", "/libpod/secrets/json", "/v4.3.1/libpod/secrets/json", secrets, denied,
              ""},
    ReadRoute{podman, "GET", "/libpod/secrets/{name}/json",
              "/v4.3.1/libpod/secrets/s1/json?showsecret=true", secrets, denied, ""},
    ReadRoute{podman, "GET", "/libpod/secrets/{name}/exists", "/v4.5.0/libpod/secrets/s1/exists",
              secrets, denied, "4.5"},
    // Driver options, as Docker's volume routes.
    ReadRoute{podman, "GET", "/libpod/volumes/json", "/v4.3.1/libpod/volumes/json", secrets,
              redacted, ""},
    ReadRoute{podman, "GET", "/libpod/volumes/{name}/json", "/v4.3.1/libpod/volumes/v1/json",
              secrets, redacted, ""},
    ReadRoute{podman, "GET", "/libpod/volumes/{name}/exists", "/v4.3.1/libpod/volumes/v1/exists",
              metadata, allowed, ""},
    ReadRoute{podman, "GET", "/libpod/volumes/{name}/export", "/v5.6.0/libpod/volumes/v1/export",
              files, denied, "5.6"},
    ReadRoute{podman, "GET", "/libpod/artifacts/json", "/v5.6.0/libpod/artifacts/json", metadata,
              allowed, "5.6"},
    ReadRoute{podman, "GET", "/libpod/artifacts/{name:.*}/json",
              "/v5.6.0/libpod/artifacts/quay.io/a/b:1/json", metadata, allowed, "5.6"},
    ReadRoute{podman, "GET", "/libpod/artifacts/{name:.*}/extract",
              "/v5.6.0/libpod/artifacts/quay.io/a/b:1/extract", files, denied, "5.6"},
    ReadRoute{podman, "GET", "/libpod/quadlets/json", "/v5.7.0/libpod/quadlets/json", metadata,
              allowed, "5.7"},
    ReadRoute{podman, "GET", "/libpod/quadlets/{name}/exists",
              "/v5.8.0/libpod/quadlets/web.container/exists", metadata, allowed, "5.8"},
    ReadRoute{podman, "GET", "/libpod/quadlets/{name}/file",
              "/v5.8.0/libpod/quadlets/web.container/file", files, denied, "5.8"},
};

}  // namespace

std::span<const ReadRoute> read_routes() {
    return kReadRoutes;
}

}  // namespace socket_proxy
