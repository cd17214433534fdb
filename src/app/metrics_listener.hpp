// The Prometheus endpoint (SOCKET_PROXY_METRICS): GET /metrics on a TCP listener of its own.
// It is not a way to the daemon: it answers from the proxy's own counters and a HEAD /_ping
// of the engine per scrape, so the policy does not apply to it.
#pragma once

#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "daemon_pool.hpp"
#include "server_state.hpp"
#include "units.hpp"

namespace socket_proxy {

struct MetricsContext {
    ServerState& state;
    DaemonPool& daemons;                   // this thread's: the engine is pinged through it
    std::vector<const DaemonPool*> pools;  // every serving thread's, for the gauges
    Duration engine_ping_timeout;
};

// Accepts scrapers until the acceptor is closed.
boost::asio::awaitable<void> serve_metrics(boost::asio::ip::tcp::acceptor& acceptor,
                                           MetricsContext context);

}  // namespace socket_proxy
