// Start-up and the accept loops: bind → drop privileges → check the daemon → listen → serve
// until SIGTERM/SIGINT; SIGHUP reloads the policy file.
#pragma once

#include "config.hpp"

namespace socket_proxy {

// Returns the process exit code: 0 after a clean stop, 1 when start-up failed.
int run_server(const Config& config, const Environment& environment);

}  // namespace socket_proxy
