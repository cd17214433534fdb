#include "daemon_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "log.hpp"

namespace socket_proxy {
namespace asio = boost::asio;

namespace {

// An idle pooled connection must have nothing to read: EOF means the daemon closed it,
// stray bytes mean it is out of step. Either way it must not carry the next request. Under TLS
// the same holds of the records: the engine's session tickets arrive right after the
// handshake, before its first answer, so reading that answer took them; what arrives later is
// a close_notify before the engine closes.
bool idle_connection_still_usable(DaemonStream& stream) {
    char probe = 0;
    const ssize_t peeked =
        ::recv(stream.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Engines close an idle connection after seconds, not sooner (Podman's service after its idle
// time; Docker keeps it), and after a request without body the engine has nothing more to
// answer (the proxy never forwards Expect, and a connection whose buffer held more than the
// answer was not pooled). So under load, where connections come back every few microseconds,
// the peek (one syscall, about 1.5% of a small request's CPU) only ever says "usable"; a
// connection that fails anyway is retried by the exchange.
constexpr auto just_released = std::chrono::milliseconds(100);

// Past this many idle connections, returning ones are closed: the daemon keeps a goroutine
// and a descriptor per connection, and bursts need not leave them all behind.
constexpr std::size_t max_idle_connections = 64;

}  // namespace

DaemonPool::DaemonPool(asio::any_io_executor executor, DaemonAddress address,
                       const SharedTlsContext* tls, Duration connect_timeout, Duration keepalive)
    : executor_(std::move(executor)),
      address_(std::move(address)),
      address_text_(address_.text()),
      tls_(tls),
      connect_timeout_(connect_timeout),
      keepalive_(keepalive),
      sweep_timer_(executor_) {}

std::optional<DaemonConnection> DaemonPool::take_idle(IdleCheck check) {
    const auto now = std::chrono::steady_clock::now();
    close_expired(now);
    while (!idle_.empty()) {
        const bool trusted = check == IdleCheck::unless_just_released &&
                             !idle_.back().sent_a_body && now - idle_.back().since < just_released;
        std::unique_ptr<DaemonStream> stream = std::move(idle_.back().stream);
        idle_.pop_back();
        count_idle();
        if (trusted || idle_connection_still_usable(*stream)) {
            return DaemonConnection{std::move(stream), true};
        }
        stream->close();
    }
    return std::nullopt;
}

asio::awaitable<boost::system::result<DaemonConnection>> DaemonPool::acquire() {
    if (std::optional<DaemonConnection> idle = take_idle()) {
        co_return std::move(*idle);
    }
    // Not a ?: inside the co_await: GCC 12 evaluates both arms there (tls_->load() on null).
    std::shared_ptr<TlsContext> tls;
    if (tls_ != nullptr) {
        tls = tls_->load();
    }
    DaemonConnect connect =
        co_await connect_to_daemon(executor_, address_, std::move(tls), connect_timeout_);
    if (!connect.stream) {
        ++connect_errors_;
        last_failure_ = std::move(connect.why);
        co_return connect.error;
    }
    if (connect.stream->is_tls()) {
        ++tls_handshakes_;
    }
    // At DEBUG, each new connection: pooling shows as few of these per many requests.
    log_event(LogLevel::debug, "daemon-connected",
              {{"docker", address_text_}, {"tls", connect.stream->is_tls() ? "on" : "off"}});
    co_return DaemonConnection{std::move(connect.stream), false};
}

void DaemonPool::release(std::unique_ptr<DaemonStream> stream, bool sent_a_body) {
    if (keepalive_.count() == 0 || idle_.size() >= max_idle_connections) {
        stream->close();
        return;
    }
    idle_.push_back(Idle{std::move(stream), std::chrono::steady_clock::now(), sent_a_body});
    count_idle();
    if (!sweeping_) {
        sweeping_ = true;
        asio::co_spawn(executor_, sweep_expired(), asio::detached);
    }
}

void DaemonPool::close_expired(std::chrono::steady_clock::time_point now) {
    while (!idle_.empty() && now - idle_.front().since >= keepalive_) {
        idle_.front().stream->close();
        idle_.pop_front();
    }
    count_idle();
}

// Runs only while connections are idle, so an unused proxy has no timer ticking.
asio::awaitable<void> DaemonPool::sweep_expired() {
    while (!idle_.empty()) {
        sweep_timer_.expires_at(idle_.front().since + keepalive_);
        auto [error] = co_await sweep_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (error) {
            break;
        }
        close_expired(std::chrono::steady_clock::now());
    }
    sweeping_ = false;
}

void DaemonPool::close_all() {
    sweep_timer_.cancel();
    for (auto& idle : idle_) {
        idle.stream->close();
    }
    idle_.clear();
    count_idle();
}

}  // namespace socket_proxy
