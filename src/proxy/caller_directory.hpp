// Which container a client runs in, asked of the engine only when a rule selects clients by
// container (caller_container.hpp has the pure part and why an address is a weaker identity
// than a socket).
//
// A TCP client: the owner of its source address in the engine's list of running containers,
// kept current from /events and reloaded on a miss, so that a container's first request right
// after it started is known; a cached owner is believed only after the engine confirms, for
// this connection, that the container still runs and holds the address.
// A unix client: the container its process's cgroup names (read at accept), confirmed running.
// Looked up once per connection, at its first request a rule needs it for.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>

#include "caller_container.hpp"
#include "daemon_pool.hpp"
#include "policy.hpp"
#include "units.hpp"

namespace socket_proxy {

class CallerDirectory {
  public:
    // The events are followed on `executor` through `daemons` (the main thread's), from the
    // first identification on: a proxy whose rules never ask keeps no stream open.
    CallerDirectory(Duration timeout, boost::asio::any_io_executor executor, DaemonPool& daemons)
        : timeout_(timeout), executor_(std::move(executor)), follower_daemons_(daemons) {}

    // The container `client` runs in, or null when it is not one the engine runs (or the
    // engine cannot say). Any serving thread; `daemons` is that thread's.
    boost::asio::awaitable<std::shared_ptr<const CallerContainer>> identify(const Client& client,
                                                                            DaemonPool& daemons);

    [[nodiscard]] std::uint64_t reloads() const { return reloads_; }

  private:
    // Follows the engine's container and network events for as long as the proxy runs,
    // reconnecting after a pause when the stream ends. While it is not following, a cached
    // owner is still confirmed by the engine before it is believed: only the forgetting is
    // later.
    boost::asio::awaitable<void> follow_events();
    boost::asio::awaitable<std::shared_ptr<const CallerContainer>> inspect(
        DaemonPool& daemons, const std::string& id, const IpAddress* address);
    boost::asio::awaitable<bool> reload(DaemonPool& daemons);
    boost::asio::awaitable<std::shared_ptr<const CallerContainer>> owner_after_reload(
        DaemonPool& daemons, const IpAddress& address);
    void apply_event(std::string_view event);

    Duration timeout_;
    boost::asio::any_io_executor executor_;
    DaemonPool& follower_daemons_;
    std::atomic<bool> following_ = false;
    std::mutex mutex_;  // serving threads look up while the events follower changes
    ContainerAddresses addresses_;
    std::atomic<std::uint64_t> reloads_ = 0;
};

// SO_PEERCRED's pid → /proc/PID/cgroup → the container id it names, for a unix client, at
// accept; with SO_PEERPIDFD (Linux 6.5+) the pid is checked to still be that client's
// process after the read, so a reused pid cannot lend another container's id.
[[nodiscard]] std::optional<std::string> process_container_id(int socket, pid_t pid);

}  // namespace socket_proxy
