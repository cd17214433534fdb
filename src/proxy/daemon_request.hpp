// A request of the proxy's own to the daemon, on a pooled connection: a container look-up, an
// engine ping. The client's requests go through the session's relay instead.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon_pool.hpp"
#include "units.hpp"

namespace socket_proxy {

// The daemon's answer heads: Docker's own are small, but a lying daemon must not make the proxy
// buffer without bound either.
inline constexpr std::uint32_t max_daemon_head_bytes = 64 * 1024;

struct DaemonAnswer {
    // Set when no whole answer came: connect, write, read, timeout, or a body past the bound.
    boost::system::error_code error;
    std::string why;  // a failed connect's reason in words (a TLS handshake's, say)
    unsigned status = 0;
    std::string body;  // empty for HEAD
};

// Sends `method target` with no body and reads the whole answer, all within `timeout`. A
// pooled connection the daemon closed meanwhile is retried once on a fresh one. The
// connection goes back to the pool only after a complete keep-alive answer.
[[nodiscard]] boost::asio::awaitable<DaemonAnswer> daemon_request(DaemonPool& daemons,
                                                                  Duration timeout,
                                                                  boost::beast::http::verb method,
                                                                  const std::string& target,
                                                                  std::size_t max_body_bytes);

}  // namespace socket_proxy
