// libFuzzer target: the strict head check in front of Beast's request parser.
//
// Whatever the bytes, a head that both the strict check and Beast accept must have the same
// method and target in Beast as in its request line: the policy decides on what Beast parsed, and
// the two must never disagree about what was asked for.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "head_check.hpp"

namespace {

void check(bool invariant) {
    if (!invariant) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace http = boost::beast::http;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const std::size_t end = socket_proxy::find_head_end(bytes);
    if (end == std::string_view::npos) {
        return 0;
    }
    check(end <= bytes.size());
    const std::string_view head = bytes.substr(0, end);
    if (!socket_proxy::check_request_head(head).ok) {
        return 0;
    }
    http::request_parser<http::empty_body> parser;
    parser.eager(false);
    boost::system::error_code error;
    parser.put(boost::asio::buffer(head.data(), head.size()), error);
    if (error) {
        return 0;  // Beast refuses what the strict check let through (say, two Content-Lengths):
                   // 400
    }
    check(parser.is_header_done());
    const std::string_view request_line = head.substr(0, head.find("\r\n"));
    const std::size_t first_space = request_line.find(' ');
    const std::size_t last_space = request_line.rfind(' ');
    check(parser.get().method_string() == request_line.substr(0, first_space));
    check(parser.get().target() ==
          request_line.substr(first_space + 1, last_space - first_space - 1));
    return 0;
}
