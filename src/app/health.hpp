// `socket-proxy healthcheck`: the container's HEALTHCHECK, built into the binary because the
// image has no shell and no curl.
#pragma once

#include "config.hpp"

namespace socket_proxy {

// GET /_ping through the proxy's own unix socket; 0 only on "200 OK", so the check also
// fails when the engine behind the proxy is down. Prints one line on failure.
int run_healthcheck(const Config& config);

}  // namespace socket_proxy
