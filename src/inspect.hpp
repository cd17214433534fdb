// `socket-proxy check` and `socket-proxy explain`: the policy as the running proxy would load
// it, and a decision as the running proxy would make it (the same decide()).
#pragma once

#include "config.hpp"

namespace socket_proxy {

// Both print to stdout and return the exit status: 0 valid / allowed, 1 denied, 2 bad policy.
int run_check(const CommandLine& command_line, const Environment& environment);
int run_explain(const CommandLine& command_line, const Environment& environment);

}  // namespace socket_proxy
