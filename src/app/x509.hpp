// Keys and certificates through wolfSSL's wolfCrypt, for `socket-proxy certs`: an ECDSA P-256
// key, a certificate signed by a CA (or by itself), and their PEM text. A key lives in a
// unique_ptr with wolfCrypt's free function, a certificate is its DER encoding, so no error path
// leaks one; this header names no wolfSSL type beyond the key's.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// wolfCrypt's key type (wolfssl/wolfcrypt/ecc.h), opaque here.
struct ecc_key;

namespace socket_proxy {

// What wolfCrypt could not do, with wolfCrypt's own reason appended.
class X509Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct PrivateKeyFree {
    void operator()(ecc_key* key) const;
};
using PrivateKey = std::unique_ptr<ecc_key, PrivateKeyFree>;

// A certificate as DER. Whatever holds one was parsed or issued by this file.
struct Certificate {
    std::vector<unsigned char> der;
};

enum class CertificateRole { authority, server, client };

struct CertificateSpec {
    CertificateRole role = CertificateRole::client;
    std::string common_name;
    // Server certificates: each a DNS name or an IPv4/IPv6 address (is_ip_address()).
    std::vector<std::string> subject_alt_names;
    std::chrono::hours lifetime{0};
};

// An address the server certificate names as an IP SAN ("127.0.0.1", "::1"), not a DNS name.
[[nodiscard]] bool is_ip_address(std::string_view name);

[[nodiscard]] PrivateKey generate_p256_key();
// A certificate for `subject_key` with a random 128-bit serial, SHA-256 signed by
// `issuer_key`, valid for spec.lifetime but not beyond its issuer; `issuer` null means
// self-signed (the CA).
[[nodiscard]] Certificate issue_certificate(const CertificateSpec& spec,
                                            const PrivateKey& subject_key,
                                            const Certificate* issuer,
                                            const PrivateKey& issuer_key);

// PKCS#8 ("BEGIN PRIVATE KEY") and "BEGIN CERTIFICATE".
[[nodiscard]] std::string private_key_pem(const PrivateKey& key);
[[nodiscard]] std::string certificate_pem(const Certificate& certificate);
// Both throw X509Error naming `origin` when the text is not what they read. A key may be
// PKCS#8 or SEC1 ("BEGIN EC PRIVATE KEY"), and must be a P-256 key without a passphrase.
[[nodiscard]] PrivateKey read_private_key_pem(std::string_view pem, std::string_view origin);
[[nodiscard]] Certificate read_certificate_pem(std::string_view pem, std::string_view origin);
// Every certificate of a PEM bundle or chain, in the file's order; throws as above, and when
// the text holds none.
[[nodiscard]] std::vector<Certificate> read_certificates_pem(std::string_view pem,
                                                             std::string_view origin);

[[nodiscard]] bool key_matches_certificate(const PrivateKey& key, const Certificate& certificate);
[[nodiscard]] bool is_certificate_authority(const Certificate& certificate);
[[nodiscard]] std::chrono::system_clock::time_point not_after(const Certificate& certificate);
// "2036-12-03"
[[nodiscard]] std::string not_after_text(const Certificate& certificate);
[[nodiscard]] bool has_expired(const Certificate& certificate);
// The subject's commonName as written, empty when it has none.
[[nodiscard]] std::string subject_common_name(const Certificate& certificate);
// SHA-256 of the DER, lowercase hex: the fingerprint `openssl x509 -fingerprint -sha256` shows.
[[nodiscard]] std::string certificate_sha256(const Certificate& certificate);

}  // namespace socket_proxy
