#include "session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "answer_strategy.hpp"
#include "daemon_request.hpp"
#include "daemon_socket.hpp"
#include "forwarded_head.hpp"
#include "head_check.hpp"
#include "json_text.hpp"
#include "label_scope.hpp"
#include "log.hpp"
#include "redact.hpp"
#include "splice.hpp"
#include "write_body.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Head bytes are read in pieces of this size, so a small request costs a small buffer.
constexpr std::size_t head_read_bytes = 4096;

// After an error answer that closes the connection, what the client still sends is read and
// dropped for at most this long and this much, so that the close does not reset the answer.
constexpr auto linger_timeout = std::chrono::seconds(2);
constexpr std::size_t linger_max_bytes = 1024 * 1024;

// Redacted answers are held whole: the largest is /tasks of a big swarm, a few MB.
constexpr std::size_t max_redacted_body_bytes = 32 * 1024 * 1024;

// One line of /events is one event, a few hundred bytes; a line longer than this under a
// label-scoped rule is not an event the proxy can judge, and ends the stream.
constexpr std::size_t max_event_bytes = 1024 * 1024;

// A refused connection gets this long, in all, to take its 503 and hang up.
constexpr auto refusal_timeout = std::chrono::seconds(2);

// How long writing a proxy-generated error answer may take before the client is dropped.
constexpr auto error_write_timeout = std::chrono::seconds(10);

// One read's worth of body in flight per direction: the daemon is only read as fast as the
// client takes the bytes (backpressure), and nothing grows without a limit.
constexpr std::size_t relay_chunk_bytes = 32 * 1024;

// The relay's buffer, left uninitialised: zeroing 32 KiB cost more than a small answer's
// whole relay (bench/: a tenth of the proxy's CPU per request).
class RelayScratch {
  public:
    std::span<char> bytes() { return {bytes_.get(), relay_chunk_bytes}; }

  private:
    std::unique_ptr<char[]> bytes_ = std::make_unique_for_overwrite<char[]>(relay_chunk_bytes);
};

using Clock = std::chrono::steady_clock;

long long milliseconds_between(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
}

double seconds_between(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration<double>(end - start).count();
}

std::string describe(const Client& client) {
    if (client.transport == Client::Transport::tcp) {
        return client.address;
    }
    std::string who = "unix";
    if (client.uid)
        who += ":uid=" + std::to_string(*client.uid);
    if (client.pid)
        who += ",pid=" + std::to_string(*client.pid);
    return who;
}

// Every configurable deadline: 0 is no deadline.
template <class Stream>
void expire_after(Stream& stream, Duration limit) {
    if (limit.count() > 0) {
        stream.expires_after(limit);
    } else {
        stream.expires_never();
    }
}

// The complete error answer the docker CLI prints: {"message"} with exactly
// application/json, which is the only type it reads the message from.
http::response<http::string_body> error_response(http::status status, const std::string& message,
                                                 bool keep_alive, unsigned version) {
    http::response<http::string_body> response{status, version};
    response.set(http::field::content_type, "application/json");
    response.body() = docker_error_body(message);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
}

// Reads and drops what the peer still sends, until it closes, the stream's deadline (which the
// caller set) passes, or `max_bytes` went by.
template <class Stream>
asio::awaitable<void> discard_incoming(Stream& stream, std::size_t max_bytes) {
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

// While a response of unknown length or a tunnel is relayed, it counts as an open stream.
class OpenStream {
  public:
    OpenStream(ServerState& state, bool counted) : state_(state), counted_(counted) {
        if (counted_)
            ++state_.open_streams;
    }
    ~OpenStream() {
        if (counted_)
            --state_.open_streams;
    }
    OpenStream(const OpenStream&) = delete;
    OpenStream& operator=(const OpenStream&) = delete;

  private:
    ServerState& state_;
    bool counted_;
};

// What the daemon said a label-scoped request's container is.
struct ContainerLookup {
    enum class Outcome { visible, hidden, failed } outcome = Outcome::failed;
    std::string id;                                   // visible: the full id to forward under
    http::status status = http::status::bad_gateway;  // failed
    std::string message;                              // failed
};

// Rewrites a held answer; nullopt when the answer cannot be read (nothing is forwarded then).
struct AnswerRewrite {
    std::function<std::optional<std::string>(std::string_view)> apply;
    std::string done;  // "redacted", "filtered": logged, and named in the 502 when it fails
};

// The log line's account of a relay that broke off.
std::vector<LogField> relay_error_fields(const RelayOutcome& relayed) {
    if (relayed.read_error) {
        return {{"error", "daemon: " + relayed.read_error.message()}};
    }
    if (relayed.write_error) {
        return {{"error", "client: " + relayed.write_error.message()}};
    }
    return {};
}

// The buffer_body relay of Beast's http_examples.hpp, reading with read_some so that every
// piece is passed on as soon as it arrives: an event must not wait for a buffer to fill.
template <bool isRequest, class From, class To>
asio::awaitable<RelayOutcome> relay_body(From& from, beast::flat_buffer& from_buffer,
                                         http::parser<isRequest, http::buffer_body>& parser, To& to,
                                         http::serializer<isRequest, http::buffer_body>& out,
                                         std::span<char> scratch, Duration read_idle_limit) {
    RelayOutcome outcome;
    auto& body = parser.get().body();
    while (!parser.is_done()) {
        body.data = scratch.data();
        body.size = scratch.size();
        const bool deadline = read_idle_limit.count() > 0;
        if (deadline) {
            from.expires_after(read_idle_limit);
        }
        auto [read_error, ignored] =
            co_await http::async_read_some(from, from_buffer, parser, nothrow);
        if (deadline) {
            from.expires_never();  // only then: this loop is the relay's hot path
        }
        if (read_error == http::error::need_buffer) {
            read_error = {};
        }
        if (read_error) {
            outcome.read_error = read_error;
            co_return outcome;
        }
        const std::size_t parsed = scratch.size() - body.size;
        if (parsed == 0 && !parser.is_done()) {
            continue;  // a chunk header or extension, no payload yet
        }
        body.data = parsed > 0 ? scratch.data() : nullptr;
        body.size = parsed;
        body.more = !parser.is_done();
        auto [write_error, written] = co_await http::async_write(to, out, nothrow);
        if (write_error == http::error::need_buffer) {
            write_error = {};
        }
        if (write_error) {
            outcome.write_error = write_error;
            co_return outcome;
        }
        outcome.bytes += parsed;
        if (!body.more && parsed > 0 && !out.is_done()) {
            // The last piece went out; this write emits the end of a chunked body.
            body.data = nullptr;
            body.size = 0;
            auto [final_error, final_bytes] = co_await http::async_write(to, out, nothrow);
            if (final_error && final_error != http::error::need_buffer) {
                outcome.write_error = final_error;
            }
        }
    }
    co_return outcome;
}

// Reads the rest of a daemon answer into `body`: held answers (rewritten, or looked at by the
// proxy) are bounded; a longer one ends with http::error::body_limit.
// Reads the next piece of a daemon answer's body into `scratch`; returns its size in `read`.
asio::awaitable<error_code> read_body_piece(DaemonStream& daemon, beast::flat_buffer& buffer,
                                            http::response_parser<http::buffer_body>& parser,
                                            std::span<char> scratch, std::size_t& read) {
    auto& piece = parser.get().body();
    piece.data = scratch.data();
    piece.size = scratch.size();
    auto [error, ignored] = co_await http::async_read_some(daemon, buffer, parser, nothrow);
    read = scratch.size() - piece.size;
    co_return error == http::error::need_buffer ? error_code{} : error;
}

asio::awaitable<error_code> read_whole_body(DaemonStream& daemon, beast::flat_buffer& buffer,
                                            http::response_parser<http::buffer_body>& parser,
                                            std::span<char> scratch, std::string& body) {
    while (!parser.is_done()) {
        std::size_t read = 0;
        if (const error_code error =
                co_await read_body_piece(daemon, buffer, parser, scratch, read)) {
            co_return error;
        }
        body.append(scratch.data(), read);
        if (body.size() > max_redacted_body_bytes) {
            co_return http::error::body_limit;
        }
    }
    co_return error_code{};
}

// A daemon connection goes back to the pool only when its answer ended cleanly and nothing of
// a next answer is buffered; otherwise it is closed.
void finish_daemon_connection(DaemonPool& daemons, DaemonConnection& connection, bool complete,
                              bool keep_alive, const beast::flat_buffer& leftover) {
    if (complete && keep_alive && leftover.size() == 0) {
        daemons.release(std::move(connection.stream));
    } else {
        connection.stream->close();
    }
}

// The daemon's end-to-end fields for an answer the proxy re-frames itself: no hop-by-hop
// fields, no framing (the proxy sets its own).
http::response_header<> reframed_head(const http::response_header<>& daemon_head,
                                      unsigned client_version) {
    http::response_header<> head;
    head.result(daemon_head.result());
    head.version(client_version);
    for (const auto& field : daemon_head) {
        head.insert(field.name_string(), field.value());
    }
    remove_hop_by_hop_fields(head, false);
    head.erase(http::field::transfer_encoding);
    head.erase(http::field::content_length);
    return head;
}

// Asks the daemon, on a connection of the proxy's own, which container `reference` names
// (id, id prefix or name, resolved as for the client's request) and whether it is visible.
asio::awaitable<ContainerLookup> look_up_container(DaemonPool& daemons, Duration timeout,
                                                   const std::string& reference,
                                                   const std::vector<LabelSelector>& labels) {
    const auto failed = [](http::status status, std::string message) {
        return ContainerLookup{ContainerLookup::Outcome::failed, {}, status, std::move(message)};
    };
    const std::string& path = daemons.socket_path();
    const DaemonAnswer answer = co_await daemon_request(
        daemons, timeout, http::verb::get, "/containers/" + encode_path(reference) + "/json",
        max_redacted_body_bytes);
    if (answer.error) {
        co_return failed(answer.error == beast::error::timeout ? http::status::gateway_timeout
                                                               : http::status::bad_gateway,
                         "socket-proxy: the Docker engine at " + path +
                             " did not answer which container this is: " + answer.error.message());
    }
    if (answer.status == 404) {
        co_return ContainerLookup{ContainerLookup::Outcome::hidden, {}, {}, {}};
    }
    if (answer.status != 200) {
        co_return failed(http::status::bad_gateway,
                         "socket-proxy: the Docker engine answered " +
                             std::to_string(answer.status) +
                             " when asked which container this is: " + answer.body);
    }
    const std::optional<ContainerIdentity> identity = read_container_identity(answer.body, labels);
    if (!identity) {
        co_return failed(http::status::bad_gateway,
                         "socket-proxy: the Docker engine's description of the container "
                         "is not JSON the proxy can read; nothing was forwarded");
    }
    co_return ContainerLookup{
        identity->visible ? ContainerLookup::Outcome::visible : ContainerLookup::Outcome::hidden,
        identity->id,
        {},
        {}};
}

// One chunk of a chunked body (RFC 9112 section 7.1).
std::string chunk_text(std::string_view data) {
    std::ostringstream size;
    size << std::hex << data.size();
    std::string text = size.str();
    text += "\r\n";
    text += data;
    text += "\r\n";
    return text;
}

// Copies bytes one way until EOF, then half-closes the other side: after an upgrade (101)
// the connection is a raw pipe, e.g. `docker attach`.
// Returns how many bytes went through.
template <class From, class To>
asio::awaitable<std::uint64_t> pipe_bytes(From& from, To& to, std::span<char> scratch) {
    std::uint64_t piped = 0;
    for (;;) {
        auto [read_error, count] =
            co_await from.async_read_some(asio::buffer(scratch.data(), scratch.size()), nothrow);
        if (count > 0) {
            auto [write_error, written] =
                co_await asio::async_write(to, asio::buffer(scratch.data(), count), nothrow);
            piped += written;
            if (write_error) {
                break;
            }
        }
        if (read_error) {
            break;
        }
    }
    error_code ignored;
    to.shutdown(asio::socket_base::shutdown_send, ignored);
    co_return piped;
}

struct TunnelBytes {
    std::uint64_t to_daemon = 0;
    std::uint64_t to_client = 0;
};

template <class Protocol>
class Session {
  public:
    Session(typename Protocol::socket socket, Client identity, SessionContext context)
        : client_(std::move(socket)), identity_(std::move(identity)), context_(context) {}

    // The acceptor counted this connection in open_sessions before spawning it, so that a
    // burst of connects cannot overshoot the limit before any session starts.
    asio::awaitable<void> run() {
        while (co_await serve_one_request()) {
            ++requests_served_;
        }
        error_code ignored;
        client_.socket().shutdown(asio::socket_base::shutdown_send, ignored);
        if (linger_before_close_) {
            co_await drain_client();
        }
        client_.close();
        --context_.state.open_sessions;
        give_back_memory_when_quiet();
    }

  private:
    using ClientStream = beast::basic_stream<Protocol>;
    using RequestParser = http::request_parser<http::buffer_body>;

    // Returns whether the client connection can carry another request.
    asio::awaitable<bool> serve_one_request() {
        answering_head_ = false;
        const auto head = co_await read_head();
        client_.expires_never();
        if (!head) {
            if (head.error() == http::error::bad_version && !request_line_refusal_.empty()) {
                co_await refuse_head(http::status::bad_request, request_line_refusal_);
            } else if (head.error() == http::error::header_limit) {
                co_await refuse_head(http::status::request_header_fields_too_large,
                                     "its head exceeds " +
                                         format_size(context_.limits.max_head_bytes) +
                                         " (SOCKET_PROXY_MAX_HEAD_SIZE)");
            } else if (head.error() == beast::error::timeout && head_started_) {
                // basic_stream has closed the socket: nothing can be answered, only logged.
                log_event(LogLevel::warning, "bad-request",
                          {{"client", describe(identity_)},
                           {"error", "the request head did not arrive within " +
                                         format_duration(context_.limits.head_timeout) +
                                         " (SOCKET_PROXY_HEAD_TIMEOUT)"}});
            }
            co_return false;  // otherwise the client left or idled out: nobody to answer
        }
        const std::string_view head_bytes(static_cast<const char*>(client_buffer_.data().data()),
                                          head.value());
        const HeadLimits limits{context_.limits.max_header_fields};
        if (const HeadCheck check = check_request_head(head_bytes, limits); !check.ok) {
            co_await refuse_head(check.too_many_fields
                                     ? http::status::request_header_fields_too_large
                                     : http::status::bad_request,
                                 check.reason);
            co_return false;
        }

        RequestParser parser;
        parser.header_limit(static_cast<std::uint32_t>(context_.limits.max_head_bytes));
        parser.body_limit(boost::none);  // bodies are streamed, never held
        // The whole head is buffered: this parses it without reading from the client.
        auto [error, ignored] =
            co_await http::async_read_header(client_, client_buffer_, parser, nothrow);
        if (error) {
            co_await refuse_head(http::status::bad_request,
                                 "it cannot be parsed: " + error.message());
            co_return false;
        }
        co_return co_await handle(parser);
    }

    // After an error answer the client may still be sending the request (its body, say):
    // closing with unread bytes makes the kernel reset the connection, which can destroy the
    // answer before the client reads it (RFC 9112 section 9.6). So read and discard for a
    // moment, bounded in time and bytes, as nginx's lingering_close does.
    asio::awaitable<void> drain_client() {
        client_.expires_after(linger_timeout);
        const std::size_t buffered = std::min(client_buffer_.size(), linger_max_bytes);
        co_await discard_incoming(client_, linger_max_bytes - buffered);
        client_.expires_never();
    }

    // Buffers bytes until the request head is complete; returns its length. Never reads past
    // max_head_bytes, and scans each byte once however slowly it trickles in.
    //
    // Two deadlines: an idle keep-alive connection may wait idle_timeout for its next
    // request; once a request has begun (its first byte, or the connect for the first
    // request) the whole head must arrive within head_timeout, so a client that trickles a
    // byte at a time (slowloris) cannot hold the connection.
    asio::awaitable<boost::system::result<std::size_t>> read_head() {
        const std::size_t max_head_bytes = context_.limits.max_head_bytes;
        head_started_ = requests_served_ == 0 || client_buffer_.size() > 0;
        expire_after(client_,
                     head_started_ ? context_.limits.head_timeout : context_.limits.idle_timeout);
        std::size_t scanned = 0;
        bool request_line_checked = false;
        for (;;) {
            const std::string_view bytes(static_cast<const char*>(client_buffer_.data().data()),
                                         client_buffer_.size());
            const std::size_t resume = scanned >= 2 ? scanned - 2 : 0;
            if (const std::size_t end = find_head_end(bytes.substr(resume));
                end != std::string_view::npos) {
                co_return resume + end;
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
                    request_line_refusal_ = check.reason;
                    co_return error_code(http::error::bad_version);
                }
            }
            scanned = bytes.size();
            if (bytes.size() >= max_head_bytes) {
                co_return error_code(http::error::header_limit);
            }
            if (!head_started_ && !bytes.empty()) {
                head_started_ = true;
                expire_after(client_, context_.limits.head_timeout);
            }
            const std::size_t room =
                std::min<std::size_t>(head_read_bytes, max_head_bytes - bytes.size());
            auto [error, received] =
                co_await client_.async_read_some(client_buffer_.prepare(room), nothrow);
            client_buffer_.commit(received);
            if (error) {
                co_return error;
            }
        }
    }

    asio::awaitable<void> refuse_head(http::status status, const std::string& why) {
        log_event(LogLevel::warning, "bad-request",
                  {{"client", describe(identity_)},
                   {"status", std::to_string(static_cast<int>(status))},
                   {"error", why}});
        count_bad_request({}, status);
        co_await answer_error(status, "socket-proxy refused the request: " + why, false, 11);
    }

    // Returns whether the client connection can carry another request.
    asio::awaitable<bool> handle(RequestParser& parser) {
        const auto started = Clock::now();
        auto& request = parser.get();
        answering_head_ = request.method() == http::verb::head;
        raw_target_ = request.target();
        bytes_in_ = 0;
        stream_started_.reset();

        if (const std::string problem = find_ambiguity(request); !problem.empty()) {
            log_event(LogLevel::warning, "bad-request",
                      {{"client", describe(identity_)},
                       {"method", std::string(request.method_string())},
                       {"path", std::string(request.target())},
                       {"status", "400"},
                       {"error", problem}});
            count_bad_request(request.method_string(), http::status::bad_request);
            co_await answer_error(http::status::bad_request,
                                  "socket-proxy refused the request: " + problem, false,
                                  request.version());
            co_return false;
        }

        const std::shared_ptr<const Policy> policy = context_.policy.load();
        Request asked{request.method_string(), request.target(), request[http::field::host]};
        const std::string_view content_type = request[http::field::content_type];
        asked.form_body = beast::iequals(content_type.substr(0, content_type.find(';')),
                                         "application/x-www-form-urlencoded");
        const Decision decision = decide(asked, identity_, *policy);
        audit_.reset();
        if (const std::shared_ptr<const Policy> candidate = context_.audit_policy.load()) {
            const Decision audited = decide(asked, identity_, *candidate);
            audit_ = AuditVerdict{audited.allowed(), audited.rule};
        }
        if (!decision.allowed()) {
            // An unread request body would be taken for the next request: close instead.
            const bool keep_alive = request.keep_alive() && parser.is_done();
            log_request(LogLevel::warning, request, decision, decision.status, 0, started);
            co_await answer_error(static_cast<http::status>(decision.status), decision.message,
                                  keep_alive, request.version());
            co_return keep_alive;
        }
        if (decision.scope && decision.scope->kind == ScopedRouteKind::container) {
            co_return co_await forward_scoped(parser, decision, started);
        }
        co_return co_await forward(parser, decision, started);
    }

    // A request about one container under a label-scoped rule: forwarded under the full id of
    // the container the daemon resolved, or answered as the daemon answers for no container.
    asio::awaitable<bool> forward_scoped(RequestParser& parser, const Decision& decision,
                                         Clock::time_point started) {
        auto& request = parser.get();
        const ContainerLookup found =
            co_await look_up_container(context_.daemons, context_.limits.daemon_timeout,
                                       decision.scope->container, decision.container_labels);
        if (found.outcome == ContainerLookup::Outcome::visible) {
            Decision pinned = decision;
            pinned.target = pinned_target(*decision.target, *decision.scope, found.id);
            co_return co_await forward(parser, pinned, started);
        }
        const bool keep_alive = request.keep_alive() && parser.is_done();
        if (found.outcome == ContainerLookup::Outcome::hidden) {
            log_request(LogLevel::info, request, decision, 404, 0, started,
                        {{"scope", "container not visible"}});
            co_await answer_error(http::status::not_found,
                                  "No such container: " + decision.scope->container, keep_alive,
                                  request.version());
            co_return keep_alive;
        }
        log_request(LogLevel::error, request, decision, static_cast<int>(found.status), 0, started,
                    {{"error", found.message}});
        co_await answer_error(found.status, found.message, false, request.version());
        co_return false;
    }

    asio::awaitable<bool> forward(RequestParser& parser, const Decision& decision,
                                  Clock::time_point started) {
        auto& request = parser.get();
        const unsigned client_version = request.version();
        const bool client_keep_alive = request.keep_alive();
        const bool is_head = request.method() == http::verb::head;
        const bool upgrade_requested = requests_upgrade(request);
        const bool has_body = !parser.is_done();

        const Expectation expectation = read_expectation(request);
        if (expectation == Expectation::unsupported) {
            // Go's server answers 417 to any expectation but 100-continue; the body is unread.
            co_return co_await refuse_allowed(request, decision, http::status::expectation_failed,
                                              "socket-proxy refused the request: its Expect "
                                              "field asks for something other than 100-continue",
                                              false, started);
        }
        if (expectation == Expectation::continue_100 && has_body && client_version >= 11 &&
            !co_await send_continue()) {
            co_return false;
        }

        RelayScratch scratch_storage;
        const std::span<char> scratch = scratch_storage.bytes();
        // A write whose body says what will run is held, checked, and forwarded as checked.
        std::optional<std::string> held_body;
        if (write_body_is_checked(decision.write)) {
            // Beast adds the trailer fields of a chunked body to the head it parsed, and a held
            // body's head leaves after the body was read: the daemon gets the head the policy
            // decided on, and what a trailer says is dropped. (A streamed body's head has left
            // before its trailer arrives, and the relay writes no trailer.)
            std::optional<RequestHead> head_before_body;
            if (has_body && parser.chunked()) {
                head_before_body.emplace(request.base());
            }
            held_body.emplace();
            if (const auto refused =
                    co_await hold_write_body(parser, decision, scratch, *held_body, started)) {
                co_return *refused;
            }
            if (head_before_body) {
                request.base() = *head_before_body;
            }
        }

        prepare_forwarded_head(request, *decision.target, parser.content_length(),
                               upgrade_requested);
        if (held_body) {
            request.erase(http::field::transfer_encoding);
            request.set(http::field::content_length, std::to_string(held_body->size()));
        }

        const bool streams_body = has_body && !held_body;
        const std::string head_text = streams_body ? std::string() : serialise_head(request);

        ++context_.state.requests_in_flight;
        struct InFlight {
            Session& session;
            ~InFlight() {
                --session.context_.state.requests_in_flight;
                session.give_back_memory_when_quiet();
            }
        } in_flight{*this};

        // A pooled connection the daemon closed meanwhile fails before any answer; a request
        // without a body (or with a held one) can then safely go out again on a fresh one.
        for (int attempt = 0;; ++attempt) {
            auto connection = co_await context_.daemons.acquire();
            if (!connection) {
                co_return co_await answer_daemon_unreachable(request, decision, connection.error(),
                                                             client_keep_alive && !has_body,
                                                             client_version, started);
            }
            DaemonStream& daemon = *connection->stream;
            const bool may_retry = connection->reused && (!has_body || held_body) && attempt == 0;

            arm_response_deadline(daemon);
            if (!streams_body) {
                // The head and a held body leave in one write.
                const std::array<asio::const_buffer, 2> out{
                    asio::buffer(head_text),
                    held_body ? asio::buffer(*held_body) : asio::const_buffer()};
                auto [write_error, written] = co_await asio::async_write(daemon, out, nothrow);
                if (write_error) {
                    if (may_retry)
                        continue;
                    co_return co_await answer_daemon_failed(request, decision, write_error,
                                                            client_version, started);
                }
                bytes_in_ = held_body ? held_body->size() : 0;
            } else {
                http::request_serializer<http::buffer_body> request_out(request);
                auto [head_error, head_bytes] =
                    co_await http::async_write_header(daemon, request_out, nothrow);
                if (head_error) {
                    co_return co_await answer_daemon_failed(request, decision, head_error,
                                                            client_version, started);
                }
                daemon.expires_never();  // a request body may legitimately take long to send
                // A request body that stops arriving is an idle client, not a flowing response.
                const auto sent =
                    co_await relay_body(client_, client_buffer_, parser, daemon, request_out,
                                        scratch, context_.limits.idle_timeout);
                bytes_in_ = sent.bytes;
                if (sent.read_error || sent.write_error) {
                    co_return co_await answer_body_relay_failed(request, decision, sent,
                                                                client_version, started);
                }
                arm_response_deadline(daemon);
            }

            std::optional<http::response_parser<http::buffer_body>> response_parser;
            beast::flat_buffer daemon_buffer;
            // Beast reads as much as the buffer has room for, at least 512 bytes: an empty
            // buffer relays a 64 MB answer in 512-byte reads (61 MB/s, bench/).
            daemon_buffer.reserve(relay_chunk_bytes);
            const error_code response_error = co_await read_final_answer_head(
                daemon, daemon_buffer, response_parser, is_head, upgrade_requested);
            daemon.expires_never();  // from here on the response flows: no deadline cuts it
            if (response_error) {
                if (may_retry && response_error != beast::error::timeout &&
                    daemon_buffer.size() == 0) {
                    continue;
                }
                co_return co_await answer_daemon_failed(request, decision, response_error,
                                                        client_version, started);
            }
            co_return co_await relay_response(request, decision, started, connection.value(),
                                              *response_parser, daemon_buffer, client_version,
                                              client_keep_alive, upgrade_requested, scratch);
        }
    }

    // A request the policy allowed that the proxy refuses all the same (its Expect, its body):
    // logged as a denial with that status, answered with the message. Returns whether the
    // connection can carry another request.
    asio::awaitable<bool> refuse_allowed(const http::request<http::buffer_body>& request,
                                         const Decision& decision, http::status status,
                                         std::string message, bool keep_alive,
                                         Clock::time_point started) {
        Decision refused = decision;
        refused.verdict = Verdict::deny;
        refused.status = static_cast<int>(status);
        refused.message = std::move(message);
        log_request(LogLevel::warning, request, refused, refused.status, 0, started);
        co_await answer_error(status, refused.message, keep_alive, request.version());
        co_return keep_alive;
    }

    // The client waits for this before it sends a body it announced with Expect: 100-continue.
    // Returns whether the client can still be written to.
    asio::awaitable<bool> send_continue() {
        static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
        client_.expires_after(error_write_timeout);
        auto [error, written] = co_await asio::async_write(
            client_, asio::buffer(interim.data(), interim.size()), nothrow);
        client_.expires_never();
        co_return !error;
    }

    // The daemon's answer head, past any interim (1xx) answers: those are the daemon's
    // business with the proxy, and a 100 taken for the answer would leave the real one
    // unread on a connection that goes back to the pool, to be read as another client's.
    // A 101 is final only when the client asked to upgrade.
    static asio::awaitable<error_code> read_final_answer_head(
        DaemonStream& daemon, beast::flat_buffer& daemon_buffer,
        std::optional<http::response_parser<http::buffer_body>>& parser, bool is_head,
        bool upgrade_requested) {
        constexpr int max_interim_answers = 8;  // a daemon that sends only 1xx is lying
        for (int interim = 0;; ++interim) {
            parser.emplace();
            parser->header_limit(max_daemon_head_bytes);
            parser->body_limit(boost::none);  // image exports are gigabytes
            if (is_head) {
                parser->skip(true);
            }
            auto [error, ignored] =
                co_await http::async_read_header(daemon, daemon_buffer, *parser, nothrow);
            if (error) {
                co_return error;
            }
            const unsigned status = parser->get().result_int();
            if (status < 100 || status >= 200 || (status == 101 && upgrade_requested)) {
                co_return error_code();
            }
            if (status == 101 || interim + 1 == max_interim_answers) {
                co_return make_error_code(boost::system::errc::protocol_error);
            }
        }
    }

    // Reads a checked write's whole body, at most its rule's body.max_size (a longer one is
    // refused, never forwarded unchecked), and checks it. Returns whether the connection can
    // go on when the request was answered here, nullopt when it may be forwarded.
    asio::awaitable<std::optional<bool>> hold_write_body(RequestParser& parser,
                                                         const Decision& decision,
                                                         std::span<char> scratch, std::string& held,
                                                         Clock::time_point started) {
        auto& request = parser.get();
        const std::size_t limit = decision.write_limits.max_body_bytes;
        const auto refuse = [&](http::status status, const std::string& why,
                                bool keep_alive) -> asio::awaitable<std::optional<bool>> {
            co_return co_await refuse_allowed(request, decision, status,
                                              "socket-proxy refused the body of " +
                                                  std::string(request.method_string()) + " " +
                                                  decision.target->route_path + ": " + why +
                                                  "; rule " + decision.rule + " does not allow it",
                                              keep_alive, started);
        };
        const bool too_long_to_read = parser.content_length() && *parser.content_length() > limit;
        error_code error = too_long_to_read ? error_code(http::error::body_limit) : error_code();
        while (!error && !parser.is_done()) {
            auto& body = parser.get().body();
            body.data = scratch.data();
            body.size = scratch.size();
            expire_after(client_, context_.limits.idle_timeout);
            auto [read_error, ignored] =
                co_await http::async_read_some(client_, client_buffer_, parser, nothrow);
            client_.expires_never();
            error = read_error == http::error::need_buffer ? error_code() : read_error;
            held.append(scratch.data(), scratch.size() - body.size);
            if (!error && held.size() > limit) {
                error = http::error::body_limit;
            }
        }
        if (error == http::error::body_limit) {
            co_return co_await refuse(http::status::payload_too_large,
                                      "the body is larger than " + format_size(limit) +
                                          " (body.max_size), too large to check",
                                      false);
        }
        if (error) {
            const bool client_fault =
                error.category() == http::make_error_code(http::error::bad_chunk).category();
            if (!client_fault) {
                co_return false;  // the client left or idled out mid-body: nobody to answer
            }
            co_return co_await refuse(http::status::bad_request,
                                      "the body cannot be read: " + error.message(), false);
        }
        WriteJudgement judged =
            judge_write_body(decision.write, decision.target->query, held, decision.write_limits);
        std::vector<std::pair<EngineReference, std::string>> resolved;
        if (!judged.refusal) {
            judged.refusal = co_await ask_engine_about(judged.references, resolved);
        }
        if (!judged.refusal && !resolved.empty()) {
            if (std::optional<std::string> pinned = pin_borrowed_namespaces(held, resolved)) {
                held = std::move(*pinned);
            } else {
                judged.refusal = WriteRefusal{403,
                                              "the body cannot be written back with the "
                                              "containers it joins named by their ids"};
            }
        }
        if (judged.refusal) {
            co_return co_await refuse(static_cast<http::status>(judged.refusal->status),
                                      judged.refusal->reason, request.keep_alive());
        }
        co_return std::nullopt;
    }

    // The containers and networks a checked body names, as the engine resolves them: the first
    // refusal their descriptions call for. Each container whose namespace is joined comes back
    // in `resolved` with its full id, to pin the body to.
    asio::awaitable<std::optional<WriteRefusal>> ask_engine_about(
        const std::vector<EngineReference>& references,
        std::vector<std::pair<EngineReference, std::string>>& resolved) {
        for (const EngineReference& reference : references) {
            const DaemonAnswer answer = co_await daemon_request(
                context_.daemons, context_.limits.daemon_timeout, http::verb::get,
                reference_target(reference), max_redacted_body_bytes);
            if (answer.error) {
                co_return WriteRefusal{answer.error == beast::error::timeout ? 504 : 502,
                                       reference.where + " names " + reference.name +
                                           ", and the Docker engine did not say what it is: " +
                                           answer.error.message()};
            }
            if (auto refusal = judge_reference(reference, answer.status, answer.body)) {
                co_return refusal;
            }
            if (reference.kind == EngineReference::Kind::namespace_owner) {
                const std::optional<ContainerIdentity> identity =
                    read_container_identity(answer.body, {});
                if (!identity) {
                    co_return WriteRefusal{502, reference.where + " names " + reference.name +
                                                    ", and the engine's description of it "
                                                    "has no id the proxy can read"};
                }
                resolved.emplace_back(reference, identity->id);
            }
        }
        co_return std::nullopt;
    }

    void arm_response_deadline(DaemonStream& daemon) {
        expire_after(daemon, context_.limits.daemon_timeout);
    }

    asio::awaitable<bool> relay_response(http::request<http::buffer_body>& request,
                                         const Decision& decision, Clock::time_point started,
                                         DaemonConnection& connection,
                                         http::response_parser<http::buffer_body>& parser,
                                         beast::flat_buffer& daemon_buffer, unsigned client_version,
                                         bool client_keep_alive, bool upgrade_requested,
                                         std::span<char> scratch) {
        DaemonStream& daemon = *connection.stream;
        auto& response = parser.get();
        const bool upgraded =
            upgrade_requested && response.result() == http::status::switching_protocols;
        const bool length_known = parser.content_length().has_value() || parser.is_done();
        const bool redacts = decision.redact && route_carries_secrets(decision.target->route_path);
        AnswerFacts facts;
        facts.get = request.method() == http::verb::get;
        facts.status = response.result_int();
        facts.scope = decision.scope ? std::optional(decision.scope->kind) : std::nullopt;
        facts.redacts = redacts;
        facts.upgraded = upgraded;
        facts.whole_in_buffer = answer_is_buffered(parser, daemon_buffer, scratch.size());
        if (const auto remaining = parser.content_length_remaining()) {
            facts.remaining = *remaining;
        }
        const AnswerStrategy strategy = choose_answer_strategy(facts);

        switch (strategy) {
            case AnswerStrategy::scoped_events:
                co_return co_await relay_visible_events(request, decision, started, connection,
                                                        parser, daemon_buffer, client_version,
                                                        scratch);
            case AnswerStrategy::filtered_list: {
                AnswerRewrite filter{[&labels = decision.container_labels](std::string_view body) {
                                         return filter_container_list(body, labels);
                                     },
                                     "filtered"};
                co_return co_await relay_rewritten(request, decision, started, connection, parser,
                                                   daemon_buffer, client_version, client_keep_alive,
                                                   scratch, filter);
            }
            case AnswerStrategy::redacted: {
                AnswerRewrite redaction{[](std::string_view body) { return redact_secrets(body); },
                                        "redacted"};
                co_return co_await relay_rewritten(request, decision, started, connection, parser,
                                                   daemon_buffer, client_version, client_keep_alive,
                                                   scratch, redaction);
            }
            default:
                break;
        }

        remove_hop_by_hop_fields(response, upgraded);
        if (request.method() == http::verb::head && redacts) {
            // The length of the unredacted answer would tell how long the secrets are.
            response.erase(http::field::content_length);
        }
        response.version(client_version);
        bool keep_client = client_keep_alive && !upgraded;
        if (client_version < 11 && parser.chunked()) {
            // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
            response.chunked(false);
            keep_client = false;
        }
        if (!upgraded) {
            response.keep_alive(keep_client);
        }
        if (strategy == AnswerStrategy::buffered) {
            co_return co_await relay_buffered_answer(request, decision, started, connection, parser,
                                                     daemon_buffer, keep_client, scratch);
        }
        if (strategy == AnswerStrategy::spliced) {
            // Without a pipe (descriptors short), the answer is relayed through the buffer.
            if (std::optional<SplicePipe> pipe = SplicePipe::open()) {
                co_return co_await relay_spliced(request, decision, started, connection, parser,
                                                 daemon_buffer, keep_client, *pipe);
            }
        }

        const bool streaming = upgraded || !length_known;
        const OpenStream open_stream(context_.state, streaming);

        http::response_serializer<http::buffer_body> response_out(response);
        auto [head_error, head_bytes] =
            co_await http::async_write_header(client_, response_out, nothrow);
        if (head_error) {
            daemon.close();
            co_return false;
        }
        if (streaming) {
            stream_started_ = Clock::now();
        }
        if (upgraded) {
            const TunnelBytes tunnelled = co_await tunnel(daemon, daemon_buffer, scratch);
            bytes_in_ = tunnelled.to_daemon;
            log_request(LogLevel::debug, request, decision, 101, tunnelled.to_client, started,
                        {{"stream", "upgrade"}});
            co_return false;
        }

        RelayOutcome relayed;
        if (!parser.is_done()) {
            if (streaming) {
                // A silent stream (an idle /events) shows no write error when the client leaves;
                // watching the client side closes the daemon stream at once instead.
                auto finished = co_await (relay_body(daemon, daemon_buffer, parser, client_,
                                                     response_out, scratch, Duration::zero()) ||
                                          close_daemon_when_client_leaves(daemon));
                if (finished.index() == 0) {
                    relayed = std::get<0>(finished);
                } else {
                    relayed.write_error = asio::error::connection_reset;
                }
            } else {
                relayed = co_await relay_body(daemon, daemon_buffer, parser, client_, response_out,
                                              scratch, Duration::zero());
            }
        }
        if (streaming && relayed.read_error && !relayed.write_error && response.chunked()) {
            // The daemon went away mid-stream (an engine restart): end the chunked body, so
            // the client sees the stream end and reconnects instead of waiting on a silent
            // connection. The connection is closed after it all the same.
            co_await end_chunked_body();
        }

        const int status = static_cast<int>(response.result_int());
        std::vector<LogField> extra = relay_error_fields(relayed);
        if (streaming) {
            extra.insert(extra.begin(), {"stream", "ended"});
        }
        log_request(relayed.read_error || relayed.write_error ? LogLevel::info : LogLevel::debug,
                    request, decision, status, relayed.bytes, started, std::move(extra));

        const bool complete = !relayed.read_error && !relayed.write_error && parser.is_done();
        finish_daemon_connection(context_.daemons, connection, complete, parser.keep_alive(),
                                 daemon_buffer);
        co_return complete&& keep_client;
    }

    // Most answers (/_ping, /version, an inspect) arrive whole with their head, and fit the
    // scratch buffer: then they need no relay loop.
    static bool answer_is_buffered(const http::response_parser<http::buffer_body>& parser,
                                   const beast::flat_buffer& daemon_buffer, std::size_t room) {
        if (parser.is_done()) {
            return true;
        }
        const auto length = parser.content_length_remaining();
        return length && *length <= daemon_buffer.size() && *length <= room;
    }

    // Head and body go to the client in one write.
    asio::awaitable<bool> relay_buffered_answer(http::request<http::buffer_body>& request,
                                                const Decision& decision, Clock::time_point started,
                                                DaemonConnection& connection,
                                                http::response_parser<http::buffer_body>& parser,
                                                beast::flat_buffer& daemon_buffer, bool keep_client,
                                                std::span<char> scratch) {
        auto& response = parser.get();
        auto& body = response.body();
        body.data = scratch.data();
        body.size = scratch.size();
        error_code parse_error;
        while (!parse_error && !parser.is_done() && daemon_buffer.size() > 0) {
            const std::size_t used = parser.put(daemon_buffer.data(), parse_error);
            daemon_buffer.consume(used);
            if (used == 0) {
                break;
            }
        }
        if (parse_error || !parser.is_done()) {
            connection.stream->close();
            co_return co_await answer_daemon_failed(
                request, decision, parse_error ? parse_error : http::error::partial_message,
                response.version(), started);
        }
        const std::size_t body_size = scratch.size() - body.size;
        const std::string head_text = serialise_head(response.base());
        const std::array<asio::const_buffer, 2> out{asio::buffer(head_text),
                                                    asio::buffer(scratch.data(), body_size)};
        auto [write_error, written] = co_await asio::async_write(client_, out, nothrow);
        const int status = static_cast<int>(response.result_int());
        if (write_error) {
            log_request(LogLevel::info, request, decision, status, 0, started,
                        {{"error", "client: " + write_error.message()}});
        } else {
            log_request(LogLevel::debug, request, decision, status, body_size, started);
        }
        finish_daemon_connection(context_.daemons, connection, !write_error, parser.keep_alive(),
                                 daemon_buffer);
        co_return !write_error && keep_client;
    }

    // A long answer of known length the policy does not read: the head (with the body's
    // first bytes, read along with it) is written, the rest spliced from socket to socket.
    asio::awaitable<bool> relay_spliced(http::request<http::buffer_body>& request,
                                        const Decision& decision, Clock::time_point started,
                                        DaemonConnection& connection,
                                        http::response_parser<http::buffer_body>& parser,
                                        beast::flat_buffer& daemon_buffer, bool keep_client,
                                        SplicePipe& pipe) {
        auto& response = parser.get();
        const std::uint64_t length = *parser.content_length_remaining();
        const std::size_t buffered =
            static_cast<std::size_t>(std::min<std::uint64_t>(daemon_buffer.size(), length));
        const std::string head_text = serialise_head(response.base());
        const std::array<asio::const_buffer, 2> out{
            asio::buffer(head_text), asio::buffer(daemon_buffer.data().data(), buffered)};
        auto [write_error, written] = co_await asio::async_write(client_, out, nothrow);
        daemon_buffer.consume(buffered);
        RelayOutcome relayed;
        if (write_error) {
            relayed.write_error = write_error;
        } else {
            relayed = co_await splice_body(connection.stream->socket(), client_.socket(), pipe,
                                           length - buffered);
            relayed.bytes += buffered;
        }
        const bool complete = !relayed.read_error && !relayed.write_error;
        log_request(complete ? LogLevel::debug : LogLevel::info, request, decision,
                    static_cast<int>(response.result_int()), relayed.bytes, started,
                    relay_error_fields(relayed));
        finish_daemon_connection(context_.daemons, connection, complete, parser.keep_alive(),
                                 daemon_buffer);
        co_return complete&& keep_client;
    }

    // An answer that carries secrets or invisible containers is read whole (bounded),
    // rewritten, and sent with its new length. Whatever cannot be rewritten is not forwarded:
    // the client gets a 502 instead.
    asio::awaitable<bool> relay_rewritten(http::request<http::buffer_body>& request,
                                          const Decision& decision, Clock::time_point started,
                                          DaemonConnection& connection,
                                          http::response_parser<http::buffer_body>& parser,
                                          beast::flat_buffer& daemon_buffer,
                                          unsigned client_version, bool client_keep_alive,
                                          std::span<char> scratch, const AnswerRewrite& rewrite) {
        DaemonStream& daemon = *connection.stream;
        std::string body;
        const error_code read_error =
            co_await read_whole_body(daemon, daemon_buffer, parser, scratch, body);
        if (read_error == http::error::body_limit) {
            daemon.close();
            co_return co_await answer_not_rewritten(request, decision, started, client_version,
                                                    "the Docker engine's answer is larger than " +
                                                        format_size(max_redacted_body_bytes) +
                                                        ", too large to hold");
        }
        if (read_error) {
            daemon.close();
            co_return co_await answer_not_rewritten(
                request, decision, started, client_version,
                "the Docker engine's answer broke off before it could be " + rewrite.done + ": " +
                    read_error.message());
        }
        finish_daemon_connection(context_.daemons, connection, true, parser.keep_alive(),
                                 daemon_buffer);
        const std::optional<std::string> rewritten = rewrite.apply(body);
        if (!rewritten) {
            co_return co_await answer_not_rewritten(
                request, decision, started, client_version,
                "the Docker engine's answer is not JSON the proxy can read, so it cannot be " +
                    rewrite.done);
        }

        http::response<http::string_body> response{reframed_head(parser.get(), client_version),
                                                   *rewritten};
        response.keep_alive(client_keep_alive);
        response.prepare_payload();
        auto [error, written] = co_await http::async_write(client_, response, nothrow);
        log_request(error ? LogLevel::info : LogLevel::debug, request, decision, 200,
                    response.body().size(), started, {{rewrite.done, "true"}});
        co_return !error && client_keep_alive;
    }

    asio::awaitable<bool> answer_not_rewritten(const http::request<http::buffer_body>& request,
                                               const Decision& decision, Clock::time_point started,
                                               unsigned client_version, const std::string& why) {
        const std::string message = "socket-proxy: " + why + "; nothing was forwarded";
        log_request(LogLevel::error, request, decision, 502, 0, started, {{"error", message}});
        co_await answer_error(http::status::bad_gateway, message, false, client_version);
        co_return false;
    }

    // /events under a label-scoped rule: each event is judged on its own line and only visible
    // ones are passed on, each as soon as it arrives. The stream ends with the connection.
    asio::awaitable<bool> relay_visible_events(http::request<http::buffer_body>& request,
                                               const Decision& decision, Clock::time_point started,
                                               DaemonConnection& connection,
                                               http::response_parser<http::buffer_body>& parser,
                                               beast::flat_buffer& daemon_buffer,
                                               unsigned client_version, std::span<char> scratch) {
        DaemonStream& daemon = *connection.stream;
        const OpenStream open_stream(context_.state, true);
        const bool chunked = client_version >= 11;
        http::response_header<> head = reframed_head(parser.get(), client_version);
        head.set(http::field::connection, "close");
        if (chunked) {
            head.set(http::field::transfer_encoding, "chunked");
        }
        const std::string head_text = serialise_head(head);
        auto [head_error, head_bytes] =
            co_await asio::async_write(client_, asio::buffer(head_text), nothrow);
        if (head_error) {
            daemon.close();
            co_return false;
        }
        stream_started_ = Clock::now();

        EventRelay relay;
        auto finished =
            co_await (relay_events(daemon, daemon_buffer, parser, decision.container_labels,
                                   chunked, scratch, relay) ||
                      close_daemon_when_client_leaves(daemon));
        daemon.close();
        if (finished.index() == 1) {
            relay.client_error = asio::error::connection_reset;
        } else if (chunked && !relay.client_error) {
            co_await end_chunked_body();
        }
        std::vector<LogField> extra{{"stream", "ended"},
                                    {"scope", "events"},
                                    {"hidden_events", std::to_string(relay.hidden)}};
        if (relay.unreadable > 0) {
            extra.push_back({"unreadable_events", std::to_string(relay.unreadable)});
        }
        if (!relay.problem.empty()) {
            extra.push_back({"error", relay.problem});
        } else if (relay.client_error) {
            extra.push_back({"error", "client: " + relay.client_error.message()});
        }
        log_request(
            relay.problem.empty() && relay.unreadable == 0 ? LogLevel::debug : LogLevel::warning,
            request, decision, 200, relay.bytes, started, std::move(extra));
        co_return false;
    }

    struct EventRelay {
        std::uint64_t bytes = 0;
        std::size_t hidden = 0;
        std::size_t unreadable = 0;  // dropped: an event the proxy cannot read is not shown
        error_code client_error;
        std::string problem;  // why the proxy ended the stream itself
    };

    asio::awaitable<void> relay_events(DaemonStream& daemon, beast::flat_buffer& daemon_buffer,
                                       http::response_parser<http::buffer_body>& parser,
                                       const std::vector<LabelSelector>& labels, bool chunked,
                                       std::span<char> scratch, EventRelay& relay) {
        std::string pending;
        std::string visible;
        while (!parser.is_done()) {
            std::size_t read = 0;
            if (const error_code error =
                    co_await read_body_piece(daemon, daemon_buffer, parser, scratch, read)) {
                relay.problem = "daemon: " + error.message();
                co_return;
            }
            pending.append(scratch.data(), read);
            const bool last = parser.is_done();
            std::size_t line_start = 0;
            for (;;) {
                std::size_t line_end = pending.find('\n', line_start);
                if (line_end == std::string::npos) {
                    if (!last || line_start == pending.size())
                        break;
                    line_end = pending.size();
                }
                const std::string_view event(pending.data() + line_start, line_end - line_start);
                line_start = std::min(line_end + 1, pending.size());
                if (event.find_first_not_of(" \t\r") == std::string_view::npos) {
                    continue;
                }
                switch (event_visibility(event, labels)) {
                    case EventVisibility::visible:
                        visible.append(event);
                        visible += '\n';
                        break;
                    case EventVisibility::hidden:
                        ++relay.hidden;
                        break;
                    case EventVisibility::unreadable:
                        ++relay.unreadable;
                        break;
                }
            }
            pending.erase(0, line_start);
            if (pending.size() > max_event_bytes) {
                relay.problem = "an event line longer than " + format_size(max_event_bytes) +
                                " cannot be judged; the stream was ended";
                co_return;
            }
            if (visible.empty()) {
                continue;
            }
            const std::size_t event_bytes = visible.size();
            if (chunked) {
                visible = chunk_text(visible);
            }
            const auto [write_error, written] =
                co_await asio::async_write(client_, asio::buffer(visible), nothrow);
            if (write_error) {
                relay.client_error = write_error;
                co_return;
            }
            relay.bytes += event_bytes;
            visible.clear();
        }
    }

    // Streams stay open for days holding only their own buffers: they do not count.
    void give_back_memory_when_quiet() {
        if (context_.state.requests_in_flight <= context_.state.open_streams) {
            context_.memory.on_quiet();
        }
    }

    asio::awaitable<void> end_chunked_body() {
        static constexpr std::string_view last_chunk = "0\r\n\r\n";
        client_.expires_after(error_write_timeout);
        co_await asio::async_write(client_, asio::buffer(last_chunk.data(), last_chunk.size()),
                                   nothrow);
        client_.expires_never();
    }

    asio::awaitable<void> close_daemon_when_client_leaves(DaemonStream& daemon) {
        auto& client_socket = client_.socket();
        for (;;) {
            auto [wait_error] =
                co_await client_socket.async_wait(asio::socket_base::wait_read, nothrow);
            if (wait_error) {
                co_return;  // cancelled: the response ended first
            }
            char probe = 0;
            const ssize_t peeked =
                ::recv(client_socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
            if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                continue;
            }
            if (peeked > 0) {
                // A pipelined next request, not a hang-up: it waits in the socket until this
                // response ends.
                asio::steady_timer forever(co_await asio::this_coro::executor,
                                           Clock::time_point::max());
                co_await forever.async_wait(nothrow);
                co_return;
            }
            daemon.close();
            co_return;
        }
    }

    asio::awaitable<TunnelBytes> tunnel(DaemonStream& daemon, beast::flat_buffer& daemon_buffer,
                                        std::span<char> scratch) {
        auto& client_socket = client_.socket();
        auto& daemon_socket = daemon.socket();
        TunnelBytes tunnelled;
        // Bytes that arrived with the heads belong to the raw stream.
        if (daemon_buffer.size() > 0) {
            auto [error, written] =
                co_await asio::async_write(client_socket, daemon_buffer.data(), nothrow);
            tunnelled.to_client += written;
            if (error)
                co_return tunnelled;
        }
        if (client_buffer_.size() > 0) {
            auto [error, written] =
                co_await asio::async_write(daemon_socket, client_buffer_.data(), nothrow);
            tunnelled.to_daemon += written;
            if (error)
                co_return tunnelled;
        }
        RelayScratch upstream_scratch;
        const auto [to_daemon, to_client] =
            co_await (pipe_bytes(client_socket, daemon_socket, upstream_scratch.bytes()) &&
                      pipe_bytes(daemon_socket, client_socket, scratch));
        tunnelled.to_daemon += to_daemon;
        tunnelled.to_client += to_client;
        co_return tunnelled;
    }

    asio::awaitable<bool> answer_daemon_unreachable(const http::request<http::buffer_body>& request,
                                                    const Decision& decision,
                                                    const error_code& error, bool keep_alive,
                                                    unsigned client_version,
                                                    Clock::time_point started) {
        const bool timed_out = error == beast::error::timeout;
        const auto status = timed_out ? http::status::gateway_timeout : http::status::bad_gateway;
        const std::string& path = context_.daemons.socket_path();
        std::string message =
            timed_out
                ? "socket-proxy could not connect to the Docker engine at " + path + " within " +
                      format_duration(context_.limits.daemon_timeout)
                : "socket-proxy cannot reach the Docker engine at " + path + ": " + error.message();
        if (error == asio::error::access_denied) {
            // Started before the engine existed, the proxy could not know the socket's group:
            // say who it runs as, who owns the socket, and the setting that fixes it.
            if (const DaemonSocketCheck check = check_daemon_socket(path);
                check.state == DaemonSocketState::permission_denied) {
                message = "socket-proxy " + check.message;
            }
        }
        log_request(LogLevel::error, request, decision, static_cast<int>(status), 0, started,
                    {{"error", message}});
        co_await answer_error(status, message, keep_alive, client_version);
        co_return keep_alive;
    }

    // The daemon took the connection but did not produce a response head.
    asio::awaitable<bool> answer_daemon_failed(const http::request<http::buffer_body>& request,
                                               const Decision& decision, const error_code& error,
                                               unsigned client_version, Clock::time_point started) {
        const bool timed_out = error == beast::error::timeout;
        const auto status = timed_out ? http::status::gateway_timeout : http::status::bad_gateway;
        const std::string& path = context_.daemons.socket_path();
        std::string message = timed_out ? "socket-proxy: the Docker engine at " + path +
                                              " did not answer within " +
                                              format_duration(context_.limits.daemon_timeout)
                                        : "socket-proxy: the Docker engine at " + path +
                                              " sent no valid response: " + error.message();
        log_request(LogLevel::error, request, decision, static_cast<int>(status), 0, started,
                    {{"error", message}});
        // The request may be half-sent and its body half-read: this connection is spent.
        co_await answer_error(status, message, false, client_version);
        co_return false;
    }

    // The daemon holds half a request; the connection to it is closed with this coroutine.
    asio::awaitable<bool> answer_body_relay_failed(const http::request<http::buffer_body>& request,
                                                   const Decision& decision,
                                                   const RelayOutcome& sent,
                                                   unsigned client_version,
                                                   Clock::time_point started) {
        const bool client_fault =
            sent.read_error.category() == http::make_error_code(http::error::bad_chunk).category();
        const auto status = client_fault ? http::status::bad_request : http::status::bad_gateway;
        const std::string message =
            client_fault ? "socket-proxy refused the request body: " + sent.read_error.message()
            : sent.read_error
                ? std::string("socket-proxy lost the client while sending its body")
                : "socket-proxy: the Docker engine at " + context_.daemons.socket_path() +
                      " stopped reading the request body: " + sent.write_error.message();
        log_request(LogLevel::warning, request, decision, static_cast<int>(status), 0, started,
                    {{"error", message}});
        if (client_fault || sent.write_error) {
            co_await answer_error(status, message, false, client_version);
        }
        co_return false;
    }

    asio::awaitable<void> answer_error(http::status status, const std::string& message,
                                       bool keep_alive, unsigned version) {
        auto response = error_response(status, message, keep_alive, version < 10 ? 11u : version);
        linger_before_close_ = !keep_alive;
        if (answering_head_) {
            // RFC 9110 section 9.3.2: the same header fields as for GET, and no body; a body
            // here would be read as the next response on a keep-alive connection.
            response.body().clear();
        }
        client_.expires_after(error_write_timeout);
        co_await http::async_write(client_, response, nothrow);
        client_.expires_never();
    }

    // Every answered request ends here: counted for the metrics, then logged at `level`.
    void log_request(LogLevel level, const http::request<http::buffer_body>& request,
                     const Decision& decision, int status, std::uint64_t bytes_out,
                     Clock::time_point started, std::vector<LogField> extra = {}) {
        const auto ended = Clock::now();
        if (audit_) {
            // Audit mode shows all traffic without DEBUG, and each disagreement stands out.
            const LogLevel audited =
                audit_->allowed == decision.allowed() ? LogLevel::info : LogLevel::warning;
            level = std::max(level, audited);
            extra.push_back({"audit", audit_->allowed ? "allow" : "deny"});
            extra.push_back({"audit_rule", audit_->rule});
        }
        const std::string_view route =
            decision.target ? std::string_view(decision.target->route_path) : std::string_view();
        context_.state.metrics.record({decision.allowed(), request.method_string(), route, status,
                                       seconds_between(started, ended), stream_started_.has_value(),
                                       bytes_in_, bytes_out});
        if (level == LogLevel::debug && !debug_logging()) {
            return;
        }
        std::vector<LogField> fields{
            {"client", describe(identity_)},
            {"method", std::string(request.method_string())},
            {"path", raw_target_},  // as the client sent it; `route` is what the policy judged
        };
        if (decision.target) {
            fields.push_back({"route", std::string(route)});
            if (decision.allowed() && decision.target->forward_target != raw_target_) {
                // Re-encoded, or pinned to a full container id: what the daemon was sent.
                fields.push_back({"forwarded", decision.target->forward_target});
            }
        }
        fields.insert(fields.end(), {{"decision", decision.allowed() ? "allow" : "deny"},
                                     {"rule", decision.rule},
                                     {"status", std::to_string(status)},
                                     {"bytes_in", std::to_string(bytes_in_)},
                                     {"bytes_out", std::to_string(bytes_out)},
                                     {"ms", std::to_string(milliseconds_between(started, ended))}});
        if (stream_started_) {
            fields.push_back(
                {"stream_ms", std::to_string(milliseconds_between(*stream_started_, ended))});
        }
        for (auto& field : extra) {
            fields.push_back(std::move(field));
        }
        log_event(level, "request", fields);
    }

    // A request refused before it could be decided (a head the proxy cannot read).
    void count_bad_request(std::string_view method, http::status status) {
        context_.state.metrics.record(
            {false, method, {}, static_cast<int>(status), 0, false, 0, 0});
    }

    ClientStream client_;
    Client identity_;
    SessionContext context_;
    beast::flat_buffer client_buffer_{context_.limits.max_head_bytes};
    std::size_t requests_served_ = 0;
    bool head_started_ = false;         // the current request's first byte has arrived
    std::string request_line_refusal_;  // why read_head refused the request line
    bool answering_head_ = false;       // the request being answered is a HEAD
    bool linger_before_close_ = false;  // an error answer closes the connection: drain first
    struct AuditVerdict {
        bool allowed = false;
        std::string rule;
    };
    std::optional<AuditVerdict> audit_;  // audit mode: what the candidate policy decided
    // The request being answered, for its log line and metrics.
    std::string raw_target_;
    std::uint64_t bytes_in_ = 0;                       // request body bytes sent to the daemon
    std::optional<Clock::time_point> stream_started_;  // set once a stream's head went out
};

}  // namespace

template <class Protocol>
asio::awaitable<void> run_session(typename Protocol::socket client, Client identity,
                                  SessionContext context) {
    Session<Protocol> session(std::move(client), std::move(identity), context);
    co_await session.run();
}

std::string refusal_response(int status, const std::string& message) {
    std::ostringstream text;
    text << error_response(static_cast<http::status>(status), message, false, 11);
    return text.str();
}

template <class Protocol>
asio::awaitable<void> refuse_connection(typename Protocol::socket client, std::string response,
                                        ServerState& state) {
    ++state.refusing_sessions;
    beast::basic_stream<Protocol> stream(std::move(client));
    stream.expires_after(refusal_timeout);
    auto [write_error, written] =
        co_await asio::async_write(stream, asio::buffer(response), nothrow);
    if (!write_error) {
        error_code ignored;
        stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
        // The one deadline set above bounds the drain too: a refused client sends little.
        co_await discard_incoming(stream, std::numeric_limits<std::size_t>::max());
    }
    stream.close();
    --state.refusing_sessions;
}

template asio::awaitable<void> refuse_connection<asio::ip::tcp>(asio::ip::tcp::socket, std::string,
                                                                ServerState&);
template asio::awaitable<void> refuse_connection<asio::local::stream_protocol>(
    asio::local::stream_protocol::socket, std::string, ServerState&);

template asio::awaitable<void> run_session<asio::ip::tcp>(asio::ip::tcp::socket, Client,
                                                          SessionContext);
template asio::awaitable<void> run_session<asio::local::stream_protocol>(
    asio::local::stream_protocol::socket, Client, SessionContext);

}  // namespace socket_proxy
