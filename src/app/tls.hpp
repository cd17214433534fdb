// The TCP listener's TLS: the server context made from SOCKET_PROXY_TLS_CERT, _KEY and _CA, and
// the handshake each accepted connection goes through before its session starts. Only a
// client whose handshake completed (and, with a CA, whose certificate that CA verified) reaches
// the session and the policy.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "client_stream.hpp"
#include "config.hpp"
#include "policy.hpp"
#include "server_state.hpp"
#include "units.hpp"

namespace socket_proxy {

// A file that does not load into a TLS context; what() names the file and the setting.
class TlsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// TLS 1.2 and 1.3 only, ECDHE with AES-GCM or ChaCha20-Poly1305, no compression, no
// renegotiation; with tls_ca, a client certificate signed by it is required. Throws TlsError.
[[nodiscard]] std::shared_ptr<TlsContext> load_tls_context(const Config& config);

// The client context for a tcp:// engine, from SOCKET_PROXY_DOCKER_CERT_PATH (Docker's layout):
// ca.pem verifies the engine, cert.pem and key.pem are presented to it. TLS 1.2 and 1.3 with
// the listener's suites. Throws TlsError.
[[nodiscard]] std::shared_ptr<TlsContext> load_daemon_tls_context(const Config& config);

// At most this many handshakes run at once in the process; a connection past them is closed
// at once, so that a flood of slow handshakes costs sockets but no crypto and no memory.
inline constexpr std::size_t max_tls_handshakes = 64;

// wolfSSL caches ECC points per thread (FP_ECC, as Debian builds it) and frees only the cache
// of the thread that asks: each serving thread calls this as it ends.
void free_thread_tls_cache();

// The first byte of a TLS connection: a handshake record (RFC 8446 section 5.1).
inline constexpr unsigned char tls_handshake_record = 0x16;

// What a plaintext HTTP request on the TLS port is told, as Go's net/http tells it.
inline constexpr std::string_view plaintext_on_tls_response =
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

// The handshake of one accepted connection, within `timeout` from the accept (0: none). On
// success `client.certificate` holds the verified certificate (when the client sent one) and
// the stream is ready for the session; otherwise the connection is answered (a plaintext
// request gets plaintext_on_tls_response), logged, counted and closed. `handshakes` was
// counted by the acceptor and is uncounted here.
boost::asio::awaitable<std::optional<ClientStream>> accept_tls(
    ClientSocket socket, std::shared_ptr<TlsContext> context, Duration timeout, Client& client,
    ServerState& state, std::atomic<std::size_t>& handshakes);

}  // namespace socket_proxy
