// `socket-proxy check` and `socket-proxy explain`: the policy as the running proxy would load
// it, and a decision as the running proxy would make it (the same decide()).
#pragma once

#include <optional>
#include <string>

#include "config.hpp"
#include "policy.hpp"

namespace socket_proxy {

// explain's --client: a peer form ("unix:uid=N,gid=N", "tcp:ADDRESS", "tls:cn=NAME,...", empty
// for the proxy's own uid:gid), and the listener it came through: ",listener=NAME" in any form,
// "listener:NAME" alone (a unix client with the proxy's uid:gid, or a TCP client from
// 127.0.0.1), else the default listener of its transport.
struct ExplainClient {
    std::optional<Client> client;  // nullopt: not a client form
    std::string listener_problem;  // a listener the configuration does not give, or another kind
};
[[nodiscard]] ExplainClient parse_explain_client(std::string spec, const Config& config);

// Both print to stdout and return the exit status: 0 valid / allowed, 1 denied, 2 bad policy.
int run_check(const CommandLine& command_line, const Environment& environment);
int run_explain(const CommandLine& command_line, const Environment& environment);
// `socket-proxy learn LOGFILE`: prints the learned policy (learn.hpp); exit 0 when one was
// learned, 1 when the log holds no request to learn from, 2 when it cannot be read.
int run_learn(const CommandLine& command_line);

}  // namespace socket_proxy
