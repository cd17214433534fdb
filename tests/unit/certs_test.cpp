// `socket-proxy certs`: its command line, the names it accepts, and the certificates the
// OpenSSL wrapper issues, verified with OpenSSL's own chain check.
#include "certs.hpp"

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

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
        "0123456789012345678901234567890123456789012345678901234567890123x"};
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

struct StoreFree {
    void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct StoreContextFree {
    void operator()(X509_STORE_CTX* context) const { X509_STORE_CTX_free(context); }
};

// OpenSSL's chain check of `leaf` against `ca` alone, for `purpose` (X509_PURPOSE_*).
bool verifies(const Certificate& leaf, const Certificate& ca, int purpose) {
    const std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca.get());
    const std::unique_ptr<X509_STORE_CTX, StoreContextFree> context(X509_STORE_CTX_new());
    X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr);
    X509_STORE_CTX_set_purpose(context.get(), purpose);
    return X509_verify_cert(context.get()) == 1;
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
    EXPECT_TRUE(verifies(server, ca, X509_PURPOSE_SSL_SERVER));
    EXPECT_FALSE(verifies(server, ca, X509_PURPOSE_SSL_CLIENT));
    EXPECT_TRUE(verifies(client, ca, X509_PURPOSE_SSL_CLIENT));
    EXPECT_FALSE(verifies(client, ca, X509_PURPOSE_SSL_SERVER));
    EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
    EXPECT_NE(X509_check_ip_asc(server.get(), "127.0.0.2", 0), 1);

    // Another CA with the same name signs nothing this CA vouches for.
    const PrivateKey other_key = generate_p256_key();
    const Certificate other =
        issue_certificate({CertificateRole::authority, "test CA", {}, std::chrono::hours(24)},
                          other_key, nullptr, other_key);
    EXPECT_FALSE(verifies(client, other, X509_PURPOSE_SSL_CLIENT));
    EXPECT_FALSE(key_matches_certificate(other_key, ca));

    // A leaf asked to outlive its CA ends with it.
    const Certificate long_lived = issue_certificate(
        {CertificateRole::client, "bob", {}, std::chrono::hours(48)}, client_key, &ca, ca_key);
    EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(long_lived.get()), X509_get0_notAfter(ca.get())),
              0);
    EXPECT_LT(ASN1_TIME_compare(X509_get0_notAfter(client.get()), X509_get0_notAfter(ca.get())), 0);

    // PEM round trip.
    const Certificate reread = read_certificate_pem(certificate_pem(client), "test");
    EXPECT_EQ(X509_cmp(reread.get(), client.get()), 0);
    const PrivateKey reread_key = read_private_key_pem(private_key_pem(client_key), "test");
    EXPECT_TRUE(key_matches_certificate(reread_key, client));
    EXPECT_THROW((void)read_certificate_pem("not PEM", "ca.pem"), X509Error);
    EXPECT_THROW((void)read_private_key_pem("not PEM", "ca-key.pem"), X509Error);
}

}  // namespace
}  // namespace socket_proxy
