// When the certificates the proxy holds expire: a gauge per certificate, and a log line when
// one ends within certificate_warning_days or has ended, at start, at each reload and once a
// day. A certificate file is a label (the setting it came from) and a path; whoever adds a
// setting that names certificates adds one CertificateFile to the list the server hands in.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "metrics.hpp"
#include "x509.hpp"

namespace socket_proxy {

using SystemTime = std::chrono::system_clock::time_point;

inline constexpr int certificate_warning_days = 14;
// How often a running proxy looks at the clock against the certificates in force.
inline constexpr std::chrono::hours certificate_check_interval{24};

struct CertificateFile {
    std::string label;  // the setting, as a metric label: "tls_cert", "tls_ca"
    std::string path;
};

// One certificate of a file: a PEM chain or bundle holds several.
struct HeldCertificate {
    std::string label;
    std::string path;
    std::string subject;  // commonName as written
    std::string sha256;
    SystemTime not_after;
};

enum class ExpiryState { valid, expires_soon, expired };

// Whole days from `now` to not_after, rounded down: 0 on its last day, negative once past.
[[nodiscard]] long days_left(SystemTime not_after, SystemTime now);
[[nodiscard]] ExpiryState expiry_state(SystemTime not_after, SystemTime now);

// The gauge's labels for one certificate: a bounded subject ("-" when it has no commonName)
// and 16 hex digits of the fingerprint.
[[nodiscard]] CertificateExpiry expiry_sample(const HeldCertificate& held);

// The certificates of each file, in order. A file that cannot be read or parsed is skipped
// with a warning: the TLS context that uses it reports it as an error of its own.
[[nodiscard]] std::vector<HeldCertificate> read_held_certificates(
    const std::vector<CertificateFile>& files);

// certificate-expires-soon and certificate-expired lines for those that need one.
void log_certificate_expiry(const std::vector<HeldCertificate>& held, SystemTime now);

// What the server does at start and at each reload: read the files, set the gauge, log.
std::vector<HeldCertificate> watch_certificates(const std::vector<CertificateFile>& files,
                                                Metrics& metrics, SystemTime now);

}  // namespace socket_proxy
