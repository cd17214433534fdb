// Secrets that never leave: the daemon answers that carry environment variables (where
// passwords live), build arguments, driver credentials or the swarm's join tokens are rewritten
// before the client sees them. docs/security.md is the table with a test for every row.
//
//   GET /containers/{id}/json, /images/{name}/json    Env lists, build steps in Cmd, OnBuild,
//                                                    log-driver and mount driver options
//   GET /images/{name}/history                       CreatedBy: ENV and ARG values, build args
//   GET /volumes, /volumes/{name}                    driver Options ("o": "password=...")
//   GET /services, /services/{id}, /tasks, /tasks/{id} ContainerSpec.Env, LogDriver.Options
//   GET /plugins, /plugins/{name}/json               Settings.Env, Config.Env[].Value
//   GET /swarm                                       JoinTokens (a manager token is the cluster)
//   Podman: /libpod/containers/{id}/json (CreateCommand: -e K=V), /libpod/images/{name}/json
//   (History[].created_by), /libpod/images/{name}/history, /libpod/volumes/json and
//   /libpod/volumes/{name}/json
//
// The rewrite is by key wherever it occurs in those answers (so PreviousSpec is too), keeping
// names and removing values: DB_PASSWORD=<redacted>. Options are kept only where the key is
// known to hold no credential. Pure: bytes in, bytes out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socket_proxy {

inline constexpr std::string_view redacted_value = "<redacted>";

// Whether answers to GET on this normalised route are rewritten.
[[nodiscard]] bool route_carries_secrets(std::string_view route_path);

// The rewritten JSON document, or nullopt when `body` is not JSON the proxy can read: then
// nothing may be forwarded.
[[nodiscard]] std::optional<std::string> redact_secrets(std::string_view body);

// One build step as an image's history writes it, with the values of ENV, ARG and build
// arguments removed: "/bin/sh -c #(nop)  ENV A=1" -> "/bin/sh -c #(nop)  ENV A=<redacted>",
// "RUN |1 TOKEN=x /bin/sh -c make" -> "RUN |1 TOKEN=<redacted> /bin/sh -c make".
[[nodiscard]] std::string redact_build_step(std::string_view step);

// A mount's option string ("username=svc,password=x,vers=3.0") with every value, and every
// flag, that is not known to be harmless replaced.
[[nodiscard]] std::string redact_mount_options(std::string_view options);

}  // namespace socket_proxy
