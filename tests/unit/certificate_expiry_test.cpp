// When a certificate counts as expiring, the gauge's labels, and the notAfter read from the
// certificates the wolfCrypt wrapper issues. The clock is an argument: nothing here waits.
#include "certificate_expiry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "x509.hpp"

namespace socket_proxy {
namespace {

using namespace std::chrono_literals;

const SystemTime now = std::chrono::sys_days{std::chrono::year{2030} / 6 / 15} + 12h;

TEST(CertificateExpiryTest, DaysLeftAndState) {
    const struct {
        std::chrono::system_clock::duration until_expiry;
        long days;
        ExpiryState state;
    } rows[] = {
        {400 * 24h, 400, ExpiryState::valid},      {14 * 24h + 1s, 14, ExpiryState::valid},
        {14 * 24h, 14, ExpiryState::expires_soon}, {3 * 24h - 1s, 2, ExpiryState::expires_soon},
        {1s, 0, ExpiryState::expires_soon},        {0s, 0, ExpiryState::expired},
        {-1s, -1, ExpiryState::expired},           {-3 * 24h, -3, ExpiryState::expired},
    };
    for (const auto& row : rows) {
        const SystemTime not_after = now + row.until_expiry;
        EXPECT_EQ(days_left(not_after, now), row.days) << row.until_expiry.count();
        EXPECT_EQ(expiry_state(not_after, now), row.state) << row.until_expiry.count();
    }
}

TEST(CertificateExpiryTest, GaugeLabelsAreBounded) {
    const SystemTime not_after = std::chrono::sys_days{std::chrono::year{2031} / 1 / 1};
    const std::string fingerprint(64, 'a');
    const CertificateExpiry named =
        expiry_sample({"tls_ca", "/certs/ca.pem", "socket-proxy CA", fingerprint, not_after});
    EXPECT_EQ(named.certificate, "tls_ca");
    EXPECT_EQ(named.subject, "socket-proxy CA");
    EXPECT_EQ(named.sha256, std::string(16, 'a'));
    EXPECT_EQ(named.not_after, 1924992000);

    EXPECT_EQ(expiry_sample({"tls_cert", "/c.pem", "", fingerprint, not_after}).subject, "-");
    EXPECT_EQ(expiry_sample({"tls_cert", "/c.pem", std::string(300, 'x'), fingerprint, not_after})
                  .subject.size(),
              64u);
    // "é" is two bytes: a cut through it would leave a label that is not UTF-8.
    const std::string accented = std::string(63, 'x') + "\xc3\xa9";
    EXPECT_EQ(expiry_sample({"tls_cert", "/c.pem", accented, fingerprint, not_after}).subject,
              std::string(63, 'x'));
}

TEST(CertificateExpiryTest, NotAfterNameAndFingerprintOfEachCertificateInABundle) {
    const PrivateKey ca_key = generate_p256_key();
    const Certificate ca = issue_certificate(
        {CertificateRole::authority, "expiry CA", {}, std::chrono::hours(24 * 30)}, ca_key, nullptr,
        ca_key);
    const PrivateKey client_key = generate_p256_key();
    const Certificate client =
        issue_certificate({CertificateRole::client, "alice", {}, std::chrono::hours(24 * 3)},
                          client_key, &ca, ca_key);
    const std::string bundle = certificate_pem(client) + "\n" + certificate_pem(ca);

    const std::vector<Certificate> read = read_certificates_pem(bundle, "bundle.pem");
    ASSERT_EQ(read.size(), 2u);
    EXPECT_EQ(read[0].der, client.der);
    EXPECT_EQ(read[1].der, ca.der);
    EXPECT_EQ(subject_common_name(read[0]), "alice");
    EXPECT_EQ(subject_common_name(read[1]), "expiry CA");
    EXPECT_EQ(certificate_sha256(read[0]).size(), 64u);
    EXPECT_NE(certificate_sha256(read[0]), certificate_sha256(read[1]));

    const SystemTime issued = std::chrono::system_clock::now();
    EXPECT_EQ(expiry_state(not_after(read[0]), issued), ExpiryState::expires_soon);
    EXPECT_EQ(expiry_state(not_after(read[1]), issued), ExpiryState::valid);
    EXPECT_EQ(expiry_state(not_after(read[0]), issued + 3 * 24h + 1h), ExpiryState::expired);
    EXPECT_LE(days_left(not_after(read[0]), issued), 3);
    EXPECT_GE(days_left(not_after(read[0]), issued), 2);
}

TEST(CertificateExpiryTest, BundlesThatAreNotCertificatesNameTheirFile) {
    for (const std::string& text : {std::string(""), std::string("not pem"),
                                    std::string("-----BEGIN CERTIFICATE-----\nMIIB\n")}) {
        try {
            (void)read_certificates_pem(text, "/certs/ca.pem");
            ADD_FAILURE() << "read: " << text;
        } catch (const X509Error& error) {
            EXPECT_NE(std::string(error.what()).find("/certs/ca.pem"), std::string::npos)
                << error.what();
        }
    }
}

}  // namespace
}  // namespace socket_proxy
