#include "session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <limits>
#include <sstream>
#include <tuple>
#include <utility>

#include "exchange.hpp"
#include "local_reply.hpp"
#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// A refused connection gets this long, in all, to take its 503 and hang up.
constexpr auto refusal_timeout = std::chrono::seconds(2);

}  // namespace

asio::awaitable<void> run_session(ClientStream client, Client identity, SessionContext context) {
    Connection connection(std::move(client), std::move(identity), context);
    for (;;) {
        // One per request: a finished parser cannot be reused.
        RequestParser parser(std::piecewise_construct, std::make_tuple(),
                             std::make_tuple(connection.head_allocator()));
        const NextRequest next = co_await connection.read_request(parser);
        if (next.refusal) {
            co_await refuse_undecided(connection, *next.refusal);
        }
        if (!next.ready) {
            break;
        }
        Exchange exchange(connection, parser);
        if (!co_await exchange.answer()) {
            break;
        }
    }
    co_await connection.close();
}

std::string refusal_response(int status, const std::string& message) {
    std::ostringstream text;
    text << docker_error_response(static_cast<http::status>(status), message, false, 11);
    return text.str();
}

asio::awaitable<void> refuse_connection(ClientSocket client, std::string response,
                                        ServerState& state) {
    ++state.refusing_sessions;
    ClientStream stream(std::move(client));
    stream.expires_after(refusal_timeout);
    auto [write_error, written] =
        co_await asio::async_write(stream, asio::buffer(response), nothrow);
    if (!write_error) {
        boost::system::error_code ignored;
        stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
        // The one deadline set above bounds the drain too: a refused client sends little.
        co_await discard_incoming(stream, std::numeric_limits<std::size_t>::max());
    }
    stream.close();
    --state.refusing_sessions;
}

}  // namespace socket_proxy
