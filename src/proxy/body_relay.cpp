#include "body_relay.hpp"

#include <array>

#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// As many as a thread's requests in flight at once usually vary by, so that a busy thread
// takes none from the heap; a burst beyond them does not stay behind.
class SpareRelayBuffers {
  public:
    static constexpr std::size_t most_kept = 16;

    SpareRelayBuffers() = default;
    SpareRelayBuffers(const SpareRelayBuffers&) = delete;
    SpareRelayBuffers& operator=(const SpareRelayBuffers&) = delete;
    ~SpareRelayBuffers() { release(); }

    char* take() {
        if (count_ > 0) {
            return buffers_[--count_];
        }
        return static_cast<char*>(::operator new(relay_chunk_bytes));
    }

    void give_back(char* buffer) noexcept {
        if (count_ < most_kept) {
            buffers_[count_++] = buffer;
        } else {
            ::operator delete(buffer);
        }
    }

    void release() noexcept {
        while (count_ > 0) {
            ::operator delete(buffers_[--count_]);
        }
    }

  private:
    std::array<char*, most_kept> buffers_{};
    std::size_t count_ = 0;
};

// Each serving thread runs its own connections: no lock.
thread_local SpareRelayBuffers spare_relay_buffers;

}  // namespace

char* take_relay_buffer() {
    return spare_relay_buffers.take();
}

void give_back_relay_buffer(char* buffer) noexcept {
    spare_relay_buffers.give_back(buffer);
}

void release_spare_relay_buffers() noexcept {
    spare_relay_buffers.release();
}

asio::awaitable<error_code> read_body_piece(DaemonStream& daemon, DaemonBuffer& buffer,
                                            DaemonAnswerParser& parser, std::span<char> scratch,
                                            std::size_t& read) {
    auto& piece = parser.get().body();
    piece.data = scratch.data();
    piece.size = scratch.size();
    auto [error, ignored] = co_await http::async_read_some(daemon, buffer, parser, nothrow);
    read = scratch.size() - piece.size;
    co_return error == http::error::need_buffer ? error_code{} : error;
}

asio::awaitable<error_code> read_whole_body(DaemonStream& daemon, DaemonBuffer& buffer,
                                            DaemonAnswerParser& parser, std::span<char> scratch,
                                            std::string& body) {
    while (!parser.is_done()) {
        std::size_t read = 0;
        if (const error_code error =
                co_await read_body_piece(daemon, buffer, parser, scratch, read)) {
            co_return error;
        }
        body.append(scratch.data(), read);
        if (body.size() > max_held_answer_bytes) {
            co_return http::error::body_limit;
        }
    }
    co_return error_code{};
}

}  // namespace socket_proxy
