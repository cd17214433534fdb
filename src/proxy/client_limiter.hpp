// The per-client limits of every serving thread: one table behind one lock, so that a client
// gets its rule's allowance once, however many threads serve it. The lock is held for one hash
// lookup per request that a rule with `limits:` allowed; other requests never take it.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "client_limits.hpp"

namespace socket_proxy {

class ClientLimiter;

// An admitted request's concurrent (and stream) slot, given back when the request ends, on
// every path: its answer ended, the client left, the daemon failed, an exception unwound.
class LimitHold {
  public:
    LimitHold(ClientLimiter& limiter, std::string rule, std::string client, bool stream) noexcept
        : limiter_(limiter), rule_(std::move(rule)), client_(std::move(client)), stream_(stream) {}
    ~LimitHold();
    LimitHold(const LimitHold&) = delete;
    LimitHold& operator=(const LimitHold&) = delete;

  private:
    ClientLimiter& limiter_;
    std::string rule_;
    std::string client_;
    bool stream_;
};

class ClientLimiter {
  public:
    explicit ClientLimiter(std::size_t max_entries = LimitTable::default_max_entries)
        : table_(max_entries) {}

    // Admits the request of `client_key` under `rule`'s limits, or says which limit refused
    // it; when admitted, `hold` keeps its slots until the request ends.
    Admission admit(std::string rule, std::string client_key, const ClientLimits& limits,
                    bool stream, std::optional<LimitHold>& hold);

  private:
    friend class LimitHold;
    void release(const std::string& rule, const std::string& client, bool stream);

    std::mutex mutex_;
    LimitTable table_;
};

}  // namespace socket_proxy
