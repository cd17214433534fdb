// `socket-proxy check` and `socket-proxy explain`: the policy as the running proxy would load
// it, and a decision as the running proxy would make it (the same decide()).
#pragma once

#include "config.hpp"

namespace socket_proxy {

// Both print to stdout and return the exit status: 0 valid / allowed, 1 denied, 2 bad policy.
int run_check(const CommandLine& command_line, const Environment& environment);
int run_explain(const CommandLine& command_line, const Environment& environment);
// `socket-proxy learn LOGFILE`: prints the learned policy (learn.hpp); exit 0 when one was
// learned, 1 when the log holds no request to learn from, 2 when it cannot be read.
int run_learn(const CommandLine& command_line);

}  // namespace socket_proxy
