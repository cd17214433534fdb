// Giving up root once the listeners exist.
#pragma once

#include <string>

#include "config.hpp"

namespace socket_proxy {

// Started as root: keep only the Docker socket's group as supplementary group (so the daemon
// stays reachable), switch to config.uid:config.gid, empty the capability bounding set and set
// no_new_privs. Started as another user: only no_new_privs. Throws StartupError.
// Returns a sentence describing what was done, for the start-up log.
std::string drop_privileges(const Config& config);

}  // namespace socket_proxy
