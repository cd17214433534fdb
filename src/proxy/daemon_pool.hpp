// Connections to the Docker daemon (its unix socket, or TCP with or without TLS), with a pool of
// idle keep-alive connections. TLS connections are pooled like the others: the handshake is
// what a new one costs most.
//
// SOCKET_PROXY_KEEPALIVE is only how long an idle connection waits in this pool for the next
// request before it is closed (no TCP keep-alive probes).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "daemon_address.hpp"
#include "daemon_connect.hpp"
#include "socket_stream.hpp"
#include "units.hpp"

namespace socket_proxy {

// Held by pointer: moving a basic_stream allocates a new one (its pending operations keep
// the old), and the pool moved each connection four times per request (bench/).
struct DaemonConnection {
    std::unique_ptr<DaemonStream> stream;
    bool reused = false;  // came from the pool: the daemon may have closed it meanwhile
};

class DaemonPool {
  public:
    // `tls` (null: plain) is read at each new connection, so a reload reaches the next one.
    DaemonPool(boost::asio::any_io_executor executor, DaemonAddress address,
               const SharedTlsContext* tls, Duration connect_timeout, Duration keepalive);

    // A pooled idle connection if one is still open, else a new one. Errors:
    // boost::beast::error::timeout when connecting exceeds connect_timeout, or the socket's or
    // the TLS handshake's own; last_failure() then says why in words.
    boost::asio::awaitable<boost::system::result<DaemonConnection>> acquire();
    // How take_idle() makes sure an idle connection was not closed or sent stray bytes.
    enum class IdleCheck {
        always,  // peek at every one
        // Trust one released moments ago after a request without body: for a request that is
        // sent again on a new connection when a reused one fails before any answer byte (a GET
        // or HEAD without body).
        unless_just_released,
    };
    // A pooled idle connection if one is still open, without a coroutine: the common case of
    // acquire(), for the request path to try first.
    std::optional<DaemonConnection> take_idle(IdleCheck check = IdleCheck::always);
    // Why this pool's latest acquire() failed; read it before the next co_await.
    [[nodiscard]] const std::string& last_failure() const { return last_failure_; }

    // Hands back a connection whose last response was complete and keep-alive. After a request
    // body, the engine could still be answering a second request smuggled in it, so such a
    // connection is always peeked at before reuse.
    void release(std::unique_ptr<DaemonStream> stream, bool sent_a_body);

    void close_all();

    // The engine as messages name it: the socket's path, or tcp://HOST:PORT.
    [[nodiscard]] const std::string& socket_path() const { return address_text_; }
    [[nodiscard]] bool tls() const { return tls_ != nullptr; }
    // Readable from any thread (the metrics listener sums the serving threads' pools).
    [[nodiscard]] std::size_t idle_count() const { return idle_count_; }
    [[nodiscard]] std::uint64_t connect_errors() const { return connect_errors_; }
    [[nodiscard]] std::uint64_t tls_handshakes() const { return tls_handshakes_; }

  private:
    struct Idle {
        std::unique_ptr<DaemonStream> stream;
        std::chrono::steady_clock::time_point since;
        bool sent_a_body = false;
    };

    void close_expired(std::chrono::steady_clock::time_point now);
    void count_idle() { idle_count_ = idle_.size(); }
    boost::asio::awaitable<void> sweep_expired();

    boost::asio::any_io_executor executor_;
    DaemonAddress address_;
    std::string address_text_;
    const SharedTlsContext* tls_;
    std::string last_failure_;
    Duration connect_timeout_;
    Duration keepalive_;
    std::deque<Idle> idle_;
    boost::asio::steady_timer sweep_timer_;
    bool sweeping_ = false;
    std::atomic<std::size_t> idle_count_ = 0;  // idle_.size(), for other threads
    std::atomic<std::uint64_t> connect_errors_ = 0;
    std::atomic<std::uint64_t> tls_handshakes_ = 0;  // completed, to the engine
};

}  // namespace socket_proxy
