// The client's side of a session: a SocketStream, plain or TLS as the listener that accepted it.
#pragma once

#include "socket_stream.hpp"

namespace socket_proxy {

using ClientSocket = StreamSocket;
using ClientTransport = StreamTransport;
using ClientTlsStream = TlsStream;
using ClientStream = SocketStream;

}  // namespace socket_proxy
