// Reads whose query makes the daemon print secret values into an answer the proxy cannot clean:
// they are refused before they reach it, whatever rule allowed them.
//
//   GET /containers/{id}/top?ps_args=   the daemon runs ps with these arguments; BSD `e` prints
//                                       every process's environment. Only a known-safe set of
//                                       options passes (check_ps_args).
//   GET /containers/{id}/logs?details=1 every line is prefixed with the --log-opt env= and
//                                       labels= values. Only a false `details` passes.
//
// Also /services/{id}/logs, /tasks/{id}/logs (details), and Podman's /libpod/containers/{id}/top,
// /libpod/pods/{id}/top and /libpod/containers/{id}/logs. Pure: strings in, a reason out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socket_proxy {

// Why the proxy refuses this read, or nullopt when it may be forwarded. `route_path` is the
// normalised path, `query` the raw query. A form-encoded body could override the query
// (Request::form_body): then a guarded read is refused on doubt.
[[nodiscard]] std::optional<std::string> refuse_read(std::string_view method,
                                                     std::string_view route_path,
                                                     std::string_view query, bool form_body);

// Why these ps arguments could print an environment, or nullopt when they cannot.
[[nodiscard]] std::optional<std::string> check_ps_args(std::string_view ps_args);

// Whether the daemon reads this query value as true (moby's httputils.BoolValue: anything but
// "", "0", "no", "false" and "none", trimmed and in any case). Deny on doubt: a value whose
// spaces or letters are not ASCII counts as true.
[[nodiscard]] bool daemon_reads_true(std::string_view value);

}  // namespace socket_proxy
