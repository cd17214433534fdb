#include "daemon_connect.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdio>
#include <vector>

#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using boost::system::error_code;
using Endpoint = asio::generic::stream_protocol::endpoint;
using Clock = std::chrono::steady_clock;

namespace {

struct X509Free {
    void operator()(X509* certificate) const { X509_free(certificate); }
};

std::string wolfssl_reason(int code) {
    std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
    return text.data() + (" (wolfSSL " + std::to_string(code) + ")");
}

// wolfSSL reports a failed handshake as one generic asio code and keeps the real reason; the
// ones an operator meets when pointing the proxy at an engine, in words that say what to fix.
std::string handshake_failure(SSL* session, const error_code& error) {
    const long verify = SSL_get_verify_result(session);
    int code = wolfSSL_get_error(session, 0);
    if (verify == X509_V_ERR_CERT_HAS_EXPIRED || code == ASN_AFTER_DATE_E) {
        return "the engine's TLS certificate has expired";
    }
    if (verify == X509_V_ERR_CERT_NOT_YET_VALID || code == ASN_BEFORE_DATE_E) {
        return "the engine's TLS certificate is not valid yet (check the clocks)";
    }
    if (code == ASN_NO_SIGNER_E || code == ASN_SIG_CONFIRM_E ||
        verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
        verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
        return "the engine's TLS certificate is not signed by a CA in "
               "SOCKET_PROXY_DOCKER_CERT_PATH/ca.pem";
    }
    if (code == FATAL_ERROR) {
        return "the engine refused the TLS handshake (a fatal alert): does it require a client "
               "certificate signed by a CA it trusts (SOCKET_PROXY_DOCKER_CERT_PATH/cert.pem)?";
    }
    if (code == VERSION_ERROR || code == UNKNOWN_RECORD_TYPE) {
        return "the engine does not speak TLS on this port (" + wolfssl_reason(code) +
               "): unset SOCKET_PROXY_DOCKER_CERT_PATH, or use the engine's TLS port";
    }
    if (verify != X509_V_OK) {
        return "the engine's TLS certificate was refused: " +
               std::string(X509_verify_cert_error_string(verify));
    }
    if (code != 0 && code != SSL_ERROR_SYSCALL && code != SOCKET_ERROR_E) {
        return "TLS handshake failed: " + wolfssl_reason(code);
    }
    return "TLS handshake failed: " + error.message();
}

// Whether the verified certificate names what was dialled: its DNS names for a host name, its
// IP addresses for a numeric host (RFC 6125; Go's crypto/tls checks the same way).
bool certificate_names_host(SSL* session, const DaemonAddress& address) {
    const std::unique_ptr<X509, X509Free> certificate(SSL_get_peer_certificate(session));
    if (!certificate) {
        return false;
    }
    if (address.host_is_numeric()) {
        return X509_check_ip_asc(certificate.get(), expanded_ip_text(address.host).c_str(), 0) ==
               WOLFSSL_SUCCESS;
    }
    return X509_check_host(certificate.get(), address.host.c_str(), address.host.size(), 0,
                           nullptr) == WOLFSSL_SUCCESS;
}

struct Endpoints {
    std::vector<Endpoint> list;
    error_code error;
    std::string why;
};

asio::awaitable<Endpoints> endpoints_of(asio::any_io_executor executor,
                                        const DaemonAddress& address) {
    Endpoints endpoints;
    if (!address.tcp()) {
        endpoints.list.emplace_back(asio::local::stream_protocol::endpoint(address.unix_path));
        co_return endpoints;
    }
    if (address.host_is_numeric()) {
        endpoints.list.emplace_back(
            asio::ip::tcp::endpoint(asio::ip::make_address(address.host), address.port));
        co_return endpoints;
    }
    asio::ip::tcp::resolver resolver(executor);
    auto [error, results] =
        co_await resolver.async_resolve(address.host, std::to_string(address.port), nothrow);
    if (error) {
        endpoints.error = error;
        endpoints.why = "the name " + address.host + " does not resolve: " + error.message();
        co_return endpoints;
    }
    for (const auto& entry : results) {
        endpoints.list.emplace_back(entry.endpoint());
    }
    co_return endpoints;
}

}  // namespace

std::string expanded_ip_text(const std::string& numeric_host) {
    error_code error;
    const auto address = asio::ip::make_address(numeric_host, error);
    if (error || !address.is_v6()) {
        return numeric_host;
    }
    const auto bytes = address.to_v6().to_bytes();
    std::string text;
    for (std::size_t index = 0; index < bytes.size(); index += 2) {
        std::array<char, 6> group{};
        std::snprintf(group.data(), group.size(), "%02x%02x", bytes[index], bytes[index + 1]);
        text += (index == 0 ? "" : ":") + std::string(group.data());
    }
    return text;
}

asio::awaitable<DaemonConnect> connect_to_daemon(asio::any_io_executor executor,
                                                 const DaemonAddress& address,
                                                 std::shared_ptr<TlsContext> tls,
                                                 Duration timeout) {
    const Clock::time_point deadline =
        timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
    const auto bound = [&](StreamTransport& transport) {
        if (deadline != Clock::time_point::max()) {
            transport.expires_at(deadline);
        }
    };
    DaemonConnect connect;
    Endpoints endpoints = co_await endpoints_of(executor, address);
    if (endpoints.error) {
        connect.error = endpoints.error;
        connect.why = std::move(endpoints.why);
        co_return connect;
    }
    // Built where it stays: a basic_stream moved after use leaves its timer state behind.
    std::unique_ptr<DaemonStream> plain;
    std::unique_ptr<TlsStream> stream;
    if (tls) {
        stream = std::make_unique<TlsStream>(executor, *tls);
    } else {
        plain = std::make_unique<DaemonStream>(StreamSocket(executor));
    }
    StreamTransport& transport = tls ? stream->next_layer() : plain->transport();
    // The look-up may give several addresses (IPv6 and IPv4): the first that accepts serves.
    bool connected = false;
    for (const Endpoint& endpoint : endpoints.list) {
        bound(transport);
        auto [error] = co_await transport.async_connect(endpoint, nothrow);
        if (!error) {
            connected = true;
            break;
        }
        transport.close();
        connect.error = error;
        if (error == boost::beast::error::timeout) {
            break;
        }
    }
    if (!connected) {
        if (!connect.error) {
            connect.error = asio::error::host_not_found;  // a look-up with no address
        }
        connect.why = connect.error.message();
        co_return connect;
    }
    if (address.tcp()) {
        // Requests and hijacked streams are small writes that must leave at once.
        error_code ignored;
        transport.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    if (!tls) {
        transport.expires_never();
        connect.error = {};
        connect.stream = std::move(plain);
        co_return connect;
    }

    SSL* session = stream->native_handle();
    if (!address.host_is_numeric()) {
        // SNI carries names only (RFC 6066 section 3): an IP is not sent.
        SSL_set_tlsext_host_name(session, address.host.c_str());
    }
    bound(stream->next_layer());
    auto [handshake_error] = co_await stream->async_handshake(ssl::stream_base::client, nothrow);
    stream->next_layer().expires_never();
    if (handshake_error) {
        connect.error = handshake_error;
        connect.why = handshake_error == boost::beast::error::timeout
                          ? "no TLS handshake within " + format_duration(timeout)
                          : handshake_failure(session, handshake_error);
        stream->next_layer().close();
        co_return connect;
    }
    if (!certificate_names_host(session, address)) {
        connect.error = make_error_code(boost::system::errc::permission_denied);
        connect.why = "the engine's TLS certificate (signed by a CA in ca.pem) is not for " +
                      address.host + ": it must name that host as a DNS name or IP address";
        stream->next_layer().close();
        co_return connect;
    }
    connect.error = {};
    connect.stream = std::make_unique<DaemonStream>(std::move(stream), std::move(tls));
    connect.stream->end_tls_writes_with_half_close();
    co_return connect;
}

}  // namespace socket_proxy
