// One client connection: read head → normalise and decide → forward → relay → keep-alive or close.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "config.hpp"
#include "memory.hpp"
#include "metrics.hpp"
#include "policy.hpp"
#include "upstream.hpp"

namespace socket_proxy {

// What the server knows of its sessions, for graceful shutdown and metrics. Shared by the
// serving threads.
struct ServerState {
    std::atomic<std::size_t> open_sessions =
        0;  // counted by the acceptor, uncounted by the session
    std::atomic<std::size_t> refusing_sessions =
        0;  // connections over the limit being answered 503
    std::atomic<std::size_t> requests_in_flight =
        0;                                      // forwarded requests whose response has not ended
    std::atomic<std::size_t> open_streams = 0;  // of those, responses of unknown length and tunnels
    Metrics metrics;                            // every answered request, counted when it ends
};

// A policy swapped as a whole on reload while other threads decide by it. A mutex rather
// than std::atomic<std::shared_ptr>: libstdc++ 12's lock-bit version is one ThreadSanitizer
// cannot follow, and one uncontended lock per request costs nothing measurable.
class SharedPolicy {
  public:
    [[nodiscard]] std::shared_ptr<const Policy> load() const {
        const std::lock_guard lock(mutex_);
        return policy_;
    }
    SharedPolicy& operator=(std::shared_ptr<const Policy> policy) {
        const std::lock_guard lock(mutex_);
        policy_ = std::move(policy);
        return *this;
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Policy> policy_;
};

struct SessionContext {
    const Config& config;
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
