// One client connection: read head → normalise and decide → forward → relay → keep-alive or close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>

#include "config.hpp"
#include "policy.hpp"
#include "upstream.hpp"

namespace socket_proxy {

// What the server knows of its sessions, for graceful shutdown (and, later, metrics).
struct ServerState {
    std::size_t open_sessions = 0;
    std::size_t requests_in_flight = 0;  // forwarded requests whose response has not ended
    std::size_t open_streams = 0;        // of those, responses of unknown length and tunnels
};

struct SessionContext {
    const Config& config;
    // Swapped as a whole on reload; each request keeps the policy it was decided under.
    const std::shared_ptr<const Policy>& policy;
    DaemonPool& daemons;
    ServerState& state;
};

// Protocol is boost::asio::ip::tcp or boost::asio::local::stream_protocol.
template <class Protocol>
boost::asio::awaitable<void> run_session(typename Protocol::socket client, Client identity,
                                         SessionContext context);

}  // namespace socket_proxy
