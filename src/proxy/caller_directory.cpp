#include "caller_directory.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>

#include "body_relay.hpp"
#include "daemon_request.hpp"
#include "log.hpp"
#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// An inspect answer is a few KB; the list grows with the containers (about 2 KB each).
constexpr std::size_t max_inspect_bytes = 4 * 1024 * 1024;
constexpr std::size_t max_list_bytes = 64 * 1024 * 1024;
constexpr auto events_retry_delay = std::chrono::seconds(1);
// 10 + 20 + ... + 640 ms: about 1.3 s for a new container to appear in the engine's list.
constexpr Duration first_listing_retry = std::chrono::milliseconds(10);
constexpr Duration last_listing_retry = std::chrono::milliseconds(640);

// Unversioned paths: the engine answers them at its own version, whichever it is.
const std::string events_target =
    "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D";

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older C libraries do not name it
#endif

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << file.rdbuf();
    return std::move(text).str();
}

}  // namespace

std::optional<std::string> process_container_id(int socket, pid_t pid) {
    if (pid <= 0) {
        return std::nullopt;  // the peer is in a pid namespace this process cannot see into
    }
    int pidfd = -1;
    socklen_t length = sizeof pidfd;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) != 0) {
        pidfd = -1;
    }
    const std::optional<std::string> cgroup = read_file("/proc/" + std::to_string(pid) + "/cgroup");
    bool still_the_peer = true;
    if (pidfd >= 0) {
        // Signal 0 reaches the process the pidfd was made for, or fails with ESRCH once it is
        // gone: then the pid read above may already have been another process's. EPERM (a
        // peer of another user, when the proxy dropped root) still says it lives.
        still_the_peer =
            ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0 || errno == EPERM;
        ::close(pidfd);
    }
    if (!cgroup || !still_the_peer) {
        return std::nullopt;
    }
    return container_id_from_cgroup(*cgroup);
}

asio::awaitable<std::shared_ptr<const CallerContainer>> CallerDirectory::identify(
    const Client& client, DaemonPool& daemons) {
    if (!following_.exchange(true)) {
        asio::co_spawn(executor_, follow_events(), asio::detached);
    }
    if (client.transport == Client::Transport::unix_socket) {
        if (!client.process_container) {
            co_return nullptr;
        }
        co_return co_await inspect(daemons, *client.process_container, nullptr);
    }
    if (!client.ip) {
        co_return nullptr;
    }
    std::shared_ptr<const CallerContainer> cached;
    {
        const std::lock_guard lock(mutex_);
        cached = addresses_.owner(*client.ip);
    }
    if (cached) {
        if (auto confirmed = co_await inspect(daemons, cached->id, &*client.ip)) {
            co_return confirmed;
        }
    }
    if (auto listed = co_await owner_after_reload(daemons, *client.ip)) {
        co_return listed;
    }
    // A container's process runs before the engine lists it: when the address is one of the
    // engine's networks, the list is asked again for a moment.
    const DaemonAnswer networks =
        co_await daemon_request(daemons, timeout_, http::verb::get, "/networks", max_list_bytes);
    if (networks.error || networks.status != 200 ||
        !address_in_engine_networks(networks.body, *client.ip)) {
        co_return nullptr;
    }
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (Duration wait = first_listing_retry; wait <= last_listing_retry; wait *= 2) {
        pause.expires_after(wait);
        co_await pause.async_wait(nothrow);
        if (auto listed = co_await owner_after_reload(daemons, *client.ip)) {
            co_return listed;
        }
    }
    co_return nullptr;
}

asio::awaitable<std::shared_ptr<const CallerContainer>> CallerDirectory::owner_after_reload(
    DaemonPool& daemons, const IpAddress& address) {
    if (!co_await reload(daemons)) {
        co_return nullptr;
    }
    const std::lock_guard lock(mutex_);
    co_return addresses_.owner(address);
}

asio::awaitable<std::shared_ptr<const CallerContainer>> CallerDirectory::inspect(
    DaemonPool& daemons, const std::string& id, const IpAddress* address) {
    const DaemonAnswer answer = co_await daemon_request(
        daemons, timeout_, http::verb::get, "/containers/" + id + "/json", max_inspect_bytes);
    if (answer.error || answer.status != 200) {
        co_return nullptr;
    }
    co_return caller_from_inspect(answer.body, address);
}

asio::awaitable<bool> CallerDirectory::reload(DaemonPool& daemons) {
    ++reloads_;
    const DaemonAnswer answer = co_await daemon_request(daemons, timeout_, http::verb::get,
                                                        "/containers/json", max_list_bytes);
    if (answer.error || answer.status != 200) {
        co_return false;
    }
    const std::lock_guard lock(mutex_);
    co_return addresses_.replace_from_list(answer.body);
}

void CallerDirectory::apply_event(std::string_view event) {
    const AddressChange change = address_change_from_event(event);
    const std::lock_guard lock(mutex_);
    if (change.kind == AddressChange::Kind::forget) {
        addresses_.forget_container(change.container_id);
    }
    // A reload waits for the next miss: it is the miss that needs the new address, and a burst
    // of starts would otherwise cost a list each.
}

asio::awaitable<void> CallerDirectory::follow_events() {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
        auto connection = co_await follower_daemons_.acquire();
        if (connection) {
            DaemonStream& daemon = *connection->stream;
            const std::string head = "GET " + events_target + " HTTP/1.1\r\nHost: docker\r\n\r\n";
            auto [write_error, written] =
                co_await asio::async_write(daemon, asio::buffer(head), nothrow);
            DaemonBuffer buffer;
            DaemonAnswerParser parser;
            parser.header_limit(max_daemon_head_bytes);
            parser.body_limit(boost::none);  // a stream for as long as the proxy runs
            auto [head_error, head_bytes] =
                write_error ? std::tuple{write_error, std::size_t{0}}
                            : co_await http::async_read_header(daemon, buffer, parser, nothrow);
            if (!head_error && parser.get().result_int() == 200) {
                std::string pending;
                char piece[8192];
                while (!parser.is_done()) {
                    parser.get().body().data = piece;
                    parser.get().body().size = sizeof piece;
                    auto [error, read] = co_await http::async_read(daemon, buffer, parser, nothrow);
                    if (error && error != http::error::need_buffer) {
                        break;
                    }
                    pending.append(piece, sizeof piece - parser.get().body().size);
                    for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
                        apply_event(std::string_view(pending).substr(0, end));
                        pending.erase(0, end + 1);
                    }
                    if (pending.size() > max_inspect_bytes) {
                        break;  // no event is that long: the stream is not what it should be
                    }
                }
            }
            daemon.close();
        }
        pause.expires_after(events_retry_delay);
        co_await pause.async_wait(nothrow);
    }
}

}  // namespace socket_proxy
