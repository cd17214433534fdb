#include "body_relay.hpp"

#include "nothrow.hpp"
#include "spare_blocks.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// As many as a thread's requests in flight at once usually vary by.
thread_local SpareBlocks<relay_chunk_bytes, 16> spare_relay_buffers;

}  // namespace

char* take_relay_buffer() {
    return static_cast<char*>(spare_relay_buffers.take());
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
