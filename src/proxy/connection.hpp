// One client connection: its socket, the bytes read from it, and each request's head read
// from it within its deadlines. The exchange (exchange.hpp) answers the request; the session
// (session.cpp) reads one request after another until one ends the connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "caller_directory.hpp"
#include "client_stream.hpp"
#include "daemon_pool.hpp"
#include "decision_cache.hpp"
#include "forwarded_head.hpp"
#include "head_arena.hpp"
#include "memory.hpp"
#include "policy.hpp"
#include "server_state.hpp"
#include "units.hpp"

namespace socket_proxy {

// The client's request as Beast parses it: the head whole, its fields in the connection's
// arena, the body streamed through a buffer.
using RequestParser =
    boost::beast::http::request_parser<boost::beast::http::buffer_body, HeadAllocator<char>>;
using ClientRequest = boost::beast::http::request<boost::beast::http::buffer_body, HeadFields>;

// The client's request as it arrived, before the forwarded head rewrites it for the daemon
// (HTTP/1.1, keep-alive, no Expect): the answer takes its shape from these.
struct RequestFacts {
    unsigned version = 11;
    bool head = false;        // a HEAD: the answer has no body
    bool keep_alive = false;  // the client would keep the connection
    bool upgrade = false;     // asks to upgrade: after a 101 the connection is a raw pipe
    bool has_body = false;    // a body follows the head
};

[[nodiscard]] RequestFacts read_request_facts(const RequestParser& parser);

// What a client may make a session hold or wait for, and how long the daemon may take.
struct SessionLimits {
    std::size_t max_head_bytes = 0;     // request line + header block
    std::size_t max_header_fields = 0;  // header lines
    Duration head_timeout{};            // first byte (or accept) to complete head; 0: none
    Duration idle_timeout{};            // idle keep-alive client connection; 0: none
    Duration daemon_timeout{};          // daemon connect + answer head; 0: none
};

struct SessionContext {
    const SessionLimits& limits;
    // Each request keeps the policy it was decided under.
    const SharedPolicy& policy;
    // SOCKET_PROXY_MODE=audit: every request is also decided by this candidate, and logged
    // with its verdict; null otherwise.
    const SharedPolicy& audit_policy;
    DaemonPool& daemons;  // the serving thread's own
    ServerState& state;
    MemoryTrimmer& memory;
    CallerDirectory& callers;  // shared by the serving threads
};

// A request refused before it was decided: its head cannot be read, or can be read two ways.
struct BadRequest {
    boost::beast::http::status status = boost::beast::http::status::bad_request;
    std::string why;
    std::string_view method{};  // empty when the head was refused before it was parsed
    std::string_view path{};
    RequestFacts facts{};  // once parsed, the answer's version and whether it has a body
};

// What reading the next request's head came to.
struct NextRequest {
    bool ready = false;                 // parsed into the caller's parser, to be answered
    std::optional<BadRequest> refusal;  // not ready: what the client is told before the close
};

// How long writing what the proxy says itself (an error answer, an interim 100, a last chunk)
// may take before the client is dropped.
inline constexpr auto own_write_timeout = std::chrono::seconds(10);

// Every configurable deadline: 0 is no deadline.
template <class Stream>
void expire_after(Stream& stream, Duration limit) {
    if (limit.count() > 0) {
        stream.expires_after(limit);
    } else {
        stream.expires_never();
    }
}

// Reads and drops what the peer still sends, until it closes, the stream's deadline (which the
// caller set) passes, or `max_bytes` went by.
boost::asio::awaitable<void> discard_incoming(ClientStream& stream, std::size_t max_bytes);

class Connection {
  public:
    // The acceptor counted this connection in open_sessions before spawning it, so that a
    // burst of connects cannot overshoot the limit before any session starts; close() uncounts
    // it.
    Connection(ClientStream stream, Client identity, SessionContext context);

    // For the parsers of this connection's heads, the request's and the daemon's answer's.
    HeadAllocator<char> head_allocator() { return HeadAllocator<char>(head_arena_); }

    // Reads the next request's head into `parser`, a fresh one for each request.
    boost::asio::awaitable<NextRequest> read_request(RequestParser& parser);

    // Half-closes, drains the client first when an answer said the connection closes, closes.
    boost::asio::awaitable<void> close();

    ClientStream& stream() { return stream_; }
    // Under the stream, for what only a plain socket can do: splice(2), the hang-up watch's peek.
    ClientSocket& socket() { return stream_.socket(); }
    // Read from the client past the head: the start of a body, or of a tunnel's raw bytes.
    boost::beast::flat_buffer& buffer() { return buffer_; }
    const Client& identity() const { return identity_; }
    // Asks the engine, once per connection and only when the policy (or the audit candidate)
    // selects clients by container, which container the client runs in.
    boost::asio::awaitable<void> learn_container();
    // Whether learn_container() has anything to do: checked first, it spares each request the
    // coroutine.
    [[nodiscard]] bool may_need_container() const;
    // The policies in force (the audit candidate: null without audit mode), read without a
    // lock unless a reload swapped them. Copy the pointer to keep one across a co_await.
    [[nodiscard]] const std::shared_ptr<const Policy>& policy() const {
        return context_.policy.current(policy_);
    }
    [[nodiscard]] const std::shared_ptr<const Policy>& audit_policy() const {
        return context_.audit_policy.current(audit_policy_);
    }
    const SessionContext& context() const { return context_; }
    DecisionCache& decisions() { return decisions_; }

    // Set by each answer the proxy makes itself: one that closes the connection leaves the
    // client's unread bytes to be drained before the close.
    void drain_before_close(bool drain) { drain_before_close_ = drain; }

    // The client waits for this before it sends a body it announced with Expect: 100-continue.
    // Returns whether the client can still be written to.
    boost::asio::awaitable<bool> send_continue();

    // The last chunk of a chunked answer the proxy ends itself.
    boost::asio::awaitable<void> end_chunked_body();

    // Returns when the answer being relayed ends (cancelled) or the client hangs up; then it
    // closes `daemon`, so that a silent stream does not outlive its client.
    boost::asio::awaitable<void> close_daemon_when_client_leaves(DaemonStream& daemon);

    // Called when a request or the connection ends.
    void give_back_memory_when_quiet();

  private:
    struct HeadBytes;
    boost::asio::awaitable<HeadBytes> read_head();
    boost::asio::awaitable<void> drain();
    enum class ClientWatch { left, stays, cancelled };
    boost::asio::awaitable<ClientWatch> watch_plain_client();
    boost::asio::awaitable<ClientWatch> watch_tls_client();

    ClientStream stream_;
    HeadArena head_arena_;  // outlives the heads: they die with their request
    Client identity_;
    SessionContext context_;
    boost::beast::flat_buffer buffer_;
    DecisionCache decisions_;
    mutable HeldPolicy policy_;        // the policy in force as this connection last read it
    mutable HeldPolicy audit_policy_;  // and the audit candidate
    bool first_request_ = true;
    bool container_asked_ = false;
    bool drain_before_close_ = false;
};

}  // namespace socket_proxy
