// libFuzzer target: a whole request head, from the client's bytes to the daemon's.
//
// The raw bytes go through what a session does with them (find the head, the strict check,
// Beast's parser, the framing check, normalise + decide with the read-only policy, rebuild the
// head for the daemon), and the bytes that would be forwarded are read back as the daemon
// would (daemon_model.hpp). The property: whatever the input, if the proxy forwards it, the
// daemon's own routing of the forwarded bytes is an allowed route, and the forwarded head is
// one unambiguous request the strict check itself accepts.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

#include "daemon_model.hpp"
#include "forwarded_head.hpp"
#include "head_arena.hpp"
#include "head_check.hpp"
#include "policy.hpp"

namespace {

namespace http = boost::beast::http;
using fuzz_model::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const socket_proxy::Policy policy = socket_proxy::Policy::read_only();

    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const std::size_t end = socket_proxy::find_head_end(bytes);
    if (end == std::string_view::npos) {
        return 0;
    }
    const std::string_view head = bytes.substr(0, end);
    if (!socket_proxy::check_request_head(head).ok) {
        return 0;
    }
    socket_proxy::HeadArena arena;  // as a connection's: the heads are cut from it
    http::request_parser<http::empty_body, socket_proxy::HeadAllocator<char>> parser(
        std::piecewise_construct, std::make_tuple(),
        std::make_tuple(socket_proxy::HeadAllocator<char>(arena)));
    parser.header_limit(64 * 1024);  // the session's default SOCKET_PROXY_MAX_HEAD_SIZE
    parser.eager(false);
    boost::system::error_code error;
    parser.put(boost::asio::buffer(head.data(), head.size()), error);
    if (error || !parser.is_header_done()) {
        return 0;  // answered 400
    }
    socket_proxy::RequestHead request = parser.get().base();
    if (!socket_proxy::find_ambiguity(request).empty()) {
        return 0;  // answered 400
    }
    const socket_proxy::Decision decision =
        socket_proxy::decide(socket_proxy::Request{request.method_string(), request.target(),
                                                   request[http::field::host]},
                             socket_proxy::Client{}, policy);
    if (!decision.allowed()) {
        return 0;
    }

    const bool upgrade = socket_proxy::requests_upgrade(request);
    socket_proxy::prepare_forwarded_head(request, *decision.target, parser.content_length(),
                                         upgrade);
    const socket_proxy::HeadText forwarded_text = socket_proxy::serialise_head(request);
    const std::string_view forwarded(forwarded_text);

    // One request head, which the proxy's own strict check accepts (with room for the Host
    // the proxy adds when an HTTP/1.0 client sent none).
    check(socket_proxy::find_head_end(forwarded) == forwarded.size());
    socket_proxy::HeadLimits limits;
    ++limits.max_fields;
    check(socket_proxy::check_request_head(forwarded, limits).ok);

    // The daemon routes it where the policy allowed.
    const std::string_view request_line =
        std::string_view(forwarded).substr(0, forwarded.find("\r\n"));
    const std::size_t first_space = request_line.find(' ');
    const std::size_t last_space = request_line.rfind(' ');
    check(first_space != std::string_view::npos && last_space > first_space);
    const std::string_view method = request_line.substr(0, first_space);
    const std::string_view target =
        request_line.substr(first_space + 1, last_space - first_space - 1);
    check(request_line.substr(last_space + 1) == "HTTP/1.1");
    check(method == "GET" || method == "HEAD");
    const auto route = fuzz_model::daemon_route(target);
    check(route.has_value());
    check(*route == decision.target->route_path);
    check(!fuzz_model::is_sensitive(*route));

    // Framed one way only, as the body was read: the daemon cannot see a second request.
    http::request_parser<http::empty_body, socket_proxy::HeadAllocator<char>> daemon_view;
    // Go's http.DefaultMaxHeaderBytes: re-encoding may make the target longer than the
    // client's (a '"' becomes %22), but never past what the daemon reads.
    daemon_view.header_limit(1024 * 1024);
    daemon_view.eager(false);
    daemon_view.put(boost::asio::buffer(forwarded.data(), forwarded.size()), error);
    check(!error && daemon_view.is_header_done());
    check(daemon_view.get().count(http::field::host) == 1);
    check(socket_proxy::find_ambiguity(daemon_view.get().base()).empty());
    check(daemon_view.chunked() == parser.chunked());
    check(daemon_view.content_length() == parser.content_length());
    return 0;
}
