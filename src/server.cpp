#include "server.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <ctime>
#include <memory>
#include <optional>

#include "listener.hpp"
#include "log.hpp"
#include "policy.hpp"
#include "privileges.hpp"
#include "session.hpp"
#include "upstream.hpp"

#ifndef SOCKET_PROXY_VERSION
#define SOCKET_PROXY_VERSION "dev"
#endif

namespace socket_proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using asio::local::stream_protocol;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// After SIGTERM, requests already being answered get this long to finish; streams
// (events, logs -f) never finish by themselves and are closed when it runs out.
constexpr auto shutdown_grace = std::chrono::milliseconds(750);

// When accept fails for lack of descriptors, back off instead of spinning on the error.
constexpr auto accept_retry_delay = std::chrono::milliseconds(50);

// Declaration order is teardown order in reverse: the io_context is destroyed (and with it
// every suspended session) while the state those sessions point to still exists.
class Server {
  public:
    explicit Server(const Config& config)
        : config_(config),
          policy_(std::make_shared<const Policy>(Policy::read_only())),
          daemons_(io_.get_executor(), config.docker_socket, config.timeout, config.keepalive),
          signals_(io_, SIGTERM, SIGINT) {}

    int run() {
        try {
            bind_listeners();
            log_event(LogLevel::info, "privileges", {{"detail", drop_privileges(config_)}});
            const DaemonSocketCheck check = check_daemon_socket(config_.docker_socket);
            if (check.state == DaemonSocketState::permission_denied) {
                throw StartupError(check.message);
            }
            if (check.state == DaemonSocketState::unreachable) {
                log_event(LogLevel::warning, "daemon-unreachable", {{"detail", check.message}});
            }
            start_listening();
        } catch (const StartupError& error) {
            remove_socket_file();
            log_startup_failure(error.what());
            return 1;
        }

        log_event(LogLevel::info, "listening",
                  {{"version", SOCKET_PROXY_VERSION},
                   {"unix", config_.listen_socket_path()},
                   {"tcp", format_tcp_endpoint(config_.tcp)},
                   {"docker", config_.docker_socket},
                   {"policy", "read-only"}});
        asio::co_spawn(io_, stop_on_signal(), asio::detached);
        io_.run();
        remove_socket_file();
        log_event(LogLevel::info, "stopped");
        return 0;
    }

  private:
    void bind_listeners() {
        unix_acceptor_.emplace(
            bind_unix_listener(io_, config_.listen_socket_path(), config_.uid, config_.gid));
        if (config_.tcp) {
            tcp_acceptor_.emplace(bind_tcp_listener(io_, *config_.tcp));
        }
    }

    void start_listening() {
        unix_acceptor_->listen(asio::socket_base::max_listen_connections);
        asio::co_spawn(io_, accept_clients<stream_protocol>(*unix_acceptor_, identify_unix_client),
                       asio::detached);
        if (tcp_acceptor_) {
            tcp_acceptor_->listen(asio::socket_base::max_listen_connections);
            asio::co_spawn(io_, accept_clients<tcp>(*tcp_acceptor_, identify_tcp_client),
                           asio::detached);
        }
    }

    template <class Protocol, class Identify>
    asio::awaitable<void> accept_clients(typename Protocol::acceptor& acceptor, Identify identify) {
        asio::steady_timer backoff(io_);
        for (;;) {
            auto [error, socket] = co_await acceptor.async_accept(nothrow);
            if (error == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            if (error) {
                // EMFILE and friends: the pending connection stays queued; retry shortly.
                log_event(LogLevel::warning, "accept-failed", {{"error", error.message()}});
                backoff.expires_after(accept_retry_delay);
                co_await backoff.async_wait(nothrow);
                continue;
            }
            if constexpr (std::is_same_v<Protocol, tcp>) {
                boost::system::error_code ignored;
                socket.set_option(tcp::no_delay(true),
                                  ignored);  // answers are small and latency-bound
            }
            Client client = identify(socket);
            asio::co_spawn(
                io_,
                run_session<Protocol>(std::move(socket), std::move(client),
                                      SessionContext{config_, policy_, daemons_, state_}),
                asio::detached);
        }
    }

    asio::awaitable<void> stop_on_signal() {
        auto [error, signal] = co_await signals_.async_wait(nothrow);
        if (error) {
            co_return;
        }
        log_event(LogLevel::info, "stopping",
                  {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
                   {"requests", std::to_string(state_.requests_in_flight)},
                   {"streams", std::to_string(state_.open_streams)}});
        boost::system::error_code ignored;
        unix_acceptor_->close(ignored);
        if (tcp_acceptor_) {
            tcp_acceptor_->close(ignored);
        }
        remove_socket_file();

        asio::steady_timer wait(io_);
        const auto deadline = std::chrono::steady_clock::now() + shutdown_grace;
        while (state_.requests_in_flight > state_.open_streams &&
               std::chrono::steady_clock::now() < deadline) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(nothrow);
        }
        daemons_.close_all();
        io_.stop();
    }

    void remove_socket_file() {
        if (unix_acceptor_) {
            ::unlink(config_.listen_socket_path().c_str());
            unix_acceptor_.reset();
        }
    }

    static void log_startup_failure(const std::string& message) {
        // Start-up failures go to stderr too, where `docker logs` and a terminal both show them.
        log_event(LogLevel::error, "startup-failed", {{"error", message}});
        std::fprintf(stderr, "socket-proxy: %s\n", message.c_str());
    }

    const Config& config_;
    ServerState state_;
    std::shared_ptr<const Policy> policy_;
    asio::io_context io_{1};
    DaemonPool daemons_;
    asio::signal_set signals_;
    std::optional<stream_protocol::acceptor> unix_acceptor_;
    std::optional<tcp::acceptor> tcp_acceptor_;
};

}  // namespace

int run_server(const Config& config) {
    ::tzset();
    set_debug_logging(config.debug);
    // A client that vanishes mid-write must be an error code, not a process-killing signal.
    std::signal(SIGPIPE, SIG_IGN);
    Server server(config);
    return server.run();
}

}  // namespace socket_proxy
