// What every serving thread shares: the counts of sessions and streams, the metrics, and the
// policy in force.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>

#include "client_limiter.hpp"
#include "metrics.hpp"
#include "policy.hpp"

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
    ClientLimiter limiter;                      // rules' per-client limits; kept across reloads
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

}  // namespace socket_proxy
