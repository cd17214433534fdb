#include "certificate_expiry.hpp"

#include <ctime>
#include <fstream>
#include <iterator>

#include "log.hpp"

namespace socket_proxy {
namespace {

// A commonName can be 64 characters (RFC 5280 ub-common-name); a longer one in a label or a
// log line tells an operator nothing more.
constexpr std::size_t max_subject_label = 64;
constexpr std::size_t fingerprint_label_digits = 16;

// Shortened at a character boundary: a label value must stay UTF-8.
std::string bounded_subject(const std::string& subject) {
    if (subject.size() <= max_subject_label) {
        return subject;
    }
    std::size_t length = max_subject_label;
    while (length > 0 && (static_cast<unsigned char>(subject[length]) & 0xc0) == 0x80) {
        --length;
    }
    return subject.substr(0, length);
}

std::string utc_time_text(SystemTime when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm time{};
    gmtime_r(&seconds, &time);
    char text[32];
    const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &time);
    return std::string(text, length);
}

}  // namespace

long days_left(SystemTime not_after, SystemTime now) {
    return static_cast<long>(std::chrono::floor<std::chrono::days>(not_after - now).count());
}

ExpiryState expiry_state(SystemTime not_after, SystemTime now) {
    if (not_after <= now) {
        return ExpiryState::expired;
    }
    if (not_after - now <= std::chrono::days(certificate_warning_days)) {
        return ExpiryState::expires_soon;
    }
    return ExpiryState::valid;
}

CertificateExpiry expiry_sample(const HeldCertificate& held) {
    std::string subject = bounded_subject(held.subject);
    if (subject.empty()) {
        subject = "-";
    }
    return {held.label, std::move(subject), held.sha256.substr(0, fingerprint_label_digits),
            std::chrono::duration_cast<std::chrono::seconds>(held.not_after.time_since_epoch())
                .count()};
}

std::vector<HeldCertificate> read_held_certificates(const std::vector<CertificateFile>& files) {
    std::vector<HeldCertificate> held;
    for (const CertificateFile& file : files) {
        std::ifstream stream(file.path, std::ios::binary);
        const std::string text{std::istreambuf_iterator<char>(stream),
                               std::istreambuf_iterator<char>()};
        try {
            for (const Certificate& certificate : read_certificates_pem(text, file.path)) {
                held.push_back({file.label, file.path, subject_common_name(certificate),
                                certificate_sha256(certificate), not_after(certificate)});
            }
        } catch (const X509Error& error) {
            log_event(LogLevel::warning, "certificate-unreadable",
                      {{"certificate", file.label},
                       {"file", file.path},
                       {"error", error.what()},
                       {"detail", "its expiry is not watched"}});
        }
    }
    return held;
}

void log_certificate_expiry(const std::vector<HeldCertificate>& held, SystemTime now) {
    for (const HeldCertificate& certificate : held) {
        const ExpiryState state = expiry_state(certificate.not_after, now);
        if (state == ExpiryState::valid) {
            continue;
        }
        const bool expired = state == ExpiryState::expired;
        log_event(expired ? LogLevel::error : LogLevel::warning,
                  expired ? "certificate-expired" : "certificate-expires-soon",
                  {{"certificate", certificate.label},
                   {"file", certificate.path},
                   {"subject", bounded_subject(certificate.subject)},
                   {"not_after", utc_time_text(certificate.not_after)},
                   {"days_left", std::to_string(days_left(certificate.not_after, now))},
                   {"detail", expired ? "renew it and send SIGHUP: TLS peers refuse it now"
                                      : "renew it and send SIGHUP before it expires"}});
    }
}

std::vector<HeldCertificate> watch_certificates(const std::vector<CertificateFile>& files,
                                                Metrics& metrics, SystemTime now) {
    std::vector<HeldCertificate> held = read_held_certificates(files);
    std::vector<CertificateExpiry> samples;
    samples.reserve(held.size());
    for (const HeldCertificate& certificate : held) {
        samples.push_back(expiry_sample(certificate));
    }
    metrics.set_certificate_expiries(std::move(samples));
    log_certificate_expiry(held, now);
    return held;
}

}  // namespace socket_proxy
