// `socket-proxy certs`: its command line, the names it accepts, and the certificates the
// wolfCrypt wrapper issues, verified with wolfSSL's own chain and host checks (the integration
// tests check them with the openssl CLI, Go's docker CLI and dockerd).
#include "certs.hpp"

#include <gtest/gtest.h>
// wolfSSL's build options first: the layout of its structures depends on them.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>

#include <memory>
#include <string>
#include <vector>

#include "x509.hpp"

namespace socket_proxy {
namespace {

CertsOptions parse(std::vector<std::string_view> args) {
    return parse_certs_arguments(args);
}

TEST(CertsTest, ParsesDirectoryHostsClientsAndForce) {
    const CertsOptions options =
        parse({"out", "--host", "docker.example.com, 127.0.0.1", "--host=[::1]", "--client",
               "alice,ci", "--client=alice", "--force"});
    EXPECT_EQ(options.directory, "out");
    EXPECT_EQ(options.hosts, (std::vector<std::string>{"docker.example.com", "127.0.0.1", "::1"}));
    EXPECT_EQ(options.clients, (std::vector<std::string>{"alice", "ci"}));
    EXPECT_TRUE(options.force);
    EXPECT_FALSE(options.help);
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"out", "-h"}).help);
}

TEST(CertsTest, UsageErrorsNameWhatToChange) {
    const struct {
        std::vector<std::string_view> args;
        std::string_view fragment;
    } rows[] = {
        {{}, "name the directory"},
        {{"out", "--client", "alice"}, "--host NAME"},
        {{"out", "--host", "localhost"}, "--client NAME"},
        {{"out", "--host"}, "--host needs a value"},
        {{"out", "--host", "--client", "alice"}, "--host needs a value"},
        {{"out", "--host", "a b", "--client", "alice"}, "not a DNS name or an IP address"},
        {{"out", "--host", "-a.example", "--client", "alice"}, "--host needs a value"},
        {{"out", "--host=-a.example", "--client", "alice"}, "not a DNS name"},
        {{"out", "--host", "[docker]", "--client", "alice"}, "brackets hold an IPv6 address"},
        {{"out", "--host", "10.0.0.256", "--client", "alice"}, "not a DNS name"},
        {{"out", "--host", "a,", "--client", "alice"}, "empty name"},
        {{"out", "--host", "a", "--client", ".."}, "\"..\": a client name"},
        {{"out", "--host", "a", "--client", "x/y"}, "\"x/y\": a client name"},
        {{"out", "--host", "a", "--client", std::string_view("a\0b", 3)}, "a client name"},
        {{"out", "--host", "a", "--client", "b", "--forced"}, "unknown flag \"--forced\""},
        {{"out", "more", "--host", "a", "--client", "b"}, "unexpected argument \"more\""},
    };
    for (const auto& row : rows) {
        std::string joined;
        for (const std::string_view arg : row.args) {
            joined += std::string(arg) + " ";
        }
        SCOPED_TRACE(joined);
        try {
            (void)parse(row.args);
            ADD_FAILURE() << "accepted";
        } catch (const CertsUsageError& error) {
            EXPECT_NE(std::string(error.what()).find(row.fragment), std::string::npos)
                << error.what();
        }
    }
}

TEST(CertsTest, ClientNamesAreSafePathComponents) {
    for (const std::string_view name : {"alice", "ci-runner_2", "a.b", "A9", "x-"}) {
        EXPECT_TRUE(is_safe_client_name(name)) << name;
    }
    const std::string_view unsafe[] = {
        "",
        ".",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "a b",
        "é",
        std::string_view("a\0", 2),
        "0123456789012345678901234567890123456789012345678901234567890123"};
    for (const std::string_view name : unsafe) {
        EXPECT_FALSE(is_safe_client_name(name)) << name;
    }
    EXPECT_TRUE(is_safe_client_name("-leading-hyphen"));  // a path component, not a flag here
}

TEST(CertsTest, DnsNamesAndAddresses) {
    for (const std::string_view name :
         {"localhost", "docker.example.com", "a-b.c1", "xn--bcher-kva.ch"}) {
        EXPECT_TRUE(is_dns_name(name)) << name;
    }
    for (const std::string_view name : {"", "a..b", ".a", "a.", "-a", "a-", "a_b", "*.example.com",
                                        "1.2.3.4", "300.1.1.1", "a b"}) {
        EXPECT_FALSE(is_dns_name(name)) << name;
    }
    for (const std::string_view address : {"127.0.0.1", "::1", "fe80::1", "2001:db8::42"}) {
        EXPECT_TRUE(is_ip_address(address)) << address;
    }
    for (const std::string_view address : {"[::1]", "1.2.3", "localhost", "::g", ""}) {
        EXPECT_FALSE(is_ip_address(address)) << address;
    }
}

struct CertManagerFree {
    void operator()(WOLFSSL_CERT_MANAGER* manager) const { wolfSSL_CertManagerFree(manager); }
};
struct X509Free {
    void operator()(WOLFSSL_X509* certificate) const { wolfSSL_X509_free(certificate); }
};

// wolfSSL's chain check of `leaf` against `ca` alone.
bool chains_to(const Certificate& leaf, const Certificate& ca) {
    const std::unique_ptr<WOLFSSL_CERT_MANAGER, CertManagerFree> manager(wolfSSL_CertManagerNew());
    if (wolfSSL_CertManagerLoadCABuffer(manager.get(), ca.der.data(),
                                        static_cast<long>(ca.der.size()),
                                        WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        return false;
    }
    return wolfSSL_CertManagerVerifyBuffer(manager.get(), leaf.der.data(),
                                           static_cast<long>(leaf.der.size()),
                                           WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}

// The extended key usage bits (EXTKEYUSE_SERVER_AUTH, EXTKEYUSE_CLIENT_AUTH).
int extended_key_usage(const Certificate& certificate) {
    DecodedCert decoded;
    wc_InitDecodedCert(&decoded, certificate.der.data(),
                       static_cast<word32>(certificate.der.size()), nullptr);
    const int parsed = wc_ParseCert(&decoded, CERT_TYPE, NO_VERIFY, nullptr);
    const int usage = parsed == 0 ? decoded.extExtKeyUsage : -1;
    wc_FreeDecodedCert(&decoded);
    return usage;
}

bool verifies(const Certificate& leaf, const Certificate& ca, int purpose) {
    const int usage = extended_key_usage(leaf);
    return chains_to(leaf, ca) && usage >= 0 && (usage & purpose) != 0;
}

std::unique_ptr<WOLFSSL_X509, X509Free> parsed(const Certificate& certificate) {
    return std::unique_ptr<WOLFSSL_X509, X509Free>(wolfSSL_X509_d2i(
        nullptr, certificate.der.data(), static_cast<int>(certificate.der.size())));
}

TEST(CertsTest, IssuedCertificatesChainToTheirCaForTheirPurposeOnly) {
    const PrivateKey ca_key = generate_p256_key();
    const Certificate ca =
        issue_certificate({CertificateRole::authority, "test CA", {}, std::chrono::hours(24)},
                          ca_key, nullptr, ca_key);
    EXPECT_TRUE(is_certificate_authority(ca));
    EXPECT_TRUE(key_matches_certificate(ca_key, ca));
    EXPECT_FALSE(has_expired(ca));

    const PrivateKey server_key = generate_p256_key();
    const Certificate server = issue_certificate({CertificateRole::server,
                                                  "localhost",
                                                  {"localhost", "127.0.0.1", "::1"},
                                                  std::chrono::hours(24)},
                                                 server_key, &ca, ca_key);
    const PrivateKey client_key = generate_p256_key();
    const Certificate client = issue_certificate(
        {CertificateRole::client, "alice", {}, std::chrono::hours(12)}, client_key, &ca, ca_key);

    EXPECT_FALSE(is_certificate_authority(server));
    EXPECT_TRUE(verifies(server, ca, EXTKEYUSE_SERVER_AUTH));
    EXPECT_FALSE(verifies(server, ca, EXTKEYUSE_CLIENT_AUTH));
    EXPECT_TRUE(verifies(client, ca, EXTKEYUSE_CLIENT_AUTH));
    EXPECT_FALSE(verifies(client, ca, EXTKEYUSE_SERVER_AUTH));
    const auto server_x509 = parsed(server);
    ASSERT_NE(server_x509, nullptr);
    EXPECT_EQ(wolfSSL_X509_check_host(server_x509.get(), "localhost", 9, 0, nullptr),
              WOLFSSL_SUCCESS);
    EXPECT_NE(wolfSSL_X509_check_host(server_x509.get(), "otherhost", 9, 0, nullptr),
              WOLFSSL_SUCCESS);
    EXPECT_EQ(wolfSSL_X509_check_ip_asc(server_x509.get(), "127.0.0.1", 0), WOLFSSL_SUCCESS);
    // wolfSSL 5.5.4 compares an IPv6 address as text, written out in full: a client checking
    // "::1" has to pass it in this form.
    EXPECT_EQ(
        wolfSSL_X509_check_ip_asc(server_x509.get(), "0000:0000:0000:0000:0000:0000:0000:0001", 0),
        WOLFSSL_SUCCESS);
    EXPECT_NE(wolfSSL_X509_check_ip_asc(server_x509.get(), "127.0.0.2", 0), WOLFSSL_SUCCESS);

    // Another CA with the same name signs nothing this CA vouches for.
    const PrivateKey other_key = generate_p256_key();
    const Certificate other =
        issue_certificate({CertificateRole::authority, "test CA", {}, std::chrono::hours(24)},
                          other_key, nullptr, other_key);
    EXPECT_FALSE(verifies(client, other, EXTKEYUSE_CLIENT_AUTH));
    EXPECT_FALSE(key_matches_certificate(other_key, ca));

    // A leaf asked to outlive its CA ends with it.
    const Certificate long_lived = issue_certificate(
        {CertificateRole::client, "bob", {}, std::chrono::hours(48)}, client_key, &ca, ca_key);
    EXPECT_EQ(not_after(long_lived), not_after(ca));
    EXPECT_LT(not_after(client), not_after(ca));
    EXPECT_GT(not_after(client), std::chrono::system_clock::now() + std::chrono::hours(11));

    // PEM round trip.
    const Certificate reread = read_certificate_pem(certificate_pem(client), "test");
    EXPECT_EQ(reread.der, client.der);
    const PrivateKey reread_key = read_private_key_pem(private_key_pem(client_key), "test");
    EXPECT_TRUE(key_matches_certificate(reread_key, client));
    EXPECT_THROW((void)read_certificate_pem("not PEM", "ca.pem"), X509Error);
    EXPECT_THROW((void)read_private_key_pem("not PEM", "ca-key.pem"), X509Error);
    EXPECT_THROW((void)read_private_key_pem(certificate_pem(client), "ca-key.pem"), X509Error);
    // A common name longer than wolfCrypt keeps is refused, not cut.
    EXPECT_THROW((void)issue_certificate(
                     {CertificateRole::client, std::string(64, 'a'), {}, std::chrono::hours(1)},
                     client_key, &ca, ca_key),
                 X509Error);
}

}  // namespace
}  // namespace socket_proxy
