#include "metrics_listener.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "daemon_request.hpp"
#include "head_arena.hpp"
#include "nothrow.hpp"

#ifndef SOCKET_PROXY_VERSION
#define SOCKET_PROXY_VERSION "dev"
#endif

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

// A scraper sends one small GET; anything bigger or slower is not one.
constexpr std::uint32_t max_scrape_head_bytes = 8 * 1024;
constexpr auto scrape_head_timeout = std::chrono::seconds(10);
constexpr auto scrape_write_timeout = std::chrono::seconds(10);

// Prometheus scrapes from one or two servers; more connections than this are closed at once,
// so the metrics port cannot become a way to hold the proxy's descriptors.
constexpr std::size_t max_scrape_connections = 8;

constexpr auto accept_retry_delay = std::chrono::milliseconds(50);

using Clock = std::chrono::steady_clock;

// One HEAD /_ping per scrape: whether the engine answers, and how fast, right now.
asio::awaitable<std::optional<double>> ping_engine(DaemonPool& daemons, Duration timeout) {
    const auto started = Clock::now();
    const DaemonAnswer answer =
        co_await daemon_request(daemons, timeout, http::verb::head, "/_ping", 0);
    if (answer.error || answer.status != 200) {
        co_return std::nullopt;
    }
    co_return std::chrono::duration<double>(Clock::now() - started).count();
}

std::optional<std::uint64_t> resident_bytes() {
    std::FILE* statm = std::fopen("/proc/self/statm", "re");
    if (!statm) {
        return std::nullopt;
    }
    unsigned long long size = 0;
    unsigned long long resident = 0;
    const int read = std::fscanf(statm, "%llu %llu", &size, &resident);
    std::fclose(statm);
    if (read != 2) {
        return std::nullopt;
    }
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::optional<double> cpu_seconds() {
    rusage usage{};
    if (::getrusage(RUSAGE_SELF, &usage) != 0) {
        return std::nullopt;
    }
    const auto seconds = [](const timeval& time) {
        return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::optional<std::size_t> open_descriptors() {
    DIR* directory = ::opendir("/proc/self/fd");
    if (!directory) {
        return std::nullopt;
    }
    std::size_t count = 0;
    while (const dirent* entry = ::readdir(directory)) {
        if (entry->d_name[0] != '.') {
            ++count;
        }
    }
    ::closedir(directory);
    return count > 0 ? count - 1 : 0;  // not the descriptor that listed them
}

asio::awaitable<std::string> render_page(MetricsContext context) {
    MetricsGauges gauges;
    gauges.version = SOCKET_PROXY_VERSION;
    gauges.engine_ping_seconds = co_await ping_engine(context.daemons, context.engine_ping_timeout);
    // Read after the ping, which may have waited: the gauges are those of the answer's moment.
    gauges.client_connections = context.state.open_sessions;
    gauges.requests_in_flight = context.state.requests_in_flight;
    gauges.open_streams = context.state.open_streams;
    for (const DaemonPool* pool : context.pools) {
        gauges.idle_daemon_connections += pool->idle_count();
        gauges.daemon_connect_errors += pool->connect_errors();
        gauges.daemon_tls_handshakes += pool->tls_handshakes();
    }
    gauges.resident_bytes = resident_bytes();
    gauges.cpu_seconds = cpu_seconds();
    gauges.open_descriptors = open_descriptors();
    co_return context.state.metrics.render(gauges);
}

std::string answer_text(http::status status, std::string_view content_type, std::string_view body,
                        bool keep_alive, bool head_only) {
    std::string text = "HTTP/1.1 " + std::to_string(static_cast<int>(status)) + " " +
                       std::string(http::obsolete_reason(status)) + "\r\nContent-Type: ";
    text += content_type;
    text += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (!keep_alive) {
        text += "Connection: close\r\n";
    }
    text += "\r\n";
    if (!head_only) {
        text += body;
    }
    return text;
}

asio::awaitable<void> answer_scrapes(tcp::socket socket, MetricsContext context,
                                     std::shared_ptr<std::size_t> open_connections) {
    beast::basic_stream<tcp> stream(std::move(socket));
    beast::flat_buffer buffer(max_scrape_head_bytes);
    for (;;) {
        http::request_parser<http::buffer_body, HeadAllocator<char>> parser;
        parser.header_limit(max_scrape_head_bytes);
        stream.expires_after(scrape_head_timeout);
        auto [read_error, read] = co_await http::async_read_header(stream, buffer, parser, nothrow);
        if (read_error) {
            break;
        }
        const auto& request = parser.get();
        const bool has_body = !parser.is_done();
        const bool keep_alive = request.keep_alive() && !has_body;
        const bool head_only = request.method() == http::verb::head;
        const std::string_view target = request.target();
        const std::string_view path = target.substr(0, target.find('?'));
        std::string answer;
        if ((request.method() == http::verb::get || head_only) && path == "/metrics" && !has_body) {
            answer = answer_text(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                                 co_await render_page(context), keep_alive, head_only);
        } else {
            answer =
                answer_text(http::status::not_found, "text/plain; charset=utf-8",
                            "socket-proxy serves only GET /metrics here\n", keep_alive, head_only);
        }
        stream.expires_after(scrape_write_timeout);
        auto [write_error, written] =
            co_await asio::async_write(stream, asio::buffer(answer), nothrow);
        if (write_error || !keep_alive) {
            break;
        }
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
    --*open_connections;
}

}  // namespace

asio::awaitable<void> serve_metrics(tcp::acceptor& acceptor, MetricsContext context) {
    // Shared with the connections, which may outlive this loop by a scrape after it closes.
    auto open_connections = std::make_shared<std::size_t>(0);
    asio::steady_timer backoff(acceptor.get_executor());
    for (;;) {
        auto [error, socket] = co_await acceptor.async_accept(nothrow);
        if (!acceptor.is_open()) {
            co_return;
        }
        if (error) {
            // EMFILE and the like, which the client listeners report: wait instead of spinning.
            backoff.expires_after(accept_retry_delay);
            co_await backoff.async_wait(nothrow);
            continue;
        }
        if (*open_connections >= max_scrape_connections) {
            continue;  // closed as `socket` goes out of scope
        }
        ++*open_connections;
        asio::co_spawn(acceptor.get_executor(),
                       answer_scrapes(std::move(socket), context, open_connections),
                       asio::detached);
    }
}

}  // namespace socket_proxy
