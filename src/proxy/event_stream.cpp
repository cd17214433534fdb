#include "event_stream.hpp"
#include "nothrow.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <sstream>

namespace socket_proxy {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

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

}  // namespace

bool EventFilter::take(std::string_view piece, bool last, std::string& visible) {
    pending_.append(piece);
    std::size_t line_start = 0;
    for (;;) {
        std::size_t line_end = pending_.find('\n', line_start);
        if (line_end == std::string::npos) {
            if (!last || line_start == pending_.size())
                break;
            line_end = pending_.size();
        }
        const std::string_view event(pending_.data() + line_start, line_end - line_start);
        line_start = std::min(line_end + 1, pending_.size());
        if (event.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        switch (event_visibility(event, labels_)) {
            case EventVisibility::visible:
                visible.append(event);
                visible += '\n';
                break;
            case EventVisibility::hidden:
                ++hidden_;
                break;
            case EventVisibility::unreadable:
                ++unreadable_;
                break;
        }
    }
    pending_.erase(0, line_start);
    return pending_.size() <= max_event_bytes;
}

asio::awaitable<void> relay_visible_events(DaemonStream& daemon, DaemonBuffer& daemon_buffer,
                                           DaemonAnswerParser& parser, ClientStream& client,
                                           const std::vector<LabelSelector>& labels, bool chunked,
                                           std::span<char> scratch, EventRelay& relay) {
    EventFilter filter(labels);
    std::string visible;
    while (!parser.is_done()) {
        std::size_t read = 0;
        if (const error_code error =
                co_await read_body_piece(daemon, daemon_buffer, parser, scratch, read)) {
            relay.problem = "daemon: " + error.message();
            co_return;
        }
        const bool judged =
            filter.take(std::string_view(scratch.data(), read), parser.is_done(), visible);
        relay.hidden = filter.hidden();
        relay.unreadable = filter.unreadable();
        if (!judged) {
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
            co_await asio::async_write(client, asio::buffer(visible), nothrow);
        if (write_error) {
            relay.client_error = write_error;
            co_return;
        }
        relay.bytes += event_bytes;
        visible.clear();
    }
}

}  // namespace socket_proxy
