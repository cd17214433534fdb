#include "x509.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <limits>

namespace socket_proxy {
namespace {

struct BioFree {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
struct BignumFree {
    void operator()(BIGNUM* number) const { BN_free(number); }
};
struct ExtensionFree {
    void operator()(X509_EXTENSION* extension) const { X509_EXTENSION_free(extension); }
};
struct GeneralNamesFree {
    void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct GeneralNameFree {
    void operator()(GENERAL_NAME* name) const { GENERAL_NAME_free(name); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

// OpenSSL keeps its reasons on a per-thread queue; the oldest one is where it went wrong.
std::string openssl_reason() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "no reason given";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

[[noreturn]] void fail(const std::string& what) {
    throw X509Error(what + " (OpenSSL: " + openssl_reason() + ")");
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

void add_extension(X509* certificate, X509V3_CTX& context, int nid, const char* value) {
    const std::unique_ptr<X509_EXTENSION, ExtensionFree> extension(
        X509V3_EXT_conf_nid(nullptr, &context, nid, value));
    check(extension != nullptr && X509_add_ext(certificate, extension.get(), -1) == 1,
          "cannot add a certificate extension");
}

void add_subject_alt_names(X509* certificate, const std::vector<std::string>& names) {
    const std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> general_names(
        sk_GENERAL_NAME_new_null());
    check(general_names != nullptr, "cannot allocate the subject alternative names");
    for (const std::string& name : names) {
        std::unique_ptr<GENERAL_NAME, GeneralNameFree> general_name(GENERAL_NAME_new());
        check(general_name != nullptr, "cannot allocate a subject alternative name");
        if (is_ip_address(name)) {
            ASN1_OCTET_STRING* address = a2i_IPADDRESS(name.c_str());
            check(address != nullptr, "cannot encode an IP address");
            GENERAL_NAME_set0_value(general_name.get(), GEN_IPADD, address);
        } else {
            ASN1_IA5STRING* dns_name = ASN1_IA5STRING_new();
            check(dns_name != nullptr, "cannot allocate a DNS name");
            GENERAL_NAME_set0_value(general_name.get(), GEN_DNS, dns_name);
            check(ASN1_STRING_set(dns_name, name.data(), static_cast<int>(name.size())) == 1,
                  "cannot encode a DNS name");
        }
        check(sk_GENERAL_NAME_push(general_names.get(), general_name.get()) > 0,
              "cannot add a subject alternative name");
        general_name.release();  // the stack owns it now
    }
    check(X509_add1_ext_i2d(certificate, NID_subject_alt_name, general_names.get(), 0,
                            X509V3_ADD_DEFAULT) == 1,
          "cannot add the subject alternative names");
}

// 128 random bits: unguessable serials keep a chosen-prefix collision from forging a
// certificate, and two CAs made apart never give two certificates the same serial.
void set_random_serial(X509* certificate) {
    const std::unique_ptr<BIGNUM, BignumFree> serial(BN_new());
    check(serial != nullptr && BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1,
          "cannot draw a random serial number");
    check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)) != nullptr,
          "cannot set the serial number");
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(length));
}

Bio read_only_bio(std::string_view text) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    check(bio != nullptr, "cannot allocate a memory buffer");
    return bio;
}

// A key with a passphrase is refused instead of prompting for one on the terminal.
int no_passphrase(char*, int, int, void*) {
    return 0;
}

}  // namespace

bool is_ip_address(std::string_view name) {
    const std::string text(name);
    unsigned char address[sizeof(in6_addr)];
    return inet_pton(AF_INET, text.c_str(), address) == 1 ||
           inet_pton(AF_INET6, text.c_str(), address) == 1;
}

PrivateKey generate_p256_key() {
    PrivateKey key(EVP_EC_gen("P-256"));
    check(key != nullptr, "cannot generate an ECDSA P-256 key");
    return key;
}

Certificate issue_certificate(const CertificateSpec& spec, const PrivateKey& subject_key,
                              const Certificate* issuer, const PrivateKey& issuer_key) {
    Certificate certificate(X509_new());
    check(certificate != nullptr, "cannot allocate a certificate");
    X509* const x509 = certificate.get();
    check(X509_set_version(x509, X509_VERSION_3) == 1, "cannot set the certificate version");
    set_random_serial(x509);

    // An hour in the past, so that a client whose clock is a little behind accepts it at once.
    constexpr long clock_skew_seconds = 3600;
    const long lifetime_seconds =
        static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(spec.lifetime).count());
    check(X509_gmtime_adj(X509_getm_notBefore(x509), -clock_skew_seconds) != nullptr &&
              X509_gmtime_adj(X509_getm_notAfter(x509), lifetime_seconds) != nullptr,
          "cannot set the validity period");
    // A certificate that outlives its CA would only fail later, with a less clear error.
    if (issuer != nullptr &&
        ASN1_TIME_compare(X509_get0_notAfter(issuer->get()), X509_get0_notAfter(x509)) < 0) {
        check(X509_set1_notAfter(x509, X509_get0_notAfter(issuer->get())) == 1,
              "cannot set the validity period");
    }
    check(X509_set_pubkey(x509, subject_key.get()) == 1, "cannot set the public key");

    X509_NAME* const subject = X509_get_subject_name(x509);
    check(
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(spec.common_name.data()),
                                   static_cast<int>(spec.common_name.size()), -1, 0) == 1,
        "cannot set the common name");
    X509* const issuer_x509 = issuer != nullptr ? issuer->get() : x509;
    check(X509_set_issuer_name(x509, X509_get_subject_name(issuer_x509)) == 1,
          "cannot set the issuer name");

    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer_x509, x509, nullptr, nullptr, 0);
    switch (spec.role) {
        case CertificateRole::authority:
            add_extension(x509, context, NID_basic_constraints, "critical,CA:TRUE");
            add_extension(x509, context, NID_key_usage, "critical,keyCertSign,cRLSign");
            break;
        case CertificateRole::server:
            add_extension(x509, context, NID_basic_constraints, "critical,CA:FALSE");
            // ECDHE with an ECDSA key signs the handshake: digitalSignature is all it uses.
            add_extension(x509, context, NID_key_usage, "critical,digitalSignature");
            add_extension(x509, context, NID_ext_key_usage, "serverAuth");
            add_subject_alt_names(x509, spec.subject_alt_names);
            break;
        case CertificateRole::client:
            add_extension(x509, context, NID_basic_constraints, "critical,CA:FALSE");
            add_extension(x509, context, NID_key_usage, "critical,digitalSignature");
            add_extension(x509, context, NID_ext_key_usage, "clientAuth");
            break;
    }
    // The subject key identifier first: a self-signed CA's authority key identifier is read
    // from it.
    add_extension(x509, context, NID_subject_key_identifier, "hash");
    add_extension(x509, context, NID_authority_key_identifier, "keyid:always");

    check(X509_sign(x509, issuer_key.get(), EVP_sha256()) > 0, "cannot sign the certificate");
    return certificate;
}

std::string private_key_pem(const PrivateKey& key) {
    const Bio bio(BIO_new(BIO_s_mem()));
    check(bio != nullptr && PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                                                     nullptr, nullptr) == 1,
          "cannot write the private key as PEM");
    return bio_text(bio.get());
}

std::string certificate_pem(const Certificate& certificate) {
    const Bio bio(BIO_new(BIO_s_mem()));
    check(bio != nullptr && PEM_write_bio_X509(bio.get(), certificate.get()) == 1,
          "cannot write the certificate as PEM");
    return bio_text(bio.get());
}

PrivateKey read_private_key_pem(std::string_view pem, std::string_view origin) {
    const Bio bio = read_only_bio(pem);
    PrivateKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (key == nullptr) {
        fail(std::string(origin) + " holds no unencrypted PEM private key");
    }
    return key;
}

Certificate read_certificate_pem(std::string_view pem, std::string_view origin) {
    const Bio bio = read_only_bio(pem);
    Certificate certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (certificate == nullptr) {
        fail(std::string(origin) + " holds no PEM certificate");
    }
    return certificate;
}

bool key_matches_certificate(const PrivateKey& key, const Certificate& certificate) {
    const bool matches = X509_check_private_key(certificate.get(), key.get()) == 1;
    ERR_clear_error();
    return matches;
}

bool is_certificate_authority(const Certificate& certificate) {
    return X509_check_ca(certificate.get()) != 0;
}

std::string not_after_text(const Certificate& certificate) {
    std::tm time{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate.get()), &time) != 1) {
        ERR_clear_error();
        return "an unreadable date";
    }
    char text[32];
    const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%d", &time);
    return std::string(text, length);
}

bool has_expired(const Certificate& certificate) {
    return X509_cmp_current_time(X509_get0_notAfter(certificate.get())) <= 0;
}

}  // namespace socket_proxy
