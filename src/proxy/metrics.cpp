#include "metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <initializer_list>

#include "route_template.hpp"

namespace socket_proxy {
namespace {

void append_number(std::string& out, std::uint64_t value) {
    out += std::to_string(value);
}

// snprintf rather than std::to_chars: the latter's floating-point tables cost the static
// binary 100 KB. Nine digits are more than any duration or byte sum here needs.
void append_number(std::string& out, double value) {
    std::array<char, 32> text{};
    const int length = std::snprintf(text.data(), text.size(), "%.9g", value);
    out.append(text.data(), length > 0 ? static_cast<std::size_t>(length) : 0);
}

// Label values outside the fixed sets (the version) are escaped as the format demands.
std::string escape_label(std::string_view value) {
    std::string escaped;
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            escaped += '\\';
            escaped += c;
        } else if (c == '\n') {
            escaped += "\\n";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

void describe(std::string& out, std::string_view name, std::string_view type,
              std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

template <class Number>
void sample(std::string& out, std::string_view name, std::string_view labels, Number value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    append_number(out, value);
    out += '\n';
}

template <class Number>
void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            Number value) {
    describe(out, name, type, help);
    sample(out, name, {}, value);
}

std::string route_label(const std::string& route) {
    return "route=\"" + route + "\"";
}

// One route's request durations, as Prometheus buckets: each counts the answers at or below
// its bound.
template <class Histogram>
void render_duration_histogram(std::string& out, const std::string& labels,
                               const Histogram& histogram) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < Metrics::duration_buckets.size(); ++i) {
        cumulative += histogram.buckets[i];
        std::string bound;
        append_number(bound, Metrics::duration_buckets[i]);
        sample(out, "socket_proxy_request_duration_seconds_bucket",
               labels + ",le=\"" + bound + "\"", cumulative);
    }
    sample(out, "socket_proxy_request_duration_seconds_bucket", labels + ",le=\"+Inf\"",
           histogram.count);
    sample(out, "socket_proxy_request_duration_seconds_sum", labels, histogram.sum);
    sample(out, "socket_proxy_request_duration_seconds_count", labels, histogram.count);
}

// What the listener read for this scrape: connections, the pool, the engine, the process.
void render_gauges(std::string& out, const MetricsGauges& gauges) {
    single(out, "socket_proxy_client_connections", "gauge", "Open client connections.",
           std::uint64_t{gauges.client_connections});
    single(out, "socket_proxy_requests_in_flight", "gauge",
           "Forwarded requests whose answer has not ended, streams included.",
           std::uint64_t{gauges.requests_in_flight});
    single(out, "socket_proxy_open_streams", "gauge",
           "Answers of unknown length and upgraded connections being relayed.",
           std::uint64_t{gauges.open_streams});
    single(out, "socket_proxy_daemon_idle_connections", "gauge",
           "Idle keep-alive connections to the daemon in the pool.",
           std::uint64_t{gauges.idle_daemon_connections});
    single(out, "socket_proxy_daemon_connect_errors_total", "counter",
           "Failed connects to the daemon's socket.", gauges.daemon_connect_errors);
    single(out, "socket_proxy_daemon_tls_handshakes_total", "counter",
           "Completed TLS handshakes with a tcp:// engine (pooled connections need none).",
           gauges.daemon_tls_handshakes);
    single(out, "socket_proxy_engine_up", "gauge",
           "1 when the engine answered HEAD /_ping during this scrape, else 0.",
           std::uint64_t{gauges.engine_ping_seconds ? 1u : 0u});
    if (gauges.engine_ping_seconds) {
        single(out, "socket_proxy_engine_ping_seconds", "gauge", "How long that HEAD /_ping took.",
               *gauges.engine_ping_seconds);
    }
    if (gauges.resident_bytes) {
        single(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               *gauges.resident_bytes);
    }
    if (gauges.cpu_seconds) {
        single(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.", *gauges.cpu_seconds);
    }
    if (gauges.open_descriptors) {
        single(out, "process_open_fds", "gauge", "Number of open file descriptors.",
               std::uint64_t{*gauges.open_descriptors});
    }
}

}  // namespace

namespace {

// This thread's tally shard: threads take the shards in turn as they first count.
std::size_t this_threads_shard(std::size_t shards) {
    static std::atomic<std::size_t> next_shard = 0;
    thread_local const std::size_t shard = next_shard.fetch_add(1) % shards;
    return shard;
}

}  // namespace

void Metrics::Tally::add(const Tally& other) {
    for (const auto& [key, count] : other.requests) {
        requests[key] += count;
    }
    for (const auto& [route, histogram] : other.durations) {
        Histogram& sum = durations[route];
        for (std::size_t i = 0; i < sum.buckets.size(); ++i) {
            sum.buckets[i] += histogram.buckets[i];
        }
        sum.count += histogram.count;
        sum.sum += histogram.sum;
    }
    for (const auto& [route, ended] : other.streams) {
        Streams& sum = streams[route];
        sum.ended += ended.ended;
        sum.seconds += ended.seconds;
    }
    bytes_to_daemon += other.bytes_to_daemon;
    bytes_to_client += other.bytes_to_client;
}

void Metrics::record(const RequestSample& request) {
    RequestKey key{request.allowed ? "allow" : "deny", std::string(method_label(request.method)),
                   route_template(request.route_path), std::to_string(request.status)};
    TallyShard& shard = tallies_[this_threads_shard(tally_shards)];
    const std::lock_guard lock(shard.mutex);
    Tally& tally = shard.tally;
    auto counted = tally.requests.find(key);
    if (counted == tally.requests.end()) {
        if (tally.requests.size() >= max_request_series) {
            key = {std::get<0>(key), "other", "other", "other"};
        }
        counted = tally.requests.try_emplace(std::move(key)).first;
    }
    ++counted->second;
    const std::string& route = std::get<2>(counted->first);
    tally.bytes_to_daemon += request.bytes_in;
    tally.bytes_to_client += request.bytes_out;
    if (request.stream) {
        Streams& streams = tally.streams[route];
        ++streams.ended;
        streams.seconds += request.seconds;
        return;
    }
    Histogram& histogram = tally.durations[route];
    const auto bucket =
        std::lower_bound(duration_buckets.begin(), duration_buckets.end(), request.seconds);
    if (bucket != duration_buckets.end()) {
        ++histogram.buckets[static_cast<std::size_t>(bucket - duration_buckets.begin())];
    }
    ++histogram.count;
    histogram.sum += request.seconds;
}

void Metrics::count_refused(RefusedConnection reason) {
    const std::lock_guard lock(mutex_);
    ++(reason == RefusedConnection::connection_limit ? refused_over_limit_ : refused_outsiders_);
}

void Metrics::count_tls_failure(TlsHandshakeFailure reason) {
    const std::lock_guard lock(mutex_);
    ++tls_failures_.at(static_cast<std::size_t>(reason));
}

void Metrics::count_limited(std::string_view rule, std::string_view limit) {
    const std::lock_guard lock(mutex_);
    std::pair<std::string, std::string> key{std::string(rule), std::string(limit)};
    if (!limited_.contains(key) && limited_.size() >= max_limited_series) {
        key.first = "other";
    }
    ++limited_[key];
}

void Metrics::count_tls_client(std::string_view client) {
    const std::lock_guard lock(mutex_);
    if (const auto found = tls_clients_.find(client); found != tls_clients_.end()) {
        ++found->second;
        return;
    }
    ++tls_clients_[tls_clients_.size() >= max_tls_client_series ? std::string("other")
                                                                : std::string(client)];
}

void Metrics::set_certificate_expiries(std::vector<CertificateExpiry> certificates) {
    const std::lock_guard lock(mutex_);
    certificates_ = std::move(certificates);
}

std::string Metrics::render(const MetricsGauges& gauges) const {
    Tally tally;
    for (TallyShard& shard : tallies_) {
        const std::lock_guard lock(shard.mutex);
        tally.add(shard.tally);
    }
    const std::lock_guard lock(mutex_);
    std::string out;
    describe(out, "socket_proxy_build_info", "gauge", "The running socket-proxy's version.");
    sample(out, "socket_proxy_build_info", "version=\"" + escape_label(gauges.version) + "\"",
           std::uint64_t{1});

    describe(out, "socket_proxy_requests_total", "counter",
             "Requests answered (streams when they end), by decision, method, route template "
             "and status.");
    for (const auto& [key, count] : tally.requests) {
        const auto& [decision, method, route, status] = key;
        sample(out, "socket_proxy_requests_total",
               "decision=\"" + decision + "\",method=\"" + method + "\"," + route_label(route) +
                   ",status=\"" + status + "\"",
               count);
    }

    describe(out, "socket_proxy_request_duration_seconds", "histogram",
             "Time from the request head to the end of the answer, for answers that are not "
             "streams.");
    for (const auto& [route, histogram] : tally.durations) {
        render_duration_histogram(out, route_label(route), histogram);
    }

    describe(out, "socket_proxy_streams_ended_total", "counter",
             "Streams (events, logs -f, stats, attach) that have ended, by route template.");
    for (const auto& [route, streams] : tally.streams) {
        sample(out, "socket_proxy_streams_ended_total", route_label(route), streams.ended);
    }
    describe(out, "socket_proxy_stream_seconds_total", "counter",
             "How long the ended streams were open, in all, by route template.");
    for (const auto& [route, streams] : tally.streams) {
        sample(out, "socket_proxy_stream_seconds_total", route_label(route), streams.seconds);
    }

    describe(out, "socket_proxy_relayed_bytes_total", "counter",
             "Body bytes relayed: request bodies to the daemon, answers to clients.");
    sample(out, "socket_proxy_relayed_bytes_total", "direction=\"to_daemon\"",
           tally.bytes_to_daemon);
    sample(out, "socket_proxy_relayed_bytes_total", "direction=\"to_client\"",
           tally.bytes_to_client);

    describe(out, "socket_proxy_refused_connections_total", "counter",
             "Client connections refused before any request was read.");
    sample(out, "socket_proxy_refused_connections_total", "reason=\"connection_limit\"",
           refused_over_limit_);
    sample(out, "socket_proxy_refused_connections_total", "reason=\"allow_from\"",
           refused_outsiders_);

    describe(out, "socket_proxy_limited_requests_total", "counter",
             "Requests refused with 429 by a rule's per-client limits, by rule and limit.");
    for (const auto& [key, count] : limited_) {
        sample(out, "socket_proxy_limited_requests_total",
               "rule=\"" + escape_label(key.first) + "\",limit=\"" + key.second + "\"", count);
    }

    describe(out, "socket_proxy_tls_client_requests_total", "counter",
             "Requests from TLS clients, by their verified certificate (tls:cn=NAME).");
    for (const auto& [client, count] : tls_clients_) {
        sample(out, "socket_proxy_tls_client_requests_total",
               "client=\"" + escape_label(client) + "\"", count);
    }

    describe(out, "socket_proxy_tls_handshake_failures_total", "counter",
             "Connections to the TLS listener closed before their first request.");
    static constexpr std::array<std::string_view, tls_handshake_failure_kinds> tls_reasons{
        "plaintext", "certificate", "protocol", "timeout", "busy"};
    for (std::size_t index = 0; index < tls_reasons.size(); ++index) {
        sample(out, "socket_proxy_tls_handshake_failures_total",
               "reason=\"" + std::string(tls_reasons[index]) + "\"", tls_failures_[index]);
    }

    if (!certificates_.empty()) {
        describe(out, "socket_proxy_certificate_expiry_timestamp_seconds", "gauge",
                 "When a certificate the proxy holds expires (notAfter), in Unix seconds, by the "
                 "setting it came from, its subject's commonName and fingerprint prefix.");
        for (const CertificateExpiry& held : certificates_) {
            sample(out, "socket_proxy_certificate_expiry_timestamp_seconds",
                   "certificate=\"" + escape_label(held.certificate) + "\",subject=\"" +
                       escape_label(held.subject) + "\",sha256=\"" + escape_label(held.sha256) +
                       "\"",
                   static_cast<std::uint64_t>(std::max<std::int64_t>(held.not_after, 0)));
        }
    }

    render_gauges(out, gauges);
    return out;
}

}  // namespace socket_proxy
