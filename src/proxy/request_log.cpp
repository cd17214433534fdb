#include "request_log.hpp"

#include <algorithm>

#include "client_key.hpp"

namespace socket_proxy {
namespace http = boost::beast::http;

namespace {

using Clock = RequestLog::Clock;

long long milliseconds_between(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
}

double seconds_between(Clock::time_point start, Clock::time_point end) {
    return std::chrono::duration<double>(end - start).count();
}

std::string describe_peer(const Client& client) {
    std::string who;
    if (client.transport == Client::Transport::tcp) {
        who = client.certificate
                  ? describe_certificate(*client.certificate) + ",address=" + client.address
                  : client.address;
    } else {
        who = "unix";
        if (client.uid)
            who += ":uid=" + std::to_string(*client.uid);
        if (client.pid)
            who += ",pid=" + std::to_string(*client.pid);
    }
    return who;
}

}  // namespace

// The default listeners go unnamed, as the transport already says which one it was.
std::string describe_client(const Client& client) {
    return describe_peer(client) + listener_and_container(client);
}

RequestLog::RequestLog(const http::request<http::buffer_body, HeadFields>& request,
                       const Client& client, Metrics& metrics)
    : request_(request), client_(client), metrics_(metrics), raw_target_(request.target()) {}

void RequestLog::record(LogLevel level, const Decision& decision, int status,
                        std::uint64_t bytes_out, std::vector<LogField> extra) {
    const auto ended = Clock::now();
    if (audit_) {
        // Audit mode shows all traffic without DEBUG, and each disagreement stands out.
        const LogLevel audited =
            audit_->allowed == decision.allowed() ? LogLevel::info : LogLevel::warning;
        level = std::max(level, audited);
        extra.push_back({"audit", audit_->allowed ? "allow" : "deny"});
        extra.push_back({"audit_rule", audit_->rule});
    }
    const std::string_view route =
        decision.target ? std::string_view(decision.target->route_path) : std::string_view();
    if (client_.certificate) {
        metrics_.count_tls_client(describe_certificate(*client_.certificate));
    }
    metrics_.record({decision.allowed(), request_.method_string(), route, status,
                     seconds_between(started_, ended), stream_started_.has_value(), bytes_in_,
                     bytes_out});
    if (level == LogLevel::debug && !debug_logging()) {
        return;
    }
    std::vector<LogField> fields{
        {"client", describe_client(client_)},
        {"method", std::string(request_.method_string())},
        {"path", raw_target_},  // as the client sent it; `route` is what the policy judged
    };
    if (decision.target) {
        fields.push_back({"route", std::string(route)});
        if (decision.allowed() && decision.target->forward_target != raw_target_) {
            // Re-encoded, or pinned to a full container id: what the daemon was sent.
            fields.push_back({"forwarded", decision.target->forward_target});
        }
    }
    fields.insert(fields.end(), {{"decision", decision.allowed() ? "allow" : "deny"},
                                 {"rule", decision.rule},
                                 {"status", std::to_string(status)},
                                 {"bytes_in", std::to_string(bytes_in_)},
                                 {"bytes_out", std::to_string(bytes_out)},
                                 {"ms", std::to_string(milliseconds_between(started_, ended))}});
    if (stream_started_) {
        fields.push_back(
            {"stream_ms", std::to_string(milliseconds_between(*stream_started_, ended))});
    }
    for (auto& field : extra) {
        fields.push_back(std::move(field));
    }
    log_event(level, "request", fields);
}

void log_bad_request(const Client& client, Metrics& metrics, http::status status,
                     std::string_view why, std::string_view method, std::string_view path) {
    std::vector<LogField> fields{{"client", describe_client(client)}};
    if (!method.empty()) {
        fields.push_back({"method", std::string(method)});
        fields.push_back({"path", std::string(path)});
    }
    fields.push_back({"status", std::to_string(static_cast<int>(status))});
    fields.push_back({"error", std::string(why)});
    log_event(LogLevel::warning, "bad-request", fields);
    metrics.record({false, method, {}, static_cast<int>(status), 0, false, 0, 0});
}

}  // namespace socket_proxy
