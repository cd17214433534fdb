// Giving up root once the listeners exist, and checking that what is left can reach the daemon.
#pragma once

#include <string>

#include "config.hpp"

namespace socket_proxy {

// Started as root: keep only the Docker socket's group as supplementary group (so the daemon
// stays reachable), switch to config.uid:config.gid, empty the capability bounding set and set
// no_new_privs. Started as another user: only no_new_privs. Throws StartupError.
// Returns a sentence describing what was done, for the start-up log.
std::string drop_privileges(const Config& config);

enum class DaemonSocketState { reachable, unreachable, permission_denied };

struct DaemonSocketCheck {
    DaemonSocketState state = DaemonSocketState::reachable;
    // For permission_denied: the one-line error with the compose line that fixes it.
    // For unreachable: why, for a warning (the proxy starts anyway and answers 502).
    std::string message;
};

// Connects once to the daemon socket with the process's current identity.
DaemonSocketCheck check_daemon_socket(const std::string& path);

}  // namespace socket_proxy
