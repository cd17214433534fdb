// The client's side of a session: a plain socket or TLS over it, chosen when the connection is
// accepted, behind one type. Everything above reads and writes a ClientStream and sets its
// deadlines; only what must reach the socket itself (splice, the hang-up watch's peek) asks
// is_tls() first.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <utility>

#include "units.hpp"

namespace socket_proxy {

// TCP and unix clients alike: both listeners' sockets convert to this one type, so nothing
// above the listeners is a template on the protocol.
using ClientSocket = boost::asio::generic::stream_protocol::socket;
// The socket with the deadlines every wait on the client needs; TLS runs on top of it, so its
// records are bound by the same deadlines.
using ClientTransport = boost::beast::basic_stream<boost::asio::generic::stream_protocol>;
using ClientTlsStream = boost::asio::ssl::stream<ClientTransport>;

class ClientStream {
  public:
    using executor_type = ClientTransport::executor_type;

    explicit ClientStream(ClientSocket socket) : plain_(std::move(socket)) {}
    // A TLS stream whose handshake has completed, and the context it was made from, which a
    // reload may replace meanwhile.
    ClientStream(std::unique_ptr<ClientTlsStream> tls,
                 std::shared_ptr<boost::asio::ssl::context> context)
        : tls_context_(std::move(context)),
          plain_(ClientSocket(tls->get_executor())),
          tls_(std::move(tls)) {}

    [[nodiscard]] bool is_tls() const { return tls_ != nullptr; }

    executor_type get_executor() { return transport().get_executor(); }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& into) {
                if (tls_) {
                    tls_->async_read_some(into, std::move(handler));
                } else {
                    plain_.async_read_some(into, std::move(handler));
                }
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& from) {
                if (tls_) {
                    tls_->async_write_some(from, std::move(handler));
                } else {
                    plain_.async_write_some(from, std::move(handler));
                }
            },
            token, buffers);
    }

    // Deadlines on every read and write that follow, TLS records included.
    void expires_after(Duration limit) { transport().expires_after(limit); }
    void expires_never() { transport().expires_never(); }

    // Ends the proxy's side: plain, a TCP half-close; TLS, a close_notify alert (RFC 8446
    // section 6.1), without waiting for the client's, so that reading from the client may go
    // on (a tunnel's other direction, the drain before the close). Bounded by the deadline the
    // caller set.
    boost::asio::awaitable<void> end_writes();

    // The socket itself, for what only a socket can do: splice(2) and the hang-up watch's peek
    // on a plain connection.
    ClientSocket& socket() { return transport().socket(); }
    void close() { transport().close(); }

  private:
    ClientTransport& transport() { return tls_ ? tls_->next_layer() : plain_; }

    // Either the plain transport is used, or the TLS stream and the transport inside it.
    // Declared first, destroyed last: after the TLS stream made from it.
    std::shared_ptr<boost::asio::ssl::context> tls_context_;
    ClientTransport plain_;
    std::unique_ptr<ClientTlsStream> tls_;
};

}  // namespace socket_proxy
