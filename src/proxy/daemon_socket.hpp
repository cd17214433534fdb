// Whether the proxy, as the user it runs as, can open the engine's socket; and when it cannot,
// the one line that says who owns the socket and which compose setting fixes it. Asked at
// start-up and again whenever a connect is refused.
#pragma once

#include <string>

namespace socket_proxy {

enum class DaemonSocketState { reachable, unreachable, permission_denied };

struct DaemonSocketCheck {
    DaemonSocketState state = DaemonSocketState::reachable;
    // For permission_denied: the one-line error with the compose line that fixes it.
    // For unreachable: why, for a warning (the proxy starts anyway and answers 502).
    std::string message;
};

// Connects once to the daemon socket with the process's current identity.
DaemonSocketCheck check_daemon_socket(const std::string& path);

// The process's supplementary groups, "1,2,3" or "none", for messages about access.
[[nodiscard]] std::string describe_groups();

}  // namespace socket_proxy
