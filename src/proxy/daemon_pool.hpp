// Connections to the Docker daemon's unix socket, with a pool of idle keep-alive connections.
//
// A unix socket has no TCP keep-alive: SOCKET_PROXY_KEEPALIVE is only how long an idle
// connection waits in this pool for the next request before it is closed.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "units.hpp"

namespace socket_proxy {

// basic_stream gives every operation on the daemon side an optional deadline.
using DaemonStream = boost::beast::basic_stream<boost::asio::local::stream_protocol>;

// Held by pointer: moving a basic_stream allocates a new one (its pending operations keep
// the old), and the pool moved each connection four times per request (bench/).
struct DaemonConnection {
    std::unique_ptr<DaemonStream> stream;
    bool reused = false;  // came from the pool: the daemon may have closed it meanwhile
};

class DaemonPool {
  public:
    DaemonPool(boost::asio::any_io_executor executor, std::string socket_path,
               Duration connect_timeout, Duration keepalive);

    // A pooled idle connection if one is still open, else a new one. Errors:
    // boost::beast::error::timeout when the connect exceeds connect_timeout, or the socket's own.
    boost::asio::awaitable<boost::system::result<DaemonConnection>> acquire();

    // Hands back a connection whose last response was complete and keep-alive.
    void release(std::unique_ptr<DaemonStream> stream);

    void close_all();

    [[nodiscard]] const std::string& socket_path() const { return socket_path_; }
    // Readable from any thread (the metrics listener sums the serving threads' pools).
    [[nodiscard]] std::size_t idle_count() const { return idle_count_; }
    [[nodiscard]] std::uint64_t connect_errors() const { return connect_errors_; }

  private:
    struct Idle {
        std::unique_ptr<DaemonStream> stream;
        std::chrono::steady_clock::time_point since;
    };

    void close_expired();
    void count_idle() { idle_count_ = idle_.size(); }
    boost::asio::awaitable<void> sweep_expired();

    boost::asio::any_io_executor executor_;
    std::string socket_path_;
    Duration connect_timeout_;
    Duration keepalive_;
    std::deque<Idle> idle_;
    boost::asio::steady_timer sweep_timer_;
    bool sweeping_ = false;
    std::atomic<std::size_t> idle_count_ = 0;  // idle_.size(), for other threads
    std::atomic<std::uint64_t> connect_errors_ = 0;
};

}  // namespace socket_proxy
