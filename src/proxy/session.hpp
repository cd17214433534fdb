// One client connection, from accept to close: its requests one after another, each read by
// the connection (connection.hpp), answered by an exchange (exchange.hpp), until one of them
// ends the connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "connection.hpp"
#include "policy.hpp"
#include "server_state.hpp"

namespace socket_proxy {

// A TCP or unix client's socket converts to a ClientSocket, and that to a ClientStream, when
// passed; a TLS client comes with its handshake done.
boost::asio::awaitable<void> run_session(ClientStream client, Client identity,
                                         SessionContext context);

// The complete answer to a connection the proxy will not serve (503 over the limit, 403
// outside SOCKET_PROXY_ALLOW_FROM): Docker-style JSON that closes the connection. Written before
// any request is read.
[[nodiscard]] std::string refusal_response(int status, const std::string& message);

// Writes that answer, half-closes, and drains what the client sends for a moment so that the
// close does not reset the answer away; then closes. Bounded in time whatever the client does.
boost::asio::awaitable<void> refuse_connection(ClientSocket client, std::string response,
                                               ServerState& state);

}  // namespace socket_proxy
