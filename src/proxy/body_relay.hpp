// Moving a body through one bounded buffer: the client's request body to the daemon, the
// daemon's answer to the client piece by piece, or an answer read whole to be looked at.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "daemon_pool.hpp"
#include "forwarded_head.hpp"
#include "head_arena.hpp"
#include "nothrow.hpp"
#include "splice.hpp"
#include "units.hpp"

namespace socket_proxy {

// One read's worth of body in flight per direction: the daemon is only read as fast as the
// client takes the bytes (backpressure), and nothing grows without a limit.
inline constexpr std::size_t relay_chunk_bytes = 32 * 1024;

// Answers the proxy holds whole (redacted, filtered, or its own look-ups): the largest is
// /tasks of a big swarm, a few MB.
inline constexpr std::size_t max_held_answer_bytes = 32 * 1024 * 1024;

// Its head's fields are cut from the client connection's arena.
using DaemonAnswerParser =
    boost::beast::http::response_parser<boost::beast::http::buffer_body, HeadAllocator<char>>;

// Buffers of relay_chunk_bytes, each answer needs one or two, are kept by each thread for its
// next requests: glibc serves a block this large from its bins, not its per-thread cache. Left
// uninitialised.
[[nodiscard]] char* take_relay_buffer();
void give_back_relay_buffer(char* buffer) noexcept;
// When this thread is idle (release_thread_spares_when_idle): its kept buffers go back to the
// heap, to be trimmed.
void release_spare_relay_buffers() noexcept;

// Takes buffers of relay_chunk_bytes from the thread's spares; any other size from the heap.
template <class T>
class RelayBufferAllocator {
  public:
    using value_type = T;
    RelayBufferAllocator() noexcept = default;
    template <class U>
    RelayBufferAllocator(const RelayBufferAllocator<U>&) noexcept {}  // NOLINT: rebinding

    [[nodiscard]] T* allocate(std::size_t count) {
        if (count * sizeof(T) == relay_chunk_bytes) {
            return reinterpret_cast<T*>(take_relay_buffer());
        }
        return static_cast<T*>(::operator new(count * sizeof(T)));
    }
    void deallocate(T* pointer, std::size_t count) noexcept {
        if (count * sizeof(T) == relay_chunk_bytes) {
            give_back_relay_buffer(reinterpret_cast<char*>(pointer));
        } else {
            ::operator delete(pointer);
        }
    }

    template <class U>
    bool operator==(const RelayBufferAllocator<U>&) const noexcept {
        return true;
    }
};

// What the daemon's answer is read into, head and body: it starts at relay_chunk_bytes.
using DaemonBuffer = boost::beast::basic_flat_buffer<RelayBufferAllocator<char>>;

// The relay's buffer, left uninitialised: zeroing 32 KiB cost more than a small answer's
// whole relay (bench/: a tenth of the proxy's CPU per request). Taken at its first use:
// most answers are held whole in the daemon's buffer and never need it.
class RelayScratch {
  public:
    RelayScratch() = default;
    RelayScratch(const RelayScratch&) = delete;
    RelayScratch& operator=(const RelayScratch&) = delete;
    ~RelayScratch() {
        if (bytes_) {
            give_back_relay_buffer(bytes_);
        }
    }

    std::span<char> bytes() {
        if (!bytes_) {
            bytes_ = take_relay_buffer();
        }
        return {bytes_, relay_chunk_bytes};
    }

  private:
    char* bytes_ = nullptr;
};

// The buffer_body relay of Beast's http_examples.hpp, reading with read_some so that every
// piece is passed on as soon as it arrives: an event must not wait for a buffer to fill.
// `read_idle_limit` bounds each wait for `from` (0: none).
template <bool isRequest, class From, class FromBuffer, class To>
boost::asio::awaitable<RelayOutcome> relay_body(
    From& from, FromBuffer& from_buffer,
    boost::beast::http::parser<isRequest, boost::beast::http::buffer_body, HeadAllocator<char>>&
        parser,
    To& to,
    boost::beast::http::serializer<isRequest, boost::beast::http::buffer_body, HeadFields>& out,
    std::span<char> scratch, Duration read_idle_limit) {
    namespace http = boost::beast::http;
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

// Reads the next piece of a daemon answer's body into `scratch`; returns its size in `read`.
boost::asio::awaitable<boost::system::error_code> read_body_piece(DaemonStream& daemon,
                                                                  DaemonBuffer& buffer,
                                                                  DaemonAnswerParser& parser,
                                                                  std::span<char> scratch,
                                                                  std::size_t& read);

// Reads the rest of a daemon answer into `body`, at most max_held_answer_bytes: a longer one
// ends with http::error::body_limit.
boost::asio::awaitable<boost::system::error_code> read_whole_body(DaemonStream& daemon,
                                                                  DaemonBuffer& buffer,
                                                                  DaemonAnswerParser& parser,
                                                                  std::span<char> scratch,
                                                                  std::string& body);

}  // namespace socket_proxy
