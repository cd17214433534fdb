#include "answer_relay.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "event_stream.hpp"
#include "forwarded_head.hpp"
#include "label_scope.hpp"
#include "local_reply.hpp"
#include "memory.hpp"
#include "nothrow.hpp"
#include "redact.hpp"
#include "splice.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

namespace {

// While a response of unknown length or a tunnel is relayed, it counts as an open stream.
class OpenStream {
  public:
    OpenStream(ServerState& state, bool counted) : state_(state), counted_(counted) {
        if (counted_) {
            ++state_.open_streams;
            ++this_threads_load().streams;
        }
    }
    ~OpenStream() {
        if (counted_) {
            --state_.open_streams;
            --this_threads_load().streams;
        }
    }
    OpenStream(const OpenStream&) = delete;
    OpenStream& operator=(const OpenStream&) = delete;

  private:
    ServerState& state_;
    bool counted_;
};

// Rewrites a held answer; nullopt when the answer cannot be read (nothing is forwarded then).
struct AnswerRewrite {
    std::function<std::optional<std::string>(std::string_view)> apply;
    std::string done;  // "redacted", "filtered": logged, and named in the 502 when it fails
};

bool answer_redacts(const Decision& decision) {
    return decision.redact && route_carries_secrets(decision.target->route_path);
}

bool answer_upgrades(const AnswerRelay& relay) {
    return relay.asked.upgrade && relay.parser.get().result() == http::status::switching_protocols;
}

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

// A daemon connection goes back to the pool only when its answer ended cleanly and nothing of
// a next answer is buffered; otherwise it is closed.
void finish_daemon_connection(const AnswerRelay& relay, bool complete) {
    if (complete && relay.parser.keep_alive() && relay.daemon_buffer.size() == 0) {
        relay.client.context().daemons.release(std::move(relay.daemon.stream),
                                               relay.asked.has_body);
    } else {
        relay.daemon.stream->close();
    }
}

// The daemon's end-to-end fields for an answer the proxy re-frames itself: no hop-by-hop
// fields, no framing (the proxy sets its own).
ResponseHead reframed_head(const ResponseHead& daemon_head, unsigned client_version) {
    ResponseHead head(daemon_head.get_allocator());
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

// Copies bytes one way until EOF, then ends the writes of the other side as its transport does
// (a half-close, or a close_notify under TLS): after an upgrade (101) the connection is a raw
// pipe, e.g. `docker attach`. Returns how many bytes went through.
asio::awaitable<std::uint64_t> pipe_bytes(SocketStream& from, SocketStream& to,
                                          std::span<char> scratch) {
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
    co_await to.end_writes();
    co_return piped;
}

struct TunnelBytes {
    std::uint64_t to_daemon = 0;
    std::uint64_t to_client = 0;
};

// Both sides go through their streams, so a TLS side's tunnel is decrypted and encrypted like
// any answer; a plain one costs the stream's deadline bookkeeping only.
asio::awaitable<TunnelBytes> tunnel(const AnswerRelay& relay) {
    ClientStream& client = relay.client.stream();
    DaemonStream& daemon = *relay.daemon.stream;
    TunnelBytes tunnelled;
    // Bytes that arrived with the heads belong to the raw stream.
    if (relay.daemon_buffer.size() > 0) {
        auto [error, written] =
            co_await asio::async_write(client, relay.daemon_buffer.data(), nothrow);
        tunnelled.to_client += written;
        if (error)
            co_return tunnelled;
    }
    if (relay.client.buffer().size() > 0) {
        auto [error, written] =
            co_await asio::async_write(daemon, relay.client.buffer().data(), nothrow);
        tunnelled.to_daemon += written;
        if (error)
            co_return tunnelled;
    }
    RelayScratch to_daemon_scratch;
    const auto [to_daemon, to_client] =
        co_await (pipe_bytes(client, daemon, to_daemon_scratch.bytes()) &&
                  pipe_bytes(daemon, client, relay.scratch.bytes()));
    tunnelled.to_daemon += to_daemon;
    tunnelled.to_client += to_client;
    co_return tunnelled;
}

// Whatever cannot be rewritten is not forwarded: the client gets a 502 instead.
LocalReply not_rewritten(const std::string& why) {
    std::string message = "socket-proxy: " + why + "; nothing was forwarded";
    return LocalReply{.status = http::status::bad_gateway,
                      .message = message,
                      .keep_alive = false,
                      .level = LogLevel::error,
                      .log_fields = {{"error", message}}};
}

asio::awaitable<bool> answer_not_rewritten(const AnswerRelay& relay, const std::string& why) {
    const LocalReply reply = not_rewritten(why);
    co_return co_await reply_locally(relay.client, relay.log, relay.asked, relay.decision, reply);
}

// The rewrite a filtered list or a redacted answer gets.
AnswerRewrite rewrite_for(const AnswerRelay& relay, AnswerStrategy strategy) {
    if (strategy == AnswerStrategy::filtered_list) {
        // A list that carries secrets (the volumes' driver options) is redacted too.
        return AnswerRewrite{
            [&labels = relay.decision.container_labels, list = relay.decision.scope->kind,
             redacts = answer_redacts(relay.decision)](std::string_view body) {
                std::optional<std::string> filtered = filter_list(list, body, labels);
                return filtered && redacts ? redact_secrets(*filtered) : filtered;
            },
            "filtered"};
    }
    return AnswerRewrite{[](std::string_view body) { return redact_secrets(body); }, "redacted"};
}

// An answer that carries secrets or invisible containers is read whole (bounded), rewritten,
// and sent with its new length.
asio::awaitable<bool> relay_rewritten(const AnswerRelay& relay, AnswerStrategy strategy) {
    const AnswerRewrite rewrite = rewrite_for(relay, strategy);
    DaemonStream& daemon = *relay.daemon.stream;
    std::string body;
    const error_code read_error = co_await read_whole_body(
        daemon, relay.daemon_buffer, relay.parser, relay.scratch.bytes(), body);
    if (read_error == http::error::body_limit) {
        daemon.close();
        co_return co_await answer_not_rewritten(
            relay, "the Docker engine's answer is larger than " +
                       format_size(max_held_answer_bytes) + ", too large to hold");
    }
    if (read_error) {
        daemon.close();
        co_return co_await answer_not_rewritten(
            relay, "the Docker engine's answer broke off before it could be " + rewrite.done +
                       ": " + read_error.message());
    }
    finish_daemon_connection(relay, true);
    const std::optional<std::string> rewritten = rewrite.apply(body);
    if (!rewritten) {
        co_return co_await answer_not_rewritten(
            relay, "the Docker engine's answer is not JSON the proxy can read, so it cannot be " +
                       rewrite.done);
    }

    http::response<http::string_body, HeadFields> response{
        reframed_head(relay.parser.get(), relay.asked.version), *rewritten};
    response.keep_alive(relay.asked.keep_alive);
    response.prepare_payload();
    auto [error, written] = co_await http::async_write(relay.client.stream(), response, nothrow);
    relay.log.record(error ? LogLevel::info : LogLevel::debug, relay.decision, 200,
                     response.body().size(), {{rewrite.done, "true"}});
    co_return !error && relay.asked.keep_alive;
}

// Each event is judged on its own line and only visible ones are passed on, each as soon as it
// arrives. The stream ends with the connection.
asio::awaitable<bool> relay_scoped_events(const AnswerRelay& relay) {
    DaemonStream& daemon = *relay.daemon.stream;
    const OpenStream open_stream(relay.client.context().state, true);
    const bool chunked = relay.asked.version >= 11;
    ResponseHead head = reframed_head(relay.parser.get(), relay.asked.version);
    head.set(http::field::connection, "close");
    if (chunked) {
        head.set(http::field::transfer_encoding, "chunked");
    }
    const HeadText head_text = serialise_head(head);
    auto [head_error, head_bytes] =
        co_await asio::async_write(relay.client.stream(), asio::buffer(head_text), nothrow);
    if (head_error) {
        daemon.close();
        co_return false;
    }
    relay.log.stream_started();

    EventRelay events;
    auto finished =
        co_await (relay_visible_events(daemon, relay.daemon_buffer, relay.parser,
                                       relay.client.stream(), relay.decision.container_labels,
                                       chunked, relay.scratch.bytes(), events) ||
                  relay.client.close_daemon_when_client_leaves(daemon));
    daemon.close();
    if (finished.index() == 1) {
        events.client_error = asio::error::connection_reset;
    } else if (chunked && !events.client_error) {
        co_await relay.client.end_chunked_body();
    }
    std::vector<LogField> extra{
        {"stream", "ended"}, {"scope", "events"}, {"hidden_events", std::to_string(events.hidden)}};
    if (events.unreadable > 0) {
        extra.push_back({"unreadable_events", std::to_string(events.unreadable)});
    }
    if (!events.problem.empty()) {
        extra.push_back({"error", events.problem});
    } else if (events.client_error) {
        extra.push_back({"error", "client: " + events.client_error.message()});
    }
    relay.log.record(
        events.problem.empty() && events.unreadable == 0 ? LogLevel::debug : LogLevel::warning,
        relay.decision, 200, events.bytes, std::move(extra));
    co_return false;
}

// An answer of known length under the splice threshold is read whole into the buffer its head
// arrived in, and leaves, head and body, in one write: a /containers/json list of 50 KB that
// way takes two or three reads and one write instead of a write per piece.
asio::awaitable<bool> relay_buffered(const AnswerRelay& relay, bool keep_client) {
    auto& parser = relay.parser;
    auto& response = parser.get();
    DaemonBuffer& buffer = relay.daemon_buffer;
    const std::uint64_t length = parser.is_done() ? 0 : *parser.content_length_remaining();
    error_code read_error;
    while (buffer.size() < length) {
        auto [error, received] = co_await relay.daemon.stream->async_read_some(
            buffer.prepare(static_cast<std::size_t>(length) - buffer.size()), nothrow);
        buffer.commit(received);
        if (error) {
            read_error =
                error == asio::error::eof ? error_code(http::error::partial_message) : error;
            break;
        }
    }
    if (read_error) {
        relay.daemon.stream->close();
        const LocalReply failed =
            daemon_failed(read_error, relay.client.context().daemons.socket_path(),
                          relay.client.context().limits.daemon_timeout);
        co_return co_await reply_locally(relay.client, relay.log, relay.asked, relay.decision,
                                         failed);
    }
    const auto body_size = static_cast<std::size_t>(length);
    const HeadText head_text = serialise_head(response.base());
    const std::array<asio::const_buffer, 2> out{asio::buffer(head_text),
                                                asio::buffer(buffer.data().data(), body_size)};
    auto [write_error, written] = co_await asio::async_write(relay.client.stream(), out, nothrow);
    buffer.consume(body_size);
    const int status = static_cast<int>(response.result_int());
    if (write_error) {
        relay.log.record(LogLevel::info, relay.decision, status, 0,
                         {{"error", "client: " + write_error.message()}});
    } else {
        relay.log.record(LogLevel::debug, relay.decision, status, body_size);
    }
    finish_daemon_connection(relay, !write_error);
    co_return !write_error && keep_client;
}

asio::awaitable<bool> relay_streamed(const AnswerRelay& relay, bool keep_client, bool upgraded);

// A long answer of known length the policy does not read: the head (with the body's first
// bytes, read along with it) is written, the rest spliced from socket to socket. Without a pipe
// (descriptors short), the answer is relayed through the buffer.
asio::awaitable<bool> relay_spliced(const AnswerRelay& relay, bool keep_client) {
    std::optional<SplicePipe> pipe = SplicePipe::open();
    if (!pipe) {
        co_return co_await relay_streamed(relay, keep_client, false);
    }
    auto& response = relay.parser.get();
    const std::uint64_t length = *relay.parser.content_length_remaining();
    const std::size_t buffered =
        static_cast<std::size_t>(std::min<std::uint64_t>(relay.daemon_buffer.size(), length));
    const HeadText head_text = serialise_head(response.base());
    const std::array<asio::const_buffer, 2> out{
        asio::buffer(head_text), asio::buffer(relay.daemon_buffer.data().data(), buffered)};
    auto [write_error, written] = co_await asio::async_write(relay.client.stream(), out, nothrow);
    relay.daemon_buffer.consume(buffered);
    RelayOutcome relayed;
    if (write_error) {
        relayed.write_error = write_error;
    } else {
        relayed = co_await splice_body(relay.daemon.stream->socket(), relay.client.socket(), *pipe,
                                       length - buffered);
        relayed.bytes += buffered;
    }
    const bool complete = !relayed.read_error && !relayed.write_error;
    relay.log.record(complete ? LogLevel::debug : LogLevel::info, relay.decision,
                     static_cast<int>(response.result_int()), relayed.bytes,
                     relay_error_fields(relayed));
    finish_daemon_connection(relay, complete);
    co_return complete&& keep_client;
}

// After a 101 the connection is a raw pipe both ways, until either side ends it.
asio::awaitable<bool> relay_tunnel(const AnswerRelay& relay) {
    const TunnelBytes tunnelled = co_await tunnel(relay);
    relay.log.body_bytes_sent(tunnelled.to_daemon);
    relay.log.record(LogLevel::debug, relay.decision, 101, tunnelled.to_client,
                     {{"stream", "upgrade"}});
    co_return false;
}

// The answer piece by piece as it arrives: streams (of unknown length), answers too long to
// hold, and the head of a tunnel.
asio::awaitable<bool> relay_streamed(const AnswerRelay& relay, bool keep_client, bool upgraded) {
    DaemonStream& daemon = *relay.daemon.stream;
    auto& parser = relay.parser;
    auto& response = parser.get();
    const bool length_known = parser.content_length().has_value() || parser.is_done();
    const bool streaming = upgraded || !length_known;
    const OpenStream open_stream(relay.client.context().state, streaming);

    http::response_serializer<http::buffer_body, HeadFields> response_out(response);
    auto [head_error, head_bytes] =
        co_await http::async_write_header(relay.client.stream(), response_out, nothrow);
    if (head_error) {
        daemon.close();
        co_return false;
    }
    if (streaming) {
        relay.log.stream_started();
    }
    if (upgraded) {
        co_return co_await relay_tunnel(relay);
    }

    RelayOutcome relayed;
    if (!parser.is_done()) {
        if (streaming) {
            // A silent stream (an idle /events) shows no write error when the client leaves;
            // watching the client side closes the daemon stream at once instead.
            auto finished =
                co_await (relay_body(daemon, relay.daemon_buffer, parser, relay.client.stream(),
                                     response_out, relay.scratch.bytes(), Duration::zero()) ||
                          relay.client.close_daemon_when_client_leaves(daemon));
            if (finished.index() == 0) {
                relayed = std::get<0>(finished);
            } else {
                relayed.write_error = asio::error::connection_reset;
            }
        } else {
            relayed =
                co_await relay_body(daemon, relay.daemon_buffer, parser, relay.client.stream(),
                                    response_out, relay.scratch.bytes(), Duration::zero());
        }
    }
    if (streaming && relayed.read_error && !relayed.write_error && response.chunked()) {
        // The daemon went away mid-stream (an engine restart): end the chunked body, so the
        // client sees the stream end and reconnects instead of waiting on a silent connection.
        // The connection is closed after it all the same.
        co_await relay.client.end_chunked_body();
    }

    std::vector<LogField> extra = relay_error_fields(relayed);
    if (streaming) {
        extra.insert(extra.begin(), {"stream", "ended"});
    }
    relay.log.record(relayed.read_error || relayed.write_error ? LogLevel::info : LogLevel::debug,
                     relay.decision, static_cast<int>(response.result_int()), relayed.bytes,
                     std::move(extra));

    const bool complete = !relayed.read_error && !relayed.write_error && parser.is_done();
    finish_daemon_connection(relay, complete);
    co_return complete&& keep_client;
}

// The daemon's own head and framing, made fit for the client: no hop-by-hop fields, its HTTP
// version, its keep-alive. Not a coroutine, nor is relay_answer(): each hands over the
// coroutine of the relay that runs, and an answer takes two coroutine frames fewer.
asio::awaitable<bool> relay_as_sent(const AnswerRelay& relay, AnswerStrategy strategy) {
    auto& response = relay.parser.get();
    const bool upgraded = strategy == AnswerStrategy::tunnel;
    remove_hop_by_hop_fields(response, upgraded);
    if (relay.asked.head && answer_redacts(relay.decision)) {
        // The length of the unredacted answer would tell how long the secrets are.
        response.erase(http::field::content_length);
    }
    response.version(relay.asked.version);
    bool keep_client = relay.asked.keep_alive && !upgraded;
    if (relay.asked.version < 11 && relay.parser.chunked()) {
        // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
        response.chunked(false);
        keep_client = false;
    }
    if (!upgraded) {
        response.keep_alive(keep_client);
    }
    if (strategy == AnswerStrategy::buffered) {
        return relay_buffered(relay, keep_client);
    }
    if (strategy == AnswerStrategy::spliced) {
        return relay_spliced(relay, keep_client);
    }
    return relay_streamed(relay, keep_client, upgraded);
}

}  // namespace

AnswerFacts answer_facts(const AnswerRelay& relay) {
    AnswerFacts facts;
    facts.get = relay.request.method() == http::verb::get;
    facts.status = relay.parser.get().result_int();
    facts.scope = relay.decision.scope ? std::optional(relay.decision.scope->kind) : std::nullopt;
    facts.redacts = answer_redacts(relay.decision);
    facts.upgraded = answer_upgrades(relay);
    facts.client_is_tls = relay.client.stream().is_tls();
    facts.daemon_is_tls = relay.daemon.stream->is_tls();
    facts.no_body = relay.parser.is_done();
    if (const auto remaining = relay.parser.content_length_remaining()) {
        facts.remaining = *remaining;
    }
    return facts;
}

asio::awaitable<bool> relay_answer(const AnswerRelay& relay, AnswerStrategy strategy) {
    switch (strategy) {
        case AnswerStrategy::scoped_events:
            return relay_scoped_events(relay);
        case AnswerStrategy::filtered_list:
        case AnswerStrategy::redacted:
            return relay_rewritten(relay, strategy);
        default:
            return relay_as_sent(relay, strategy);  // sent as the daemon framed it
    }
}

}  // namespace socket_proxy
