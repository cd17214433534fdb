// What one request leaves behind: its log line and its sample in the metrics. Born with the
// request's exchange, so every fact it reports (the target as sent, the body bytes passed on,
// when a stream began, the audit verdict) belongs to that request alone.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forwarded_head.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "policy.hpp"

namespace socket_proxy {

// "unix:uid=1000,pid=42"; a TLS client with a verified certificate
// "tls:cn=NAME,address=127.0.0.1:53122" (tls:sha256=HEX without a common name); otherwise the TCP
// client's address; then ",listener=NAME" for a named listener's client, and ",container=NAME"
// once the engine named the client's container. For every line about a client.
[[nodiscard]] std::string describe_client(const Client& client);

// Audit mode (SOCKET_PROXY_MODE=audit): what the candidate policy decided.
struct AuditVerdict {
    bool allowed = false;
    std::string rule;
};

class RequestLog {
  public:
    using Clock = std::chrono::steady_clock;

    // From here the request's time is counted. `request` is read again when the line is
    // written: its method, as the client sent it.
    RequestLog(
        const boost::beast::http::request<boost::beast::http::buffer_body, HeadFields>& request,
        const Client& client, Metrics& metrics);

    void audited(AuditVerdict verdict) { audit_ = std::move(verdict); }
    void body_bytes_sent(std::uint64_t bytes) { bytes_in_ = bytes; }  // to the daemon
    void stream_started() { stream_started_ = Clock::now(); }         // its head went out

    // Every answered request ends here: counted for the metrics, then logged at `level`.
    void record(LogLevel level, const Decision& decision, int status, std::uint64_t bytes_out,
                std::vector<LogField> extra = {});

  private:
    const boost::beast::http::request<boost::beast::http::buffer_body, HeadFields>& request_;
    const Client& client_;
    Metrics& metrics_;
    Clock::time_point started_ = Clock::now();
    std::string raw_target_;                           // as the client sent it
    std::uint64_t bytes_in_ = 0;                       // request body bytes sent to the daemon
    std::optional<Clock::time_point> stream_started_;  // set once a stream's head went out
    std::optional<AuditVerdict> audit_;
};

// A request refused before it could be decided (a head the proxy cannot read, or one it could
// read two ways): its bad-request line and a sample in the metrics. `method` and `path` are
// empty when the head was refused before it was parsed.
void log_bad_request(const Client& client, Metrics& metrics, boost::beast::http::status status,
                     std::string_view why, std::string_view method, std::string_view path);

}  // namespace socket_proxy
