// Secrets that never leave: the daemon answers that carry environment variables (where
// passwords live) or the swarm's join tokens are rewritten before the client sees them.
//
//   GET /containers/{id}/json, /images/{name}/json    Config.Env (and ContainerConfig.Env)
//   GET /services, /services/{id}, /tasks, /tasks/{id} Spec...ContainerSpec.Env
//   GET /plugins, /plugins/{name}/json                 Settings.Env, Config.Env[].Value
//   GET /swarm                                         JoinTokens (a manager token is the cluster)
//
// Every "Env" list anywhere in those answers is rewritten (so PreviousSpec is too), keeping the
// names: DB_PASSWORD=<redacted>. Pure: bytes in, bytes out.
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

}  // namespace socket_proxy
