// A plain socket or TLS over it, behind one type: the client's side of a session (chosen when
// the connection is accepted) and the daemon's (chosen by SOCKET_PROXY_DOCKER_SOCKET and
// SOCKET_PROXY_DOCKER_CERT_PATH). Everything above reads and writes a SocketStream and sets its
// deadlines; only what must reach the socket itself (splice, the peeks that tell a hang-up)
// asks is_tls() first.
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
#include <mutex>
#include <utility>

#include "units.hpp"

namespace socket_proxy {

// TCP and unix sockets alike: the listeners' sockets and the daemon's convert to this one type,
// so nothing above them is a template on the protocol.
using StreamSocket = boost::asio::generic::stream_protocol::socket;
// The socket with the deadlines every wait needs; TLS runs on top of it, so its records are
// bound by the same deadlines.
using StreamTransport = boost::beast::basic_stream<boost::asio::generic::stream_protocol>;
using TlsStream = boost::asio::ssl::stream<StreamTransport>;
using TlsContext = boost::asio::ssl::context;

class SocketStream {
  public:
    using executor_type = StreamTransport::executor_type;

    explicit SocketStream(StreamSocket socket) : plain_(std::move(socket)) {}
    // A TLS stream whose handshake has completed, and the context it was made from, which a
    // reload may replace meanwhile.
    SocketStream(std::unique_ptr<TlsStream> tls, std::shared_ptr<TlsContext> context)
        : tls_context_(std::move(context)),
          plain_(StreamSocket(tls->get_executor())),
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

    // Ends the proxy's side: plain, a half-close; TLS, a close_notify alert (RFC 8446
    // section 6.1), without waiting for the peer's. Bounded by the deadline the caller set.
    // wolfSSL reads nothing more after it sent close_notify (its SSL_shutdown either waits for
    // the peer's alert or resets the session), so the client's side loses what the client still
    // sends (the drain before the close, a tunnel's other direction, which ends anyway).
    boost::asio::awaitable<void> end_writes();
    // For the engine's side, whose answer must go on after its input ended (an exec's output
    // after the end of its stdin): a TLS stream's writes end with a TCP half-close instead of
    // close_notify, and reading goes on. Go's tls.Conn reads an EOF at a record boundary as
    // EOF, as it reads close_notify.
    void end_tls_writes_with_half_close() { tls_ends_with_close_notify_ = false; }

    // The socket itself, for what only a socket can do: splice(2) and the peeks that tell a
    // hang-up.
    StreamSocket& socket() { return transport().socket(); }
    void close() { transport().close(); }
    // The socket with its deadlines, e.g. to connect a plain stream made from a closed socket.
    StreamTransport& transport() { return tls_ ? tls_->next_layer() : plain_; }

  private:
    // Either the plain transport is used, or the TLS stream and the transport inside it.
    // Declared first, destroyed last: after the TLS stream made from it.
    std::shared_ptr<TlsContext> tls_context_;
    StreamTransport plain_;
    std::unique_ptr<TlsStream> tls_;
    bool tls_ends_with_close_notify_ = true;
};

// The context new connections get; SIGHUP swaps it, and connections keep the one they began with.
class SharedTlsContext {
  public:
    [[nodiscard]] std::shared_ptr<TlsContext> load() const {
        const std::lock_guard lock(mutex_);
        return context_;
    }
    void store(std::shared_ptr<TlsContext> context) {
        const std::lock_guard lock(mutex_);
        context_ = std::move(context);
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<TlsContext> context_;
};

}  // namespace socket_proxy
