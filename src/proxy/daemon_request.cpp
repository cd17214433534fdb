#include "daemon_request.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "body_relay.hpp"
#include "forwarded_head.hpp"
#include "head_arena.hpp"
#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<DaemonAnswer> daemon_request(DaemonPool& daemons, Duration timeout,
                                             http::verb method, const std::string& target,
                                             std::size_t max_body_bytes) {
    RequestHead head;
    head.method(method);
    head.target(target);
    head.version(11);
    head.set(http::field::host, "docker");
    const HeadText head_text = serialise_head(head);
    for (int attempt = 0;; ++attempt) {
        auto connection = co_await daemons.acquire();
        if (!connection) {
            co_return DaemonAnswer{connection.error(), daemons.last_failure(), 0, {}};
        }
        DaemonStream& daemon = *connection->stream;
        const bool may_retry = connection->reused && attempt == 0;
        if (timeout.count() > 0) {
            daemon.expires_after(timeout);
        }
        auto [write_error, written] =
            co_await asio::async_write(daemon, asio::buffer(head_text), nothrow);
        if (write_error) {
            daemon.close();
            if (may_retry) {
                continue;
            }
            co_return DaemonAnswer{write_error, {}, 0, {}};
        }
        http::response_parser<http::string_body, HeadAllocator<char>> parser;
        parser.header_limit(max_daemon_head_bytes);
        parser.body_limit(max_body_bytes);
        if (method == http::verb::head) {
            parser.skip(true);
        }
        DaemonBuffer buffer;
        auto [read_error, read] = co_await http::async_read(daemon, buffer, parser, nothrow);
        daemon.expires_never();
        if (read_error) {
            daemon.close();
            if (may_retry && read_error != beast::error::timeout && read == 0) {
                continue;
            }
            co_return DaemonAnswer{read_error, {}, 0, {}};
        }
        const unsigned status = parser.get().result_int();
        if (status < 200) {
            daemon.close();  // an interim answer to a request without Expect: out of step
            co_return DaemonAnswer{make_error_code(boost::system::errc::protocol_error), {}, 0, {}};
        }
        if (parser.keep_alive() && buffer.size() == 0) {
            daemons.release(std::move(connection->stream), false);
        } else {
            daemon.close();
        }
        co_return DaemonAnswer{{}, {}, status, std::move(parser.get().body())};
    }
}

}  // namespace socket_proxy
