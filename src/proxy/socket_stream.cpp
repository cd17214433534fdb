#include "socket_stream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace socket_proxy {
namespace asio = boost::asio;

asio::awaitable<void> SocketStream::end_writes() {
    if (!tls_ || !tls_ends_with_close_notify_) {
        boost::system::error_code ignored;
        socket().shutdown(asio::socket_base::shutdown_send, ignored);
        co_return;
    }
    // SSL_shutdown sends close_notify and then waits to read the peer's, which a tunnel's
    // other direction or the drain may still be reading. Marked as already received, it only
    // sends ours (and wolfSSL reads nothing more: see end_tls_writes_with_half_close).
    ::SSL_set_shutdown(tls_->native_handle(), SSL_RECEIVED_SHUTDOWN);
    co_await tls_->async_shutdown(asio::as_tuple(asio::use_awaitable));
}

}  // namespace socket_proxy
