// The proxy's own sockets: the unix socket in the shared volume, and the TCP port.
// They are bound while the process may still be root, and listen only after privileges
// are dropped and the daemon socket has been checked.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config.hpp"
#include "policy.hpp"

namespace socket_proxy {

// A start-up failure the user can fix; what() is the one sentence to print.
class StartupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Replaces a stale socket file, creates the socket with mode 0660 (the owner and the group
// may connect) and gives it to uid:gid. `setting` names where the path came from in errors:
// SOCKET_PROXY_VOLUME, or a listener of SOCKET_PROXY_LISTEN. Throws StartupError.
boost::asio::local::stream_protocol::acceptor bind_unix_listener(boost::asio::io_context& io,
                                                                 const std::string& path, uid_t uid,
                                                                 gid_t gid,
                                                                 std::string_view setting);

// `variable` names the setting in errors: SOCKET_PROXY_TCP, SOCKET_PROXY_METRICS, or
// "SOCKET_PROXY_LISTEN (listener NAME)".
boost::asio::ip::tcp::acceptor bind_tcp_listener(boost::asio::io_context& io,
                                                 const TcpEndpoint& endpoint,
                                                 std::string_view variable);

// Who is on the other end: SO_PEERCRED for unix clients, the address for TCP clients. The
// caller names the listener.
Client identify_unix_client(boost::asio::local::stream_protocol::socket& socket);
Client identify_tcp_client(boost::asio::ip::tcp::socket& socket);

}  // namespace socket_proxy
