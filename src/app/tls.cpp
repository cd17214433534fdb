#include "tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "log.hpp"
#include "nothrow.hpp"
#include "session.hpp"
#include "x509.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;

namespace {

using Clock = std::chrono::steady_clock;

// Debian's wolfSSL also enables RC4, NULL and anonymous suites: the list is set whole. TLS 1.2
// gets forward secrecy and AEAD only (Mozilla's "intermediate" minus CBC); TLS 1.3 suites are
// all AEAD.
constexpr const char* cipher_suites =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void check_readable(const std::string& path, std::string_view variable) {
    if (!std::ifstream(path)) {
        throw TlsError(std::string(variable) + "=" + path +
                       " cannot be read: give a PEM file the proxy's user may read");
    }
}

struct X509Free {
    void operator()(X509* certificate) const { X509_free(certificate); }
};

std::string lowercase_hex(const unsigned char* bytes, std::size_t length) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string hex;
    hex.reserve(length * 2);
    for (std::size_t index = 0; index < length; ++index) {
        hex += digits[bytes[index] >> 4];
        hex += digits[bytes[index] & 0x0f];
    }
    return hex;
}

std::optional<PeerCertificate> read_peer_certificate(SSL* session) {
    // A copy the caller frees, unlike OpenSSL 3's get0.
    const std::unique_ptr<X509, X509Free> certificate(SSL_get_peer_certificate(session));
    if (!certificate) {
        return std::nullopt;
    }
    PeerCertificate peer;
    std::array<char, 256> common_name{};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate.get()), NID_commonName,
                                  common_name.data(), static_cast<int>(common_name.size())) > 0) {
        peer.common_name = common_name.data();
    }
    if (auto* names = static_cast<GENERAL_NAMES*>(
            X509_get_ext_d2i(certificate.get(), NID_subject_alt_name, nullptr, nullptr))) {
        for (int index = 0; index < sk_GENERAL_NAME_num(names); ++index) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, index);
            const bool dns = name->type == GEN_DNS;
            if (!dns && name->type != GEN_URI) {
                continue;
            }
            ASN1_STRING* text = dns ? name->d.dNSName : name->d.uniformResourceIdentifier;
            std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                              static_cast<std::size_t>(ASN1_STRING_length(text)));
            (dns ? peer.dns_names : peer.uris).push_back(std::move(value));
        }
        GENERAL_NAMES_free(names);
        // wolfSSL lists the names last first: the certificate's order is the one users read.
        std::reverse(peer.dns_names.begin(), peer.dns_names.end());
        std::reverse(peer.uris.begin(), peer.uris.end());
    }
    int der_length = 0;
    const unsigned char* der = wolfSSL_X509_get_der(certificate.get(), &der_length);
    std::array<unsigned char, 32> digest{};
    if (der != nullptr && der_length > 0 &&
        wc_Sha256Hash(der, static_cast<word32>(der_length), digest.data()) == 0) {
        peer.sha256 = lowercase_hex(digest.data(), digest.size());
    }
    return peer;
}

std::string wolfssl_reason(long code) {
    std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
    return text.data() + (" (wolfSSL " + std::to_string(code) + ")");
}

// wolfSSL sets OpenSSL's verification codes but names few of them: the ones a client
// certificate meets, in OpenSSL's words.
std::string verify_reason(long code) {
    switch (code) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return "certificate has expired";
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return "certificate is not yet valid";
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return "not signed by a CA in SOCKET_PROXY_TLS_CA";
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return "self-signed certificate";
        case X509_V_ERR_CERT_SIGNATURE_FAILURE:
            return "certificate signature failure";
        case X509_V_ERR_CERT_REVOKED:
            return "certificate revoked";
        case X509_V_ERR_INVALID_PURPOSE:
            return "certificate is not for client authentication";
        default:
            return std::string(X509_verify_cert_error_string(code)) + " (X509_V_ERR " +
                   std::to_string(code) + ")";
    }
}

// Why a handshake failed, in words for the log, and the metric's reason.
struct HandshakeFailure {
    TlsHandshakeFailure reason = TlsHandshakeFailure::protocol;
    std::string why;
};

HandshakeFailure explain_failure(SSL* session, const error_code& error) {
    if (error == asio::error::timed_out || error == boost::beast::error::timeout) {
        return {TlsHandshakeFailure::timeout,
                "the handshake did not complete within SOCKET_PROXY_HEAD_TIMEOUT"};
    }
    if (const long verify = SSL_get_verify_result(session); verify != X509_V_OK) {
        // OpenSSL's X509_V_ERR numbers, or wolfSSL's own (negative) codes.
        return {TlsHandshakeFailure::certificate,
                "the client's certificate was refused: " +
                    (verify > 0 ? verify_reason(verify) : wolfssl_reason(verify))};
    }
    // asio reports wolfSSL's failures as one generic code; wolfSSL keeps the real reason.
    if (const int code = wolfSSL_get_error(session, 0); code != 0 && code != SSL_ERROR_SYSCALL) {
        if (code == NO_PEER_CERT) {
            return {TlsHandshakeFailure::certificate, "the client sent no certificate"};
        }
        // wolfSSL checks a client certificate's extendedKeyUsage itself, as OpenSSL's
        // sslclient purpose does: present, it must list clientAuth or anyExtendedKeyUsage.
        if (code == EXTKEYUSE_AUTH_E) {
            return {TlsHandshakeFailure::certificate,
                    "the client's certificate was refused: its extendedKeyUsage lacks clientAuth, "
                    "so it is not for client authentication (a server certificate?): give the "
                    "client one issued for clients (socket-proxy certs --client NAME)"};
        }
        return {TlsHandshakeFailure::protocol, wolfssl_reason(code)};
    }
    return {TlsHandshakeFailure::protocol, error.message()};
}

// Waits for the first byte without taking it: the handshake reads it again.
asio::awaitable<std::optional<unsigned char>> peek_first_byte(ClientSocket& socket,
                                                              Clock::time_point deadline) {
    asio::steady_timer timer(socket.get_executor());
    timer.expires_at(deadline);
    std::array<unsigned char, 1> first{};
    auto peeked = co_await (
        socket.async_receive(asio::buffer(first), asio::socket_base::message_peek, nothrow) ||
        timer.async_wait(nothrow));
    if (peeked.index() != 0) {
        co_return std::nullopt;
    }
    const auto [error, count] = std::get<0>(peeked);
    if (error || count == 0) {
        co_return std::nullopt;
    }
    co_return first[0];
}

std::string read_text(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Debian's wolfSSL_CTX_check_private_key accepts any EC key for any certificate. wolfCrypt
// compares a P-256 pair (what `socket-proxy certs` writes); other kinds are left to the check
// above and, failing that, to the peer's signature check.
bool p256_key_matches(const std::string& key_file, const std::string& certificate_file) {
    try {
        const PrivateKey key = read_private_key_pem(read_text(key_file), key_file);
        const Certificate certificate =
            read_certificate_pem(read_text(certificate_file), certificate_file);
        return key_matches_certificate(key, certificate);
    } catch (const X509Error&) {
        return true;  // not a P-256 pair: nothing to compare here
    }
}

// TLS 1.2 and 1.3 only, forward secrecy and AEAD only, no compression.
void restrict_protocol(TlsContext& context) {
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    // wolfSSL as Debian builds it knows neither compression nor renegotiation; the option says
    // so for any other build.
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_cipher_list(native, cipher_suites) != 1) {
        throw TlsError("this wolfSSL build offers none of the TLS cipher suites socket-proxy uses");
    }
}

}  // namespace

void free_thread_tls_cache() {
#ifdef FP_ECC
    wc_ecc_fp_free();
#endif
}

std::shared_ptr<TlsContext> load_tls_context(const Config& config) {
    check_readable(config.tls_cert, "SOCKET_PROXY_TLS_CERT");
    check_readable(config.tls_key, "SOCKET_PROXY_TLS_KEY");
    if (!config.tls_ca.empty()) {
        check_readable(config.tls_ca, "SOCKET_PROXY_TLS_CA");
    }
    auto context = std::make_shared<TlsContext>(TlsContext::tls_server);
    SSL_CTX* native = context->native_handle();
    restrict_protocol(*context);
    error_code error;
    context->use_certificate_chain_file(config.tls_cert, error);
    if (error) {
        throw TlsError("SOCKET_PROXY_TLS_CERT=" + config.tls_cert +
                       " is not a PEM certificate (chain): " + error.message());
    }
    context->use_private_key_file(config.tls_key, TlsContext::pem, error);
    if (error) {
        throw TlsError("SOCKET_PROXY_TLS_KEY=" + config.tls_key +
                       " is not a PEM private key without a passphrase: " + error.message());
    }
    if (SSL_CTX_check_private_key(native) != 1 ||
        !p256_key_matches(config.tls_key, config.tls_cert)) {
        throw TlsError("SOCKET_PROXY_TLS_KEY=" + config.tls_key +
                       " is not the key of the certificate in SOCKET_PROXY_TLS_CERT=" +
                       config.tls_cert + ": give the pair that belongs together");
    }
    if (!config.tls_ca.empty()) {
        context->load_verify_file(config.tls_ca, error);
        if (error) {
            throw TlsError("SOCKET_PROXY_TLS_CA=" + config.tls_ca +
                           " is not a PEM bundle of CA certificates: " + error.message());
        }
        context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    } else {
        context->set_verify_mode(ssl::verify_none);
    }
    return context;
}

std::shared_ptr<TlsContext> load_daemon_tls_context(const Config& config) {
    const std::string setting = "SOCKET_PROXY_DOCKER_CERT_PATH=" + config.docker_cert_path;
    const std::string ca = config.docker_cert_path + "/ca.pem";
    const std::string cert = config.docker_cert_path + "/cert.pem";
    const std::string key = config.docker_cert_path + "/key.pem";
    for (const std::string& file : {ca, cert, key}) {
        if (!std::ifstream(file)) {
            throw TlsError(setting + ": " + file +
                           " cannot be read: the directory needs ca.pem, cert.pem and key.pem "
                           "(`socket-proxy certs DIR --client NAME` writes them to "
                           "DIR/clients/NAME) readable by the proxy's user");
        }
    }
    auto context = std::make_shared<TlsContext>(TlsContext::tls_client);
    restrict_protocol(*context);
    error_code error;
    context->load_verify_file(ca, error);
    if (error) {
        throw TlsError(setting + ": " + ca +
                       " is not a PEM bundle of CA certificates: " + error.message());
    }
    context->use_certificate_chain_file(cert, error);
    if (error) {
        throw TlsError(setting + ": " + cert +
                       " is not a PEM certificate (chain): " + error.message());
    }
    context->use_private_key_file(key, TlsContext::pem, error);
    if (error) {
        throw TlsError(setting + ": " + key +
                       " is not a PEM private key without a passphrase: " + error.message());
    }
    if (SSL_CTX_check_private_key(context->native_handle()) != 1 || !p256_key_matches(key, cert)) {
        throw TlsError(setting + ": " + key + " is not the key of the certificate in " + cert +
                       ": give the pair that belongs together");
    }
    // The engine's certificate must chain to ca.pem; its name is checked after the handshake
    // (daemon_connect.cpp).
    context->set_verify_mode(ssl::verify_peer);
    return context;
}

asio::awaitable<std::optional<ClientStream>> accept_tls(ClientSocket socket,
                                                        std::shared_ptr<TlsContext> context,
                                                        Duration timeout, Client& client,
                                                        ServerState& state,
                                                        std::atomic<std::size_t>& handshakes) {
    struct Uncount {
        std::atomic<std::size_t>& count;
        ~Uncount() { --count; }
    } uncount{handshakes};
    const auto fail = [&](TlsHandshakeFailure reason, LogLevel level, std::string why) {
        state.metrics.count_tls_failure(reason);
        log_event(level, "tls-handshake-failed", {{"client", client.address}, {"error", why}});
    };
    // One deadline from the accept to the end of the handshake; 0 leaves both unbounded, as it
    // does the request head.
    const Clock::time_point deadline =
        timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();

    const std::optional<unsigned char> first = co_await peek_first_byte(socket, deadline);
    if (!first) {
        // A port check or a scanner closes at once: worth a debug line. One that holds the
        // connection silent until the deadline is worth more.
        if (Clock::now() >= deadline) {
            fail(
                TlsHandshakeFailure::timeout, LogLevel::info,
                "no handshake within " + format_duration(timeout) + " (SOCKET_PROXY_HEAD_TIMEOUT)");
        } else {
            fail(TlsHandshakeFailure::protocol, LogLevel::debug,
                 "the client closed before its handshake");
        }
        // Not `co_return std::nullopt`: GCC 12 leaves the awaitable's result unconstructed
        // for it (UBSan: an invalid bool in the optional).
        co_return std::optional<ClientStream>();
    }
    if (*first != tls_handshake_record) {
        state.metrics.count_tls_failure(TlsHandshakeFailure::plaintext);
        log_event(LogLevel::warning, "tls-plaintext",
                  {{"client", client.address},
                   {"error",
                    "a plaintext request on the TLS port; answered 400 and closed: "
                    "the client needs https:// or DOCKER_TLS_VERIFY and a tcp:// "
                    "DOCKER_HOST on this port"}});
        co_await refuse_connection(std::move(socket), std::string(plaintext_on_tls_response),
                                   state);
        co_return std::optional<ClientStream>();
    }

    auto tls = std::make_unique<ClientTlsStream>(ClientTransport(std::move(socket)), *context);
    if (deadline != Clock::time_point::max()) {
        tls->next_layer().expires_at(deadline);
    }
    auto [error] = co_await tls->async_handshake(ssl::stream_base::server, nothrow);
    tls->next_layer().expires_never();
    if (error) {
        const HandshakeFailure failure = explain_failure(tls->native_handle(), error);
        fail(failure.reason, LogLevel::warning, failure.why);
        tls->next_layer().close();
        co_return std::optional<ClientStream>();
    }
    client.certificate = read_peer_certificate(tls->native_handle());
    co_return ClientStream(std::move(tls), std::move(context));
}

}  // namespace socket_proxy
