#include "server.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "certificate_expiry.hpp"
#include "daemon_pool.hpp"
#include "daemon_request.hpp"
#include "daemon_socket.hpp"
#include "listener.hpp"
#include "log.hpp"
#include "metrics_listener.hpp"
#include "nothrow.hpp"
#include "policy.hpp"
#include "policy_file.hpp"
#include "policy_source.hpp"
#include "privileges.hpp"
#include "session.hpp"
#include "tls.hpp"

#ifndef SOCKET_PROXY_VERSION
#define SOCKET_PROXY_VERSION "dev"
#endif

namespace socket_proxy {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

namespace {

// After SIGTERM, requests already being answered get this long to finish; streams
// (events, logs -f) never finish by themselves and are closed when it runs out.
constexpr auto shutdown_grace = std::chrono::milliseconds(750);

// When accept fails for lack of descriptors, back off instead of spinning on the error.
constexpr auto accept_retry_delay = std::chrono::milliseconds(50);

// A served connection holds at most two descriptors (client and daemon); the listeners, the
// event loop, the reserve descriptor and the pool's idle daemon connections need the rest.
constexpr rlim_t descriptors_per_connection = 2;
constexpr rlim_t descriptors_reserved = 160;

// Connections over the limit are answered 503 by at most this many coroutines at once; past
// that they are closed unanswered, so a flood cannot turn refusals into a resource of its own.
constexpr std::size_t max_refusing_sessions = 64;

// Under a flood, one warning per interval stands for all the refusals in it.
constexpr auto refusal_log_interval = std::chrono::seconds(1);

class ThrottledCount {
  public:
    // Counts an event; returns how many to report now (0: stay quiet for this interval).
    std::size_t count(std::chrono::steady_clock::time_point now) {
        ++pending_;
        if (now - last_report_ < refusal_log_interval) {
            return 0;
        }
        last_report_ = now;
        return std::exchange(pending_, 0);
    }

  private:
    std::chrono::steady_clock::time_point last_report_{};
    std::size_t pending_ = 0;
};

// Raises the soft descriptor limit to the hard one (no privilege needed), and returns how many
// connections fit in it, at most `wanted`.
std::size_t fit_connections_to_descriptors(std::size_t wanted, std::string& note) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return wanted;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    if (limit.rlim_cur == RLIM_INFINITY) {
        return wanted;
    }
    const rlim_t usable =
        limit.rlim_cur > descriptors_reserved ? limit.rlim_cur - descriptors_reserved : 0;
    const auto fitting =
        static_cast<std::size_t>(std::max<rlim_t>(usable / descriptors_per_connection, 1));
    if (fitting >= wanted) {
        return wanted;
    }
    note = "serving at most " + std::to_string(fitting) + " connections instead of " +
           std::to_string(wanted) + " (SOCKET_PROXY_MAX_CONNECTIONS): the process may open only " +
           std::to_string(limit.rlim_cur) +
           " files; raise its nofile limit (compose: ulimits: nofile:) to serve more";
    return fitting;
}

// A serving thread beyond the main one: its own event loop and idle daemon connections, so
// the threads share nothing on the hot path but the policy and the counters.
struct ServingThread {
    ServingThread(const Config& config, const SharedTlsContext* daemon_tls)
        : daemons(io.get_executor(), config.daemon_address(), daemon_tls, config.timeout,
                  config.keepalive) {}
    asio::io_context io{1};
    DaemonPool daemons;
    asio::executor_work_guard<asio::io_context::executor_type> keep_running{io.get_executor()};
    std::thread thread;
};

// SOCKET_PROXY_THREADS=auto: one per CPU the process may run on (docker's --cpuset-cpus sets
// the mask), at most this many; a Docker socket proxy's load is small.
constexpr std::size_t most_automatic_threads = 4;

std::size_t serving_thread_count(const Config& config) {
    if (config.threads > 0) {
        return config.threads;
    }
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    if (::sched_getaffinity(0, sizeof(cpus), &cpus) != 0) {
        return 1;
    }
    const auto usable = static_cast<std::size_t>(CPU_COUNT(&cpus));
    return std::clamp<std::size_t>(usable, 1, most_automatic_threads);
}

// A socket the proxy serves clients on, and the name rules select its clients by.
template <class Protocol>
struct ServedListener {
    std::string name;
    typename Protocol::acceptor acceptor;
};

bool is_loopback(const std::string& address) {
    return address.starts_with("127.") || address == "::1";
}

// Declaration order is teardown order in reverse: the io_context is destroyed (and with it
// every suspended session) while the state those sessions point to still exists.
class Server {
  public:
    Server(const Config& config, const Environment& environment)
        : config_(config),
          session_limits_{config.max_head_bytes, config.max_header_fields, config.head_timeout,
                          config.idle_timeout, config.timeout},
          environment_(environment),
          daemons_(io_.get_executor(), config.daemon_address(), daemon_tls(), config.timeout,
                   config.keepalive),
          signals_(io_, SIGTERM, SIGINT),
          reload_signals_(io_, SIGHUP),
          reserve_descriptor_(open_reserve_descriptor()) {
        memory_.emplace(io_.get_executor());
        callers_.emplace(config.timeout, io_.get_executor(), daemons_);
    }

    ~Server() {
        memory_->stop();
        if (reserve_descriptor_ >= 0) {
            ::close(reserve_descriptor_);
        }
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    int run() {
        try {
            // Before anything is bound: a bad policy stops the proxy with the line to fix.
            policy_ = load_policy_or_throw();
            try {
                audit_policy_ = load_audit_policy(config_);
            } catch (const PolicyError& error) {
                throw StartupError(std::string("audit mode: ") + error.what());
            }
            if (config_.tls()) {
                // Read while the files may still be root's; SIGHUP reads them as the proxy's user.
                tls_context_.store(load_tls_context_or_throw());
            }
            if (config_.daemon_tls()) {
                daemon_tls_context_.store(load_daemon_tls_context_or_throw());
            }
            watch_certificates_now();
            bind_listeners();
            log_event(LogLevel::info, "privileges", {{"detail", drop_privileges(config_)}});
            if (!config_.policy_file.empty() && ::access(config_.policy_file.c_str(), R_OK) != 0) {
                // Read as root at start, the file may be closed to the user the proxy now is.
                log_event(LogLevel::warning, "policy",
                          {{"detail", "the policy file " + config_.policy_file +
                                          " is not readable by the proxy's user, so SIGHUP "
                                          "cannot reload it: make it readable by uid " +
                                          std::to_string(::getuid())}});
            }
            if (!config_.daemon_address().tcp()) {
                const DaemonSocketCheck check = check_daemon_socket(config_.docker_socket);
                if (check.state == DaemonSocketState::permission_denied) {
                    throw StartupError(check.message);
                }
                if (check.state == DaemonSocketState::unreachable) {
                    log_event(LogLevel::warning, "daemon-unreachable", {{"detail", check.message}});
                }
            }
            std::string limit_note;
            max_connections_ = fit_connections_to_descriptors(config_.max_connections, limit_note);
            if (!limit_note.empty()) {
                log_event(LogLevel::warning, "connection-limit", {{"detail", limit_note}});
            }
            over_limit_response_ = refusal_response(
                503, "socket-proxy is serving its limit of " + std::to_string(max_connections_) +
                         " client connections (SOCKET_PROXY_MAX_CONNECTIONS); try again later");
            outsider_response_ =
                refusal_response(403,
                                 "socket-proxy refuses connections from this address: it is not in "
                                 "SOCKET_PROXY_ALLOW_FROM");
            out_of_descriptors_response_ = refusal_response(
                503, "socket-proxy has run out of file descriptors; try again later");
            start_serving_threads();
            start_listening();
        } catch (const StartupError& error) {
            stop_serving_threads();
            remove_socket_file();
            log_startup_failure(error.what());
            return 1;
        }

        log_event(LogLevel::info, "listening",
                  {{"version", SOCKET_PROXY_VERSION},
                   {"unix", config_.listen_socket_path()},
                   {"tcp", format_tcp_endpoint(config_.tcp)},
                   {"listen", describe_named_listeners()},
                   {"tls", !config_.tls()           ? "off"
                           : config_.tls_ca.empty() ? "on"
                                                    : "mutual"},
                   {"metrics", format_tcp_endpoint(config_.metrics)},
                   {"docker", config_.docker_socket},
                   {"policy", policy_.load()->source},
                   {"audit_policy", audit_policy_.load() ? audit_policy_.load()->source : "none"},
                   {"max_connections", std::to_string(max_connections_)},
                   {"threads", std::to_string(serving_threads_.size() + 1)}});
        warn_of_plaintext_tcp();
        warn_of_plaintext_daemon();
        if (config_.daemon_address().tcp()) {
            asio::co_spawn(io_, check_remote_daemon(), asio::detached);
        }
        asio::co_spawn(io_, stop_on_signal(), asio::detached);
        asio::co_spawn(io_, reload_on_signal(), asio::detached);
        if (!certificate_files().empty()) {
            asio::co_spawn(io_, check_certificates_daily(), asio::detached);
        }
        io_.run();
        stop_serving_threads();
        remove_socket_file();
        log_event(LogLevel::info, "stopped");
        return 0;
    }

  private:
    std::shared_ptr<TlsContext> load_tls_context_or_throw() {
        try {
            return load_tls_context(config_);
        } catch (const TlsError& error) {
            throw StartupError(error.what());
        }
    }

    // SOCKET_PROXY_LISTEN's listeners as the `listening` line shows them, or none.
    std::string describe_named_listeners() const {
        std::string text;
        for (const NamedListener& listener : config_.listeners) {
            text += (text.empty() ? "" : ",") + listener.name + "=" +
                    (listener.tcp ? "tcp:" + format_tcp_endpoint(listener.tcp)
                                  : "unix:" + listener.unix_path);
        }
        return text.empty() ? "none" : text;
    }

    std::shared_ptr<TlsContext> load_daemon_tls_context_or_throw() {
        try {
            return load_daemon_tls_context(config_);
        } catch (const TlsError& error) {
            throw StartupError(error.what());
        }
    }

    const SharedTlsContext* daemon_tls() const {
        return config_.daemon_tls() ? &daemon_tls_context_ : nullptr;
    }

    // The remote engine's counterpart of warn_of_plaintext_tcp: every request, with whatever
    // it carries (registry credentials, secrets' data), crosses the network in the clear, and
    // whoever answers on that address is taken for the engine.
    void warn_of_plaintext_daemon() const {
        const DaemonAddress daemon = config_.daemon_address();
        if (!daemon.tcp() || config_.daemon_tls() || daemon.host_is_loopback()) {
            return;
        }
        log_event(LogLevel::warning, "plaintext-daemon",
                  {{"docker", daemon.text()},
                   {"detail",
                    "the Docker engine is reached by plain HTTP on an address other than "
                    "loopback: requests and answers cross the network readable, and the engine "
                    "is not authenticated; set SOCKET_PROXY_DOCKER_CERT_PATH to a directory with "
                    "ca.pem, cert.pem and key.pem and use the engine's TLS port"}});
    }

    // A remote engine is asked once at start, as the unix socket is checked: the proxy starts
    // either way (the engine may come up later), and the line says what to fix if it does not
    // answer. Asked through the pool, so a TLS failure is told as the requests would meet it.
    asio::awaitable<void> check_remote_daemon() {
        const DaemonAnswer answer = co_await daemon_request(daemons_, engine_ping_timeout(),
                                                            http::verb::get, "/_ping", 1024);
        if (answer.error) {
            log_event(
                LogLevel::warning, "daemon-unreachable",
                {{"docker", config_.docker_socket},
                 {"detail", "cannot reach the Docker engine at " + config_.docker_socket + ": " +
                                (answer.why.empty() ? answer.error.message() : answer.why) +
                                "; requests get 502 until it answers"}});
        } else if (answer.status == 400 && !config_.daemon_tls()) {
            // What Go's net/http answers plain HTTP with on a TLS port.
            log_event(LogLevel::warning, "daemon-unreachable",
                      {{"docker", config_.docker_socket},
                       {"detail", "the Docker engine at " + config_.docker_socket +
                                      " answered 400 to a plain /_ping: it expects TLS, so set "
                                      "SOCKET_PROXY_DOCKER_CERT_PATH to a directory with ca.pem, "
                                      "cert.pem and key.pem"}});
        } else {
            log_event(LogLevel::info, "daemon-reachable",
                      {{"docker", config_.docker_socket},
                       {"tls", daemons_.tls() ? "verified" : "off"},
                       {"status", std::to_string(answer.status)}});
        }
    }

    // Every certificate file the proxy relies on, named for its setting.
    std::vector<CertificateFile> certificate_files() const {
        std::vector<CertificateFile> files;
        if (config_.tls()) {
            files.push_back({"tls_cert", config_.tls_cert});
        }
        if (config_.tls() && !config_.tls_ca.empty()) {
            files.push_back({"tls_ca", config_.tls_ca});
        }
        if (config_.daemon_tls()) {
            files.push_back({"docker_cert", config_.docker_cert_path + "/cert.pem"});
            files.push_back({"docker_ca", config_.docker_cert_path + "/ca.pem"});
        }
        return files;
    }

    void watch_certificates_now() {
        held_certificates_ = watch_certificates(certificate_files(), state_.metrics,
                                                std::chrono::system_clock::now());
    }

    // A proxy that runs for months sees its certificates come near their end without a
    // reload.
    asio::awaitable<void> check_certificates_daily() {
        for (;;) {
            certificate_timer_.expires_after(certificate_check_interval);
            auto [error] = co_await certificate_timer_.async_wait(nothrow);
            if (error) {
                co_return;
            }
            log_certificate_expiry(held_certificates_, std::chrono::system_clock::now());
        }
    }

    // Plain HTTP on an address other than loopback: whoever reaches the port, and whatever
    // is on the path, is a Docker client the policy knows only by its address.
    void warn_of_plaintext_tcp() const {
        if (config_.tls()) {
            return;
        }
        if (config_.tcp && !is_loopback(config_.tcp->address)) {
            warn_of_plaintext_tcp(std::string(default_tcp_listener), config_.tcp);
        }
        for (const NamedListener& listener : config_.listeners) {
            if (listener.tcp && !is_loopback(listener.tcp->address)) {
                warn_of_plaintext_tcp(listener.name, listener.tcp);
            }
        }
    }

    static void warn_of_plaintext_tcp(const std::string& name,
                                      const std::optional<TcpEndpoint>& endpoint) {
        log_event(LogLevel::warning, "plaintext-tcp",
                  {{"tcp", format_tcp_endpoint(endpoint)},
                   {"listener", name},
                   {"detail",
                    "the TCP listener is plain HTTP on an address other than loopback: requests "
                    "and answers cross the network readable and unauthenticated; set "
                    "SOCKET_PROXY_TLS_CERT and SOCKET_PROXY_TLS_KEY for TLS, and "
                    "SOCKET_PROXY_TLS_CA to require client certificates"}});
    }

    // Every unix listener is made like the default one (stale socket, 0660, UID:GID) and
    // every TCP listener like SOCKET_PROXY_TCP (ALLOW_FROM, TLS when configured).
    void bind_listeners() {
        bind_unix(std::string(default_unix_listener), config_.listen_socket_path(),
                  "SOCKET_PROXY_VOLUME");
        if (config_.tcp) {
            tcp_listeners_.push_back({std::string(default_tcp_listener),
                                      bind_tcp_listener(io_, *config_.tcp, "SOCKET_PROXY_TCP")});
        }
        for (const NamedListener& listener : config_.listeners) {
            const std::string setting =
                "the path of listener " + listener.name + " (SOCKET_PROXY_LISTEN)";
            if (listener.tcp) {
                tcp_listeners_.push_back(
                    {listener.name,
                     bind_tcp_listener(io_, *listener.tcp,
                                       "SOCKET_PROXY_LISTEN (listener " + listener.name + ")")});
            } else {
                bind_unix(listener.name, listener.unix_path, setting);
            }
        }
        if (config_.metrics) {
            metrics_acceptor_.emplace(
                bind_tcp_listener(io_, *config_.metrics, "SOCKET_PROXY_METRICS"));
        }
    }

    void bind_unix(const std::string& name, const std::string& path, std::string_view setting) {
        auto acceptor = bind_unix_listener(io_, path, config_.uid, config_.gid, setting);
        unix_listeners_.push_back({name, std::move(acceptor)});
        unix_socket_paths_.push_back(path);
    }

    // The main thread serves too; these are the others.
    void start_serving_threads() {
        const std::size_t count = serving_thread_count(config_);
        for (std::size_t index = 1; index < count; ++index) {
            auto serving = std::make_unique<ServingThread>(config_, daemon_tls());
            ServingThread& started = *serving;
            serving_threads_.push_back(std::move(serving));
            started.thread = std::thread([&started] {
                started.io.run();
                free_thread_tls_cache();
            });
        }
    }

    // Each thread closes its own idle daemon connections, then its loop ends.
    void stop_serving_threads() {
        for (const auto& serving : serving_threads_) {
            asio::post(serving->io, [&serving = *serving] {
                serving.daemons.close_all();
                serving.io.stop();
            });
        }
        for (const auto& serving : serving_threads_) {
            if (serving->thread.joinable()) {
                serving->thread.join();
            }
        }
    }

    struct ServingPlace {
        asio::any_io_executor executor;
        DaemonPool& daemons;
    };

    // New connections go to the serving threads in turn, the main one included.
    ServingPlace next_serving_place() {
        const std::size_t place = next_place_++ % (serving_threads_.size() + 1);
        if (place == 0) {
            return {io_.get_executor(), daemons_};
        }
        ServingThread& serving = *serving_threads_[place - 1];
        return {serving.io.get_executor(), serving.daemons};
    }

    std::vector<const DaemonPool*> all_daemon_pools() const {
        std::vector<const DaemonPool*> pools{&daemons_};
        for (const auto& serving : serving_threads_) {
            pools.push_back(&serving->daemons);
        }
        return pools;
    }

    void start_listening() {
        for (auto& listener : unix_listeners_) {
            listener.acceptor.listen(asio::socket_base::max_listen_connections);
            asio::co_spawn(io_, accept_clients<stream_protocol>(listener, identify_unix_client),
                           asio::detached);
        }
        for (auto& listener : tcp_listeners_) {
            listener.acceptor.listen(asio::socket_base::max_listen_connections);
            asio::co_spawn(io_, accept_clients<tcp>(listener, identify_tcp_client), asio::detached);
        }
        if (metrics_acceptor_) {
            metrics_acceptor_->listen(asio::socket_base::max_listen_connections);
            asio::co_spawn(io_,
                           serve_metrics(*metrics_acceptor_,
                                         MetricsContext{state_, daemons_, all_daemon_pools(),
                                                        engine_ping_timeout()}),
                           asio::detached);
        }
    }

    // A scrape must not wait long on an engine that hangs: Prometheus gives up after 10 s.
    Duration engine_ping_timeout() const {
        constexpr Duration longest = std::chrono::seconds(5);
        return config_.timeout.count() > 0 ? std::min(config_.timeout, longest) : longest;
    }

    template <class Protocol, class Identify>
    asio::awaitable<void> accept_clients(ServedListener<Protocol>& listener, Identify identify) {
        typename Protocol::acceptor& acceptor = listener.acceptor;
        asio::steady_timer backoff(io_);
        for (;;) {
            const ServingPlace place = next_serving_place();
            auto [error, socket] = co_await acceptor.async_accept(place.executor, nothrow);
            if (error == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            if (error) {
                // EMFILE and friends leave the connection queued, and the listener
                // readable: without the reserve descriptor the loop could only wait for one
                // to free up.
                const bool shed =
                    (error == asio::error::no_descriptors || error.value() == ENFILE) &&
                    shed_with_reserve_descriptor(acceptor.native_handle());
                if (const std::size_t failures = accept_failures_.count(Clock::now())) {
                    log_event(LogLevel::warning, "accept-failed",
                              {{"error", error.message()},
                               {"connections", std::to_string(state_.open_sessions)},
                               {"count", std::to_string(failures)}});
                }
                if (!shed) {
                    backoff.expires_after(accept_retry_delay);
                    co_await backoff.async_wait(nothrow);
                }
                continue;
            }
            if (state_.open_sessions >= max_connections_) {
                refuse_over_limit<Protocol>(std::move(socket));
                continue;
            }
            Client client = identify(socket);
            client.listener = listener.name;
            if (!admitted(client)) {
                refuse_outsider<Protocol>(std::move(socket), client);
                continue;
            }
            const SessionContext context{session_limits_, policy_,  audit_policy_, place.daemons,
                                         state_,          *memory_, *callers_};
            if constexpr (std::is_same_v<Protocol, tcp>) {
                boost::system::error_code ignored;
                socket.set_option(tcp::no_delay(true),
                                  ignored);  // answers are small and latency-bound
                if (config_.tls()) {
                    if (tls_handshakes_ >= max_tls_handshakes) {
                        refuse_busy_handshake(client);
                        continue;  // closed as `socket` goes out of scope
                    }
                    ++tls_handshakes_;
                    ++state_.open_sessions;
                    asio::co_spawn(place.executor,
                                   serve_tls_client(std::move(socket), std::move(client), context,
                                                    tls_context_.load()),
                                   asio::detached);
                    continue;
                }
            }
            ++state_.open_sessions;
            asio::co_spawn(place.executor,
                           run_session(ClientStream(std::move(socket)), std::move(client), context),
                           asio::detached);
        }
    }

    // The session starts only once the handshake has verified the client.
    asio::awaitable<void> serve_tls_client(ClientSocket socket, Client client,
                                           SessionContext context,
                                           std::shared_ptr<TlsContext> tls) {
        std::optional<ClientStream> stream =
            co_await accept_tls(std::move(socket), std::move(tls), config_.head_timeout, client,
                                state_, tls_handshakes_);
        if (!stream) {
            --state_.open_sessions;
            co_return;
        }
        co_await run_session(std::move(*stream), std::move(client), context);
    }

    void refuse_busy_handshake(const Client& client) {
        state_.metrics.count_tls_failure(TlsHandshakeFailure::busy);
        if (const std::size_t refused = busy_handshakes_.count(Clock::now())) {
            log_event(LogLevel::warning, "connection-refused",
                      {{"client", client.address},
                       {"reason", std::to_string(max_tls_handshakes) +
                                      " TLS handshakes are in flight already"},
                       {"count", std::to_string(refused)}});
        }
    }

    // SOCKET_PROXY_ALLOW_FROM: a TCP port is reachable from every container on the network,
    // so the operator can say which networks may talk to it at all.
    bool admitted(const Client& client) const {
        if (client.transport != Client::Transport::tcp || config_.allow_from.empty()) {
            return true;
        }
        return client.ip &&
               std::any_of(config_.allow_from.begin(), config_.allow_from.end(),
                           [&](const IpNetwork& network) { return network.contains(*client.ip); });
    }

    template <class Protocol>
    void refuse_outsider(typename Protocol::socket socket, const Client& client) {
        if (const std::size_t refused = outsiders_.count(Clock::now())) {
            log_event(LogLevel::warning, "connection-refused",
                      {{"client", client.address},
                       {"reason", "not in SOCKET_PROXY_ALLOW_FROM"},
                       {"count", std::to_string(refused)}});
        }
        state_.metrics.count_refused(RefusedConnection::allow_from);
        answer_and_close<Protocol>(std::move(socket), outsider_response_);
    }

    template <class Protocol>
    void refuse_over_limit(typename Protocol::socket socket) {
        if (const std::size_t refused = refusals_.count(Clock::now())) {
            log_event(LogLevel::warning, "connection-refused",
                      {{"reason", "limit of " + std::to_string(max_connections_) +
                                      " client connections reached (SOCKET_PROXY_MAX_CONNECTIONS)"},
                       {"count", std::to_string(refused)}});
        }
        state_.metrics.count_refused(RefusedConnection::connection_limit);
        answer_and_close<Protocol>(std::move(socket), over_limit_response_);
    }

    template <class Protocol>
    void answer_and_close(typename Protocol::socket socket, const std::string& response) {
        if constexpr (std::is_same_v<Protocol, tcp>) {
            if (config_.tls()) {
                return;  // a TLS client could not read a plaintext answer: closed
                         // unanswered
            }
        }
        if (state_.refusing_sessions >= max_refusing_sessions) {
            return;  // closed unanswered as `socket` goes out of scope
        }
        const auto executor = socket.get_executor();
        asio::co_spawn(executor, refuse_connection(std::move(socket), response, state_),
                       asio::detached);
    }

    // Out of descriptors: give the reserve back for a moment, take one queued connection,
    // tell it why in a single non-blocking write, close it, and take the reserve again. The
    // accept loop keeps moving, and the queue drains instead of stalling.
    bool shed_with_reserve_descriptor(int listener) {
        if (reserve_descriptor_ < 0) {
            reserve_descriptor_ = open_reserve_descriptor();
            return false;
        }
        ::close(reserve_descriptor_);
        const int shed = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (shed >= 0) {
            (void)::send(shed, out_of_descriptors_response_.data(),
                         out_of_descriptors_response_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::shutdown(shed, SHUT_WR);
            ::close(shed);
        }
        reserve_descriptor_ = open_reserve_descriptor();
        return shed >= 0;
    }

    static int open_reserve_descriptor() {
        // "/" exists in every container, even FROM scratch.
        return ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }

    std::shared_ptr<const Policy> load_policy_or_throw() {
        try {
            LoadedPolicy loaded = load_policy(config_, environment_);
            for (const std::string& warning : loaded.warnings) {
                log_event(LogLevel::warning, "policy", {{"detail", warning}});
            }
            return loaded.policy;
        } catch (const PolicyError& error) {
            throw StartupError(error.what());
        } catch (const ConfigError& error) {
            throw StartupError(error.what());
        }
    }

    // The new policy replaces the old one as a whole for the requests that follow; requests
    // and streams in flight keep the policy they were decided under. A policy that does not
    // load leaves the old one in force.
    asio::awaitable<void> reload_on_signal() {
        for (;;) {
            auto [error, signal] = co_await reload_signals_.async_wait(nothrow);
            if (error) {
                co_return;
            }
            const bool listener_reloaded = config_.tls() && reload_tls_context();
            const bool daemon_reloaded = config_.daemon_tls() && reload_daemon_tls_context();
            if (listener_reloaded || daemon_reloaded) {
                watch_certificates_now();
            }
            if (config_.audit) {
                // The candidate is what an operator edits in audit mode: it reloads too.
                try {
                    audit_policy_ = load_audit_policy(config_);
                    const auto candidate = audit_policy_.load();
                    log_event(LogLevel::info, "reload",
                              {{"audit_policy", candidate->source},
                               {"rules", std::to_string(candidate->rules.size())}});
                } catch (const std::exception& failure) {
                    log_event(LogLevel::error, "reload-failed",
                              {{"error", failure.what()},
                               {"detail", "the previous audit policy stays in force"}});
                }
            }
            if (config_.policy_file.empty()) {
                if (config_.audit || config_.tls() || config_.daemon_tls()) {
                    continue;  // SIGHUP did reload something
                }
                log_event(
                    LogLevel::warning, "reload",
                    {{"detail", "SIGHUP: no policy file to reload (" + policy_.load()->source +
                                    "); set SOCKET_PROXY_POLICY to use one"}});
                continue;
            }
            try {
                auto loaded = load_policy(config_, environment_);
                const std::shared_ptr<const Policy> reloaded = std::move(loaded.policy);
                policy_ = reloaded;
                log_event(LogLevel::info, "reload",
                          {{"policy", reloaded->source},
                           {"rules", std::to_string(reloaded->rules.size())}});
            } catch (const std::exception& failure) {
                log_event(
                    LogLevel::error, "reload-failed",
                    {{"error", failure.what()}, {"detail", "the previous policy stays in force"}});
            }
        }
    }

    // New daemon connections get the new files; pooled and busy ones keep theirs until they
    // close.
    bool reload_daemon_tls_context() {
        try {
            daemon_tls_context_.store(load_daemon_tls_context(config_));
            log_event(LogLevel::info, "reload", {{"docker_cert_path", config_.docker_cert_path}});
            return true;
        } catch (const TlsError& failure) {
            log_event(LogLevel::error, "reload-failed",
                      {{"error", failure.what()},
                       {"detail", "the previous engine certificates stay in use"}});
            return false;
        }
    }

    // New connections get the new certificate, key and CA; those in flight keep theirs.
    bool reload_tls_context() {
        try {
            tls_context_.store(load_tls_context(config_));
            log_event(LogLevel::info, "reload",
                      {{"tls_cert", config_.tls_cert},
                       {"tls_ca", config_.tls_ca.empty() ? "none" : config_.tls_ca}});
            return true;
        } catch (const TlsError& failure) {
            log_event(LogLevel::error, "reload-failed",
                      {{"error", failure.what()},
                       {"detail", "the previous TLS certificate, key and CA stay in force"}});
            return false;
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
        reload_signals_.cancel(ignored);
        for (auto& listener : unix_listeners_) {
            listener.acceptor.close(ignored);
        }
        for (auto& listener : tcp_listeners_) {
            listener.acceptor.close(ignored);
        }
        certificate_timer_.cancel();
        if (metrics_acceptor_) {
            metrics_acceptor_->close(ignored);
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
        memory_->stop();
        io_.stop();
    }

    // Only the sockets this run created: a start that failed early leaves others' files
    // alone.
    void remove_socket_file() {
        for (const std::string& path : unix_socket_paths_) {
            ::unlink(path.c_str());
        }
        unix_socket_paths_.clear();
    }

    static void log_startup_failure(const std::string& message) {
        // Start-up failures go to stderr too, where `docker logs` and a terminal both show
        // them.
        log_event(LogLevel::error, "startup-failed", {{"error", message}});
        std::fprintf(stderr, "socket-proxy: %s\n", message.c_str());
    }

    const Config& config_;
    const SessionLimits session_limits_;
    const Environment& environment_;
    ServerState state_;
    SharedPolicy policy_;
    SharedPolicy audit_policy_;
    SharedTlsContext tls_context_;
    SharedTlsContext daemon_tls_context_;  // the engine's, with SOCKET_PROXY_DOCKER_CERT_PATH
    // Counted by the acceptor, uncounted by accept_tls() on a serving thread (also when a
    // handshake suspended at shutdown is destroyed with its io_context).
    std::atomic<std::size_t> tls_handshakes_ = 0;
    // Outlives io_: sessions destroyed with it may still report that they fell quiet.
    std::optional<MemoryTrimmer> memory_;
    // Outlives the sessions, which ask it; its events follower runs on io_ through
    // daemons_.
    std::optional<CallerDirectory> callers_;
    // Before io_, so destroyed after it: an accept pending on io_ holds a socket made for a
    // serving thread's loop, and destroying it needs that loop. Their own sessions,
    // destroyed with them, point only to what is declared above.
    std::vector<std::unique_ptr<ServingThread>> serving_threads_;
    asio::io_context io_{1};
    DaemonPool daemons_;
    asio::signal_set signals_;
    asio::signal_set reload_signals_;
    // Deques: the accept loops hold references to their listener.
    std::deque<ServedListener<stream_protocol>> unix_listeners_;
    std::deque<ServedListener<tcp>> tcp_listeners_;
    std::vector<std::string> unix_socket_paths_;
    asio::steady_timer certificate_timer_{io_};
    // Those of the TLS context in force; read and checked on the main thread only.
    std::vector<HeldCertificate> held_certificates_;
    std::optional<tcp::acceptor> metrics_acceptor_;
    std::size_t next_place_ = 0;
    std::size_t max_connections_ = 0;
    std::string over_limit_response_;
    std::string out_of_descriptors_response_;
    std::string outsider_response_;
    ThrottledCount outsiders_;
    int reserve_descriptor_ = -1;
    ThrottledCount refusals_;
    ThrottledCount accept_failures_;
    ThrottledCount busy_handshakes_;
};

}  // namespace

int run_server(const Config& config, const Environment& environment) {
    ::tzset();
    set_debug_logging(config.debug);
    // A client that vanishes mid-write must be an error code, not a process-killing signal.
    std::signal(SIGPIPE, SIG_IGN);
    Server server(config, environment);
    return server.run();
}

}  // namespace socket_proxy
