// What every serving thread shares: the counts of sessions and streams, the metrics, and the
// policy in force.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
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

// A connection's copy of a SharedPolicy, and the generation it was read at.
struct HeldPolicy {
    std::shared_ptr<const Policy> policy;
    std::uint64_t generation = 0;
};

// A policy swapped as a whole on reload while other threads decide by it. A mutex rather
// than std::atomic<std::shared_ptr>: libstdc++ 12's lock-bit version is one ThreadSanitizer
// cannot follow. Requests read it through current(), which takes the mutex only after a swap:
// with a lock per request, two serving threads took turns on it, and one that lost its core
// holding it stalled the other (bench/profile: most of the futex calls under load).
class SharedPolicy {
  public:
    [[nodiscard]] std::shared_ptr<const Policy> load() const {
        const std::lock_guard lock(mutex_);
        return policy_;
    }
    // The policy in force, through the caller's copy: read again only when it was swapped.
    const std::shared_ptr<const Policy>& current(HeldPolicy& held) const {
        const std::uint64_t now = generation_.load(std::memory_order_acquire);
        if (held.generation != now) {
            const std::lock_guard lock(mutex_);
            held.policy = policy_;
            held.generation = generation_.load(std::memory_order_relaxed);
        }
        return held.policy;
    }
    SharedPolicy& operator=(std::shared_ptr<const Policy> policy) {
        const std::lock_guard lock(mutex_);
        policy_ = std::move(policy);
        generation_.fetch_add(1, std::memory_order_release);
        return *this;
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Policy> policy_;
    // Starts past HeldPolicy's 0, so a fresh copy reads once.
    std::atomic<std::uint64_t> generation_ = 1;
};

}  // namespace socket_proxy
