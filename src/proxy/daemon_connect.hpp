// One new connection to the engine: its unix socket, or TCP (the name looked up at each
// connect, as DNS may change) with TLS on top when SOCKET_PROXY_DOCKER_CERT_PATH is set. A TLS
// connection is handed on only after the engine's certificate verified against ca.pem AND
// named the host (or IP) the proxy dialled: nothing is sent to an engine that fails either.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "daemon_address.hpp"
#include "socket_stream.hpp"
#include "units.hpp"

namespace socket_proxy {

using DaemonStream = SocketStream;

struct DaemonConnect {
    std::unique_ptr<DaemonStream> stream;  // null when the connect failed
    boost::system::error_code error;       // beast::error::timeout past the deadline
    // For a failure: what went wrong, as the end of "cannot reach the Docker engine at X: ...".
    std::string why;
};

// Look-up, connect and handshake all within `timeout` (0: none). `tls` null: no TLS.
boost::asio::awaitable<DaemonConnect> connect_to_daemon(boost::asio::any_io_executor executor,
                                                        const DaemonAddress& address,
                                                        std::shared_ptr<TlsContext> tls,
                                                        Duration timeout);

// An IPv6 address as wolfSSL compares certificate IP names: all eight groups, four digits
// each. Other addresses unchanged.
[[nodiscard]] std::string expanded_ip_text(const std::string& numeric_host);

}  // namespace socket_proxy
