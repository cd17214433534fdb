// One client connection: read head → normalise and decide → forward → relay → keep-alive or close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "daemon_pool.hpp"
#include "memory.hpp"
#include "policy.hpp"
#include "server_state.hpp"
#include "units.hpp"

namespace socket_proxy {

// What a client may make a session hold or wait for, and how long the daemon may take.
struct SessionLimits {
    std::size_t max_head_bytes = 0;     // request line + header block
    std::size_t max_header_fields = 0;  // header lines
    Duration head_timeout{};            // first byte (or accept) to complete head; 0: none
    Duration idle_timeout{};            // idle keep-alive client connection; 0: none
    Duration daemon_timeout{};          // daemon connect + answer head; 0: none
};

struct SessionContext {
    const SessionLimits& limits;
    // Each request keeps the policy it was decided under.
    const SharedPolicy& policy;
    // SOCKET_PROXY_MODE=audit: every request is also decided by this candidate, and logged
    // with its verdict; null otherwise.
    const SharedPolicy& audit_policy;
    DaemonPool& daemons;  // the serving thread's own
    ServerState& state;
    MemoryTrimmer& memory;
};

// Protocol is boost::asio::ip::tcp or boost::asio::local::stream_protocol.
template <class Protocol>
boost::asio::awaitable<void> run_session(typename Protocol::socket client, Client identity,
                                         SessionContext context);

// The complete answer to a connection the proxy will not serve (503 over the limit, 403
// outside SOCKET_PROXY_ALLOW_FROM): Docker-style JSON that closes the connection. Written before
// any request is read.
[[nodiscard]] std::string refusal_response(int status, const std::string& message);

// Writes that answer, half-closes, and drains what the client sends for a moment so that the
// close does not reset the answer away; then closes. Bounded in time whatever the client does.
template <class Protocol>
boost::asio::awaitable<void> refuse_connection(typename Protocol::socket client,
                                               std::string response, ServerState& state);

}  // namespace socket_proxy
