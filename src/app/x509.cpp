#include "x509.hpp"

// wolfSSL's build options first: the layout of its structures depends on them.
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <limits>

namespace socket_proxy {

void PrivateKeyFree::operator()(ecc_key* key) const {
    wc_ecc_key_free(key);
}

namespace {

[[noreturn]] void fail(const std::string& what, int code) {
    throw X509Error(what + " (wolfCrypt: " + wc_GetErrorString(code) + ")");
}

// wolfCrypt answers a size or 0 on success, a negative error code otherwise.
int check(int result, const std::string& what) {
    if (result < 0) {
        fail(what, result);
    }
    return result;
}

word32 size32(std::size_t size) {
    if (size > std::numeric_limits<int>::max()) {
        throw X509Error("a key or certificate of " + std::to_string(size) + " bytes is too large");
    }
    return static_cast<word32>(size);
}

class Random {
  public:
    Random() { check(wc_InitRng(&rng_), "cannot seed the random number generator"); }
    ~Random() { wc_FreeRng(&rng_); }
    Random(const Random&) = delete;
    Random& operator=(const Random&) = delete;
    WC_RNG* get() { return &rng_; }

  private:
    WC_RNG rng_{};
};

// A certificate parsed by wolfCrypt, without checking its signature or dates.
class Decoded {
  public:
    explicit Decoded(const Certificate& certificate) {
        wc_InitDecodedCert(&decoded_, certificate.der.data(), size32(certificate.der.size()),
                           nullptr);
        const int result = wc_ParseCert(&decoded_, CERT_TYPE, NO_VERIFY, nullptr);
        if (result != 0) {
            wc_FreeDecodedCert(&decoded_);
            fail("cannot read the certificate", result);
        }
    }
    ~Decoded() { wc_FreeDecodedCert(&decoded_); }
    Decoded(const Decoded&) = delete;
    Decoded& operator=(const Decoded&) = delete;
    DecodedCert* operator->() { return &decoded_; }

  private:
    DecodedCert decoded_{};
};

void append_length(std::vector<unsigned char>& der, std::size_t length) {
    if (length < 0x80) {
        der.push_back(static_cast<unsigned char>(length));
    } else if (length < 0x100) {
        der.push_back(0x81);
        der.push_back(static_cast<unsigned char>(length));
    } else {
        der.push_back(0x82);
        der.push_back(static_cast<unsigned char>(length >> 8));
        der.push_back(static_cast<unsigned char>(length & 0xff));
    }
}

void append_element(std::vector<unsigned char>& der, unsigned char tag, const void* value,
                    std::size_t length) {
    der.push_back(tag);
    append_length(der, length);
    const auto* bytes = static_cast<const unsigned char*>(value);
    der.insert(der.end(), bytes, bytes + length);
}

// The extension's GeneralNames (RFC 5280 4.2.1.6): dNSName [2] IA5String, iPAddress [7] the
// address's 4 or 16 bytes. wolfCrypt wraps it in the extension.
void set_subject_alt_names(Cert& cert, const std::vector<std::string>& names) {
    std::vector<unsigned char> general_names;
    for (const std::string& name : names) {
        in6_addr address{};
        if (inet_pton(AF_INET, name.c_str(), &address) == 1) {
            append_element(general_names, 0x87, &address, 4);
        } else if (inet_pton(AF_INET6, name.c_str(), &address) == 1) {
            append_element(general_names, 0x87, &address, 16);
        } else {
            append_element(general_names, 0x82, name.data(), name.size());
        }
    }
    std::vector<unsigned char> sequence;
    append_element(sequence, 0x30, general_names.data(), general_names.size());
    if (sequence.size() > sizeof cert.altNames) {
        throw X509Error("the subject alternative names take " + std::to_string(sequence.size()) +
                        " bytes, more than the " + std::to_string(sizeof cert.altNames) +
                        " a certificate may hold");
    }
    std::copy(sequence.begin(), sequence.end(), cert.altNames);
    cert.altNamesSz = static_cast<int>(sequence.size());
}

struct Element {
    std::size_t header = 0;
    std::size_t length = 0;
    std::size_t end(std::size_t at) const { return at + header + length; }
};

// The DER element at `at`, which must end by `limit` (lengths up to 64 KiB, as wolfCrypt writes).
Element element_at(const std::vector<unsigned char>& der, std::size_t at, std::size_t limit) {
    if (at + 2 > limit) {
        throw X509Error("wolfCrypt encoded a truncated certificate");
    }
    Element element{2, der[at + 1]};
    if ((element.length & 0x80) != 0) {
        const std::size_t bytes = element.length & 0x7f;
        if (bytes == 0 || bytes > 2 || at + 2 + bytes > limit) {
            throw X509Error("wolfCrypt encoded an unexpected certificate length");
        }
        element.length = 0;
        for (std::size_t i = 0; i < bytes; ++i) {
            element.length = element.length << 8 | der[at + 2 + i];
        }
        element.header += bytes;
    }
    if (element.end(at) > limit) {
        throw X509Error("wolfCrypt encoded a truncated certificate");
    }
    return element;
}

// RFC 5280 4.2.1.9: a CA certificate MUST mark basicConstraints critical, and wolfCrypt 5.5
// cannot: the flag goes into the encoded TBSCertificate, before it is signed. Answers the new
// size of the body at the start of `der`.
int mark_basic_constraints_critical(std::vector<unsigned char>& der, int body_size) {
    constexpr unsigned char basic_constraints[] = {0x06, 0x03, 0x55, 0x1d, 0x13};
    constexpr unsigned char critical[] = {0x01, 0x01, 0xff};
    const std::vector<unsigned char> body(der.begin(), der.begin() + body_size);
    const Element tbs = element_at(body, 0, body.size());
    std::vector<unsigned char> tbs_content;
    for (std::size_t at = tbs.header; at < tbs.end(0);) {
        const std::size_t next = element_at(body, at, tbs.end(0)).end(at);
        if (body[at] != 0xa3) {  // not [3] EXPLICIT Extensions
            tbs_content.insert(tbs_content.end(), body.begin() + at, body.begin() + next);
            at = next;
            continue;
        }
        const std::size_t sequence_at = at + element_at(body, at, next).header;
        std::vector<unsigned char> extensions;
        for (std::size_t ext = sequence_at + element_at(body, sequence_at, next).header;
             ext < next;) {
            const Element extension = element_at(body, ext, next);
            const std::size_t oid_at = ext + extension.header;
            const std::size_t after_oid = element_at(body, oid_at, extension.end(ext)).end(oid_at);
            const bool is_basic_constraints =
                after_oid - oid_at == sizeof basic_constraints &&
                std::equal(body.begin() + oid_at, body.begin() + after_oid, basic_constraints);
            if (is_basic_constraints && after_oid < extension.end(ext) && body[after_oid] != 0x01) {
                std::vector<unsigned char> content(body.begin() + oid_at, body.begin() + after_oid);
                content.insert(content.end(), std::begin(critical), std::end(critical));
                content.insert(content.end(), body.begin() + after_oid,
                               body.begin() + extension.end(ext));
                append_element(extensions, 0x30, content.data(), content.size());
            } else {
                extensions.insert(extensions.end(), body.begin() + ext,
                                  body.begin() + extension.end(ext));
            }
            ext = extension.end(ext);
        }
        std::vector<unsigned char> sequence;
        append_element(sequence, 0x30, extensions.data(), extensions.size());
        append_element(tbs_content, 0xa3, sequence.data(), sequence.size());
        at = next;
    }
    std::vector<unsigned char> marked;
    append_element(marked, 0x30, tbs_content.data(), tbs_content.size());
    // Room after the body for the signature wolfCrypt appends.
    der.assign(marked.begin(), marked.end());
    der.resize(marked.size() + 1024);
    return static_cast<int>(marked.size());
}

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; tag and length included,
// as wolfCrypt copies the date into the certificate.
int encode_time(std::time_t when, byte (&date)[CTC_DATE_SIZE]) {
    std::tm time{};
    if (gmtime_r(&when, &time) == nullptr) {
        throw X509Error("a validity date beyond what the system's clock can express");
    }
    const int year = time.tm_year + 1900;
    const bool utc_time = year >= 1950 && year < 2050;
    char text[CTC_DATE_SIZE];
    const std::size_t length =
        std::strftime(text, sizeof text, utc_time ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &time);
    if (length == 0 || year > 9999) {
        throw X509Error("a validity date after the year 9999");
    }
    date[0] = utc_time ? ASN_UTC_TIME : ASN_GENERALIZED_TIME;
    date[1] = static_cast<byte>(length);
    std::memcpy(date + 2, text, length);
    return static_cast<int>(length + 2);
}

// 128 random bits: unguessable serials keep a chosen-prefix collision from forging a
// certificate, and two CAs made apart never give two certificates the same serial. The top bit
// set keeps it 16 bytes long (wolfCrypt adds the zero byte that keeps it positive).
void set_random_serial(Cert& cert, Random& random) {
    constexpr int serial_bytes = 16;
    check(wc_RNG_GenerateBlock(random.get(), cert.serial, serial_bytes),
          "cannot draw a random serial number");
    cert.serial[0] |= 0x80;
    cert.serialSz = serial_bytes;
}

std::vector<unsigned char> public_point(ecc_key* key) {
    byte point[2 * MAX_ECC_BYTES + 1];
    word32 length = sizeof point;
    check(wc_ecc_export_x963(key, point, &length), "cannot export a public key");
    return {point, point + length};
}

std::string der_to_pem(const std::vector<unsigned char>& der, int type, const char* what) {
    const word32 der_size = size32(der.size());
    const int size = check(wc_DerToPem(der.data(), der_size, nullptr, 0, type),
                           std::string("cannot write the ") + what + " as PEM");
    std::string pem(static_cast<std::size_t>(size), '\0');
    const int written = check(wc_DerToPem(der.data(), der_size, reinterpret_cast<byte*>(pem.data()),
                                          size32(pem.size()), type),
                              std::string("cannot write the ") + what + " as PEM");
    pem.resize(static_cast<std::size_t>(written));
    return pem;
}

const byte* pem_bytes(std::string_view pem) {
    return reinterpret_cast<const byte*>(pem.data());
}

}  // namespace

bool is_ip_address(std::string_view name) {
    const std::string text(name);
    unsigned char address[sizeof(in6_addr)];
    return inet_pton(AF_INET, text.c_str(), address) == 1 ||
           inet_pton(AF_INET6, text.c_str(), address) == 1;
}

PrivateKey generate_p256_key() {
    PrivateKey key(wc_ecc_key_new(nullptr));
    if (key == nullptr) {
        throw X509Error("cannot allocate an ECDSA key");
    }
    Random random;
    check(wc_ecc_make_key_ex(random.get(), 32, key.get(), ECC_SECP256R1),
          "cannot generate an ECDSA P-256 key");
    return key;
}

Certificate issue_certificate(const CertificateSpec& spec, const PrivateKey& subject_key,
                              const Certificate* issuer, const PrivateKey& issuer_key) {
    // Cert holds room for 16 KiB of alternative names: too large for the stack.
    const auto cert = std::make_unique<Cert>();
    check(wc_InitCert(cert.get()), "cannot start a certificate");
    Random random;
    cert->sigType = CTC_SHA256wECDSA;
    set_random_serial(*cert, random);

    // An hour in the past, so that a client whose clock is a little behind accepts it at once.
    constexpr std::time_t clock_skew_seconds = 3600;
    const std::time_t now = std::time(nullptr);
    std::time_t expires =
        now + static_cast<std::time_t>(
                  std::chrono::duration_cast<std::chrono::seconds>(spec.lifetime).count());
    // A certificate that outlives its CA would only fail later, with a less clear error.
    if (issuer != nullptr) {
        expires = std::min(expires, std::chrono::system_clock::to_time_t(not_after(*issuer)));
    }
    cert->beforeDateSz = encode_time(now - clock_skew_seconds, cert->beforeDate);
    cert->afterDateSz = encode_time(expires, cert->afterDate);

    // wolfCrypt keeps a name in CTC_NAME_SIZE bytes with its terminating zero.
    if (spec.common_name.empty() || spec.common_name.size() >= CTC_NAME_SIZE ||
        spec.common_name.find('\0') != std::string::npos) {
        throw X509Error("the common name \"" + spec.common_name + "\" is not 1 to " +
                        std::to_string(CTC_NAME_SIZE - 1) + " bytes of text");
    }
    std::memcpy(cert->subject.commonName, spec.common_name.data(), spec.common_name.size());
    cert->subject.commonNameEnc = CTC_UTF8;
    if (issuer != nullptr) {
        // The issuer's subject as its bytes, so that a chain check matches the names exactly.
        check(wc_SetIssuerBuffer(cert.get(), issuer->der.data(), size32(issuer->der.size())),
              "cannot set the issuer name");
        check(wc_SetAuthKeyIdFromCert(cert.get(), issuer->der.data(), size32(issuer->der.size())),
              "cannot set the authority key identifier");
    } else {
        check(wc_SetAuthKeyIdFromPublicKey_ex(cert.get(), ECC_TYPE, issuer_key.get()),
              "cannot set the authority key identifier");
    }
    check(wc_SetSubjectKeyIdFromPublicKey_ex(cert.get(), ECC_TYPE, subject_key.get()),
          "cannot set the subject key identifier");

    // wolfCrypt marks keyUsage critical; basicConstraints gets marked below.
    switch (spec.role) {
        case CertificateRole::authority:
            cert->isCA = 1;
            check(wc_SetKeyUsage(cert.get(), "keyCertSign,cRLSign"), "cannot set the key usage");
            break;
        case CertificateRole::server:
            cert->basicConstSet = 1;
            // ECDHE with an ECDSA key signs the handshake: digitalSignature is all it uses.
            check(wc_SetKeyUsage(cert.get(), "digitalSignature"), "cannot set the key usage");
            check(wc_SetExtKeyUsage(cert.get(), "serverAuth"), "cannot set the extended key usage");
            set_subject_alt_names(*cert, spec.subject_alt_names);
            break;
        case CertificateRole::client:
            cert->basicConstSet = 1;
            check(wc_SetKeyUsage(cert.get(), "digitalSignature"), "cannot set the key usage");
            check(wc_SetExtKeyUsage(cert.get(), "clientAuth"), "cannot set the extended key usage");
            break;
    }

    std::vector<unsigned char> der(4096 + static_cast<std::size_t>(cert->altNamesSz));
    const int body_size = mark_basic_constraints_critical(
        der, check(wc_MakeCert_ex(cert.get(), der.data(), size32(der.size()), ECC_TYPE,
                                  subject_key.get(), random.get()),
                   "cannot encode the certificate"));
    const int size = check(wc_SignCert_ex(body_size, cert->sigType, der.data(), size32(der.size()),
                                          ECC_TYPE, issuer_key.get(), random.get()),
                           "cannot sign the certificate");
    der.resize(static_cast<std::size_t>(size));
    return Certificate{std::move(der)};
}

std::string private_key_pem(const PrivateKey& key) {
    word32 size = 0;
    // Asked for no output, wolfCrypt answers LENGTH_ONLY_E and the size it needs.
    const int needed = wc_EccPrivateKeyToPKCS8(key.get(), nullptr, &size);
    if (needed != LENGTH_ONLY_E) {
        fail("cannot encode the private key", needed);
    }
    std::vector<unsigned char> der(size);
    der.resize(static_cast<std::size_t>(check(wc_EccPrivateKeyToPKCS8(key.get(), der.data(), &size),
                                              "cannot encode the private key")));
    std::string pem = der_to_pem(der, PKCS8_PRIVATEKEY_TYPE, "private key");
    std::fill(der.begin(), der.end(), 0);
    return pem;
}

std::string certificate_pem(const Certificate& certificate) {
    return der_to_pem(certificate.der, CERT_TYPE, "certificate");
}

PrivateKey read_private_key_pem(std::string_view pem, std::string_view origin) {
    std::vector<unsigned char> der(pem.size());
    // Without a password callback an encrypted key is refused, never prompted for.
    const int size = wc_KeyPemToDer(pem_bytes(pem), static_cast<int>(size32(pem.size())),
                                    der.data(), size32(der.size()), nullptr);
    if (size <= 0) {
        fail(std::string(origin) + " holds no unencrypted PEM private key", size);
    }
    der.resize(static_cast<std::size_t>(size));
    word32 index = 0;
    // PKCS#8 wraps the SEC1 key wolfCrypt decodes; a SEC1 key starts at 0.
    if (wc_GetPkcs8TraditionalOffset(der.data(), &index, size32(der.size())) < 0) {
        index = 0;
    }
    PrivateKey key(wc_ecc_key_new(nullptr));
    if (key == nullptr) {
        throw X509Error("cannot allocate an ECDSA key");
    }
    const int result = wc_EccPrivateKeyDecode(der.data(), &index, key.get(), size32(der.size()));
    std::fill(der.begin(), der.end(), 0);
    if (result != 0) {
        fail(std::string(origin) + " holds no EC private key", result);
    }
    // A key without its public half (PKCS#8 may leave it out) gets it computed.
    if (key->type == ECC_PRIVATEKEY_ONLY) {
        check(wc_ecc_make_pub(key.get(), nullptr),
              std::string("cannot compute the public key of ") + std::string(origin));
    }
    return key;
}

Certificate read_certificate_pem(std::string_view pem, std::string_view origin) {
    std::vector<unsigned char> der(pem.size());
    const int size = wc_CertPemToDer(pem_bytes(pem), static_cast<int>(size32(pem.size())),
                                     der.data(), static_cast<int>(size32(der.size())), CERT_TYPE);
    if (size <= 0) {
        fail(std::string(origin) + " holds no PEM certificate", size);
    }
    der.resize(static_cast<std::size_t>(size));
    Certificate certificate{std::move(der)};
    try {
        (void)Decoded(certificate);
    } catch (const X509Error& error) {
        throw X509Error(std::string(origin) + ": " + error.what());
    }
    return certificate;
}

std::vector<Certificate> read_certificates_pem(std::string_view pem, std::string_view origin) {
    static constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----";
    static constexpr std::string_view end = "-----END CERTIFICATE-----";
    std::vector<Certificate> certificates;
    for (std::size_t start = pem.find(begin); start != std::string_view::npos;
         start = pem.find(begin, start)) {
        const std::size_t stop = pem.find(end, start);
        if (stop == std::string_view::npos) {
            throw X509Error(std::string(origin) + " ends inside a certificate");
        }
        const std::size_t after = stop + end.size();
        certificates.push_back(read_certificate_pem(pem.substr(start, after - start), origin));
        start = after;
    }
    if (certificates.empty()) {
        certificates.push_back(read_certificate_pem(pem, origin));  // throws, naming origin
    }
    return certificates;
}

bool key_matches_certificate(const PrivateKey& key, const Certificate& certificate) {
    Decoded decoded(certificate);
    if (decoded->keyOID != ECDSAk) {
        return false;
    }
    // The certificate's SubjectPublicKeyInfo, decoded to compare points.
    const PrivateKey public_key(wc_ecc_key_new(nullptr));
    word32 index = 0;
    if (public_key == nullptr || wc_EccPublicKeyDecode(decoded->publicKey, &index, public_key.get(),
                                                       decoded->pubKeySize) != 0) {
        return false;
    }
    return public_point(key.get()) == public_point(public_key.get());
}

bool is_certificate_authority(const Certificate& certificate) {
    return Decoded(certificate)->isCA != 0;
}

std::chrono::system_clock::time_point not_after(const Certificate& certificate) {
    Decoded decoded(certificate);
    const byte* date = nullptr;
    byte format = 0;
    int length = 0;
    std::tm time{};
    check(wc_GetDateInfo(decoded->afterDate, decoded->afterDateLen, &date, &format, &length),
          "cannot read the certificate's expiry date");
    check(wc_GetDateAsCalendarTime(date, length, format, &time),
          "cannot read the certificate's expiry date");
    return std::chrono::system_clock::from_time_t(timegm(&time));
}

std::string not_after_text(const Certificate& certificate) {
    const std::time_t when = std::chrono::system_clock::to_time_t(not_after(certificate));
    std::tm time{};
    gmtime_r(&when, &time);
    char text[32];
    const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%d", &time);
    return std::string(text, length);
}

bool has_expired(const Certificate& certificate) {
    return not_after(certificate) <= std::chrono::system_clock::now();
}

std::string subject_common_name(const Certificate& certificate) {
    Decoded decoded(certificate);
    if (decoded->subjectCN == nullptr || decoded->subjectCNLen <= 0) {
        return {};
    }
    return {decoded->subjectCN, static_cast<std::size_t>(decoded->subjectCNLen)};
}

std::string certificate_sha256(const Certificate& certificate) {
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    check(wc_Sha256Hash(certificate.der.data(), size32(certificate.der.size()), digest.data()),
          "cannot hash the certificate");
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string hex;
    for (const unsigned char byte : digest) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

}  // namespace socket_proxy
