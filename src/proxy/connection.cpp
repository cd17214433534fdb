#include "connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "forwarded_head.hpp"
#include "head_check.hpp"
#include "log.hpp"
#include "nothrow.hpp"
#include "request_log.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// Head bytes are read in pieces of this size, so a small request costs a small buffer.
constexpr std::size_t head_read_bytes = 4096;
// A connection waiting for its next request holds its read buffer all the while: a thousand
// idle keep-alive clients would hold 4 KiB each. The first piece of a head is read into this
// much, which most heads fit (a longer one grows the buffer).
constexpr std::size_t idle_read_bytes = 512;

// After an error answer that closes the connection, what the client still sends is read and
// dropped for at most this long and this much, so that the close does not reset the answer.
constexpr auto linger_timeout = std::chrono::seconds(2);
constexpr std::size_t linger_max_bytes = 1024 * 1024;

}  // namespace

asio::awaitable<void> discard_incoming(ClientStream& stream, std::size_t max_bytes) {
    std::array<char, 4096> discard{};
    std::size_t discarded = 0;
    while (discarded < max_bytes) {
        auto [error, count] = co_await stream.async_read_some(asio::buffer(discard), nothrow);
        if (error) {
            break;  // EOF, reset, or the deadline (which closes the socket)
        }
        discarded += count;
    }
}

// The bytes of one request head in the buffer, or why there are none.
struct Connection::HeadBytes {
    error_code error;  // none: the first `length` bytes of the buffer are the head
    std::size_t length = 0;
    bool started = false;      // its first byte arrived, or it is the connection's first
    std::string refused_line;  // error bad_version: why the request line was refused
};

RequestFacts read_request_facts(const RequestParser& parser) {
    const ClientRequest& request = parser.get();
    return RequestFacts{request.version(), request.method() == http::verb::head,
                        request.keep_alive(), requests_upgrade(request), !parser.is_done()};
}

Connection::Connection(ClientStream stream, Client identity, SessionContext context)
    : stream_(std::move(stream)),
      identity_(std::move(identity)),
      context_(context),
      buffer_(context_.limits.max_head_bytes) {}

bool Connection::may_need_container() const {
    if (container_asked_) {
        return false;
    }
    const auto selects = [](const std::shared_ptr<const Policy>& policy) {
        return policy && policy->selects_containers();
    };
    // Asked again at the next request: a reload may bring such a rule.
    return selects(policy()) || selects(audit_policy());
}

asio::awaitable<void> Connection::learn_container() {
    if (!may_need_container()) {
        co_return;
    }
    container_asked_ = true;
    if (identity_.transport == Client::Transport::unix_socket && identity_.pid) {
        identity_.process_container =
            process_container_id(socket().native_handle(), *identity_.pid);
    }
    identity_.container = co_await context_.callers.identify(identity_, context_.daemons);
    decisions_.clear();
}

asio::awaitable<NextRequest> Connection::read_request(RequestParser& parser) {
    const HeadBytes head = co_await read_head();
    stream_.expires_never();
    const auto refuse = [](http::status status, std::string why) {
        return NextRequest{false, BadRequest{status, std::move(why)}};
    };
    if (head.error == http::error::bad_version && !head.refused_line.empty()) {
        co_return refuse(http::status::bad_request, head.refused_line);
    }
    if (head.error == http::error::header_limit) {
        co_return refuse(http::status::request_header_fields_too_large,
                         "its head exceeds " + format_size(context_.limits.max_head_bytes) +
                             " (SOCKET_PROXY_MAX_HEAD_SIZE)");
    }
    if (head.error == beast::error::timeout && head.started) {
        // basic_stream has closed the socket: nothing can be answered, only logged.
        log_event(LogLevel::warning, "bad-request",
                  {{"client", describe_client(identity_)},
                   {"error", "the request head did not arrive within " +
                                 format_duration(context_.limits.head_timeout) +
                                 " (SOCKET_PROXY_HEAD_TIMEOUT)"}});
    }
    if (head.error) {
        co_return NextRequest{};  // otherwise the client left or idled out: nobody to answer
    }
    const std::string_view head_text(static_cast<const char*>(buffer_.data().data()), head.length);
    const HeadLimits limits{context_.limits.max_header_fields};
    if (const HeadCheck check = check_request_head(head_text, limits); !check.ok) {
        co_return refuse(check.too_many_fields ? http::status::request_header_fields_too_large
                                               : http::status::bad_request,
                         check.reason);
    }

    parser.header_limit(static_cast<std::uint32_t>(context_.limits.max_head_bytes));
    parser.body_limit(boost::none);  // bodies are streamed, never held
    // The whole head is buffered: parsed in place, with no read and no trip through the
    // scheduler that an asynchronous read_header takes even when it has nothing to read.
    error_code error;
    const std::size_t parsed = parser.put(asio::buffer(head_text), error);
    buffer_.consume(parsed);
    if (!error && !parser.is_header_done()) {
        error = http::error::need_more;
    }
    if (error) {
        co_return refuse(http::status::bad_request, "it cannot be parsed: " + error.message());
    }
    co_return NextRequest{true, std::nullopt};
}

// Buffers bytes until the request head is complete. Never reads past max_head_bytes, and scans
// each byte once however slowly it trickles in.
//
// Two deadlines: an idle keep-alive connection may wait idle_timeout for its next request;
// once a request has begun (its first byte, or the connect for the first request) the whole
// head must arrive within head_timeout, so a client that trickles a byte at a time (slowloris)
// cannot hold the connection.
asio::awaitable<Connection::HeadBytes> Connection::read_head() {
    const std::size_t max_head_bytes = context_.limits.max_head_bytes;
    HeadBytes head;
    if (buffer_.size() == 0 && buffer_.capacity() > idle_read_bytes) {
        buffer_.shrink_to_fit();  // a long head's buffer is not kept while the client idles
    }
    head.started = first_request_ || buffer_.size() > 0;
    first_request_ = false;
    expire_after(stream_,
                 head.started ? context_.limits.head_timeout : context_.limits.idle_timeout);
    std::size_t scanned = 0;
    bool request_line_checked = false;
    for (;;) {
        const std::string_view bytes(static_cast<const char*>(buffer_.data().data()),
                                     buffer_.size());
        const std::size_t resume = scanned >= 2 ? scanned - 2 : 0;
        if (const std::size_t end = find_head_end(bytes.substr(resume));
            end != std::string_view::npos) {
            head.length = resume + end;
            co_return head;
        }
        if (const std::size_t line_end =
                request_line_checked ? std::string_view::npos : bytes.find('\n');
            line_end != std::string_view::npos) {
            request_line_checked = true;
            std::string_view line = bytes.substr(0, line_end);
            if (line.ends_with('\r')) {
                line.remove_suffix(1);
            }
            if (const HeadCheck check = check_request_line(line); !line.empty() && !check.ok) {
                head.refused_line = check.reason;
                head.error = http::error::bad_version;
                co_return head;
            }
        }
        scanned = bytes.size();
        if (bytes.size() >= max_head_bytes) {
            head.error = http::error::header_limit;
            co_return head;
        }
        if (!head.started && !bytes.empty()) {
            head.started = true;
            expire_after(stream_, context_.limits.head_timeout);
        }
        const std::size_t piece = bytes.empty() ? idle_read_bytes : head_read_bytes;
        const std::size_t room = std::min<std::size_t>(piece, max_head_bytes - bytes.size());
        auto [error, received] = co_await stream_.async_read_some(buffer_.prepare(room), nothrow);
        buffer_.commit(received);
        if (error) {
            head.error = error;
            co_return head;
        }
    }
}

asio::awaitable<void> Connection::close() {
    if (stream_.is_tls()) {
        // The drain comes first: end_writes() marks the client's close_notify as received, after
        // which the TLS stream may read no more, and what the client still sends would stay
        // unread and make the close reset the answer.
        if (drain_before_close_) {
            co_await drain();
        }
        stream_.expires_after(linger_timeout);
        co_await stream_.end_writes();
    } else {
        co_await stream_.end_writes();
        if (drain_before_close_) {
            co_await drain();
        }
    }
    stream_.close();
    --context_.state.open_sessions;
    give_back_memory_when_quiet();
}

// After an error answer the client may still be sending the request (its body, say): closing
// with unread bytes makes the kernel reset the connection, which can destroy the answer before
// the client reads it (RFC 9112 section 9.6). So read and discard for a moment, bounded in time
// and bytes, as nginx's lingering_close does.
asio::awaitable<void> Connection::drain() {
    stream_.expires_after(linger_timeout);
    const std::size_t buffered = std::min(buffer_.size(), linger_max_bytes);
    co_await discard_incoming(stream_, linger_max_bytes - buffered);
    stream_.expires_never();
}

asio::awaitable<bool> Connection::send_continue() {
    static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(own_write_timeout);
    auto [error, written] =
        co_await asio::async_write(stream_, asio::buffer(interim.data(), interim.size()), nothrow);
    stream_.expires_never();
    co_return !error;
}

asio::awaitable<void> Connection::end_chunked_body() {
    static constexpr std::string_view last_chunk = "0\r\n\r\n";
    stream_.expires_after(own_write_timeout);
    co_await asio::async_write(stream_, asio::buffer(last_chunk.data(), last_chunk.size()),
                               nothrow);
    stream_.expires_never();
}

asio::awaitable<void> Connection::close_daemon_when_client_leaves(DaemonStream& daemon) {
    const ClientWatch watch =
        stream_.is_tls() ? co_await watch_tls_client() : co_await watch_plain_client();
    if (watch == ClientWatch::left) {
        daemon.close();
    }
    if (watch != ClientWatch::stays) {
        co_return;
    }
    // A pipelined next request, not a hang-up: it waits until this answer ends.
    asio::steady_timer forever(co_await asio::this_coro::executor,
                               std::chrono::steady_clock::time_point::max());
    co_await forever.async_wait(nothrow);
}

// Peeks, so that a pipelined next request stays in the socket for read_head().
asio::awaitable<Connection::ClientWatch> Connection::watch_plain_client() {
    ClientSocket& client_socket = socket();
    for (;;) {
        auto [wait_error] =
            co_await client_socket.async_wait(asio::socket_base::wait_read, nothrow);
        if (wait_error) {
            co_return ClientWatch::cancelled;
        }
        char probe = 0;
        const ssize_t peeked =
            ::recv(client_socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            continue;
        }
        co_return peeked > 0 ? ClientWatch::stays : ClientWatch::left;
    }
}

// Under TLS a peek cannot tell a hang-up from a request: the client's close_notify is bytes in
// the socket, and a request may already sit decrypted-to-be in the TLS stream's buffer with
// nothing left in the socket. So the watch reads through the stream (one read beside the
// relay's writes, which TLS allows) and keeps what it reads in the buffer read_head() starts
// from; a close_notify, EOF or reset ends the read with an error.
asio::awaitable<Connection::ClientWatch> Connection::watch_tls_client() {
    const std::size_t room = std::min(head_read_bytes, buffer_.max_size() - buffer_.size());
    if (room == 0) {
        co_return ClientWatch::stays;  // a whole head's worth already waits
    }
    auto [error, received] = co_await stream_.async_read_some(buffer_.prepare(room), nothrow);
    buffer_.commit(received);
    if (received > 0) {
        co_return ClientWatch::stays;
    }
    co_return error == asio::error::operation_aborted ? ClientWatch::cancelled : ClientWatch::left;
}

// Streams stay open for days holding only their own buffers: they do not count.
void Connection::give_back_memory_when_quiet() {
    release_thread_spares_when_idle();
    if (context_.state.requests_in_flight <= context_.state.open_streams) {
        context_.memory.on_quiet();
    }
}

}  // namespace socket_proxy
