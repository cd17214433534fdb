// What the proxy counts for Prometheus, and the text exposition format (version 0.0.4) it is
// served in. Pure: no clocks, no I/O; sessions hand in what happened, the listener hands in
// the gauges it read when it renders.
//
// Every label value comes from a fixed set (a method the daemon knows, a route template made
// of Docker's own path words, a status code), never from the bytes a client sent, so a hostile
// client cannot grow the series without bound; past a cap, new series are counted under
// method, route and status "other".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "route_template.hpp"

namespace socket_proxy {

struct RequestSample {
    bool allowed = false;
    std::string_view method;      // as the client sent it
    std::string_view route_path;  // normalised; empty when the target was refused unread
    int status = 0;
    double seconds = 0;  // from the request head to the answer's end (a stream's too)
    bool stream = false;
    std::uint64_t bytes_in = 0;   // request body bytes passed to the daemon
    std::uint64_t bytes_out = 0;  // response body bytes passed to the client
};

enum class RefusedConnection { connection_limit, allow_from };

// Why a connection to the TLS listener never reached its first request.
enum class TlsHandshakeFailure {
    plaintext,    // an HTTP request (or other bytes) where a TLS handshake belonged
    certificate,  // no client certificate, or one SOCKET_PROXY_TLS_CA does not verify
    protocol,     // anything else the handshake refused: a version, a suite, a broken record
    timeout,      // not done within SOCKET_PROXY_HEAD_TIMEOUT
    busy,         // max_tls_handshakes already in flight
};
inline constexpr std::size_t tls_handshake_failure_kinds = 5;

// A certificate the proxy holds (its own, a CA it trusts), for the expiry gauge. The labels
// come from files the operator gave, a few certificates each, never from a client.
struct CertificateExpiry {
    std::string certificate;     // the setting it came from: "tls_cert", "tls_ca"
    std::string subject;         // the subject's commonName, shortened
    std::string sha256;          // a prefix of the fingerprint, to tell equal names apart
    std::int64_t not_after = 0;  // Unix seconds
};

// What the listener reads at the moment it renders.
struct MetricsGauges {
    std::string_view version;
    std::size_t client_connections = 0;
    std::size_t requests_in_flight = 0;
    std::size_t open_streams = 0;
    std::size_t idle_daemon_connections = 0;
    std::uint64_t daemon_connect_errors = 0;
    std::uint64_t daemon_tls_handshakes = 0;
    std::optional<double> engine_ping_seconds;  // nullopt: the engine did not answer /_ping
    std::optional<std::uint64_t> resident_bytes;
    std::optional<double> cpu_seconds;
    std::optional<std::size_t> open_descriptors;
};

class Metrics {
  public:
    // Upper bounds of the latency histogram, in seconds; +Inf is implied.
    static constexpr std::array<double, 13> duration_buckets{
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    // Distinct label sets of the request counter before new ones are folded into "other".
    static constexpr std::size_t max_request_series = 1000;
    static constexpr std::size_t max_limited_series = 1000;

    void record(const RequestSample& sample);
    void count_refused(RefusedConnection reason);
    void count_tls_failure(TlsHandshakeFailure reason);
    // A request refused with 429 by its rule's per-client `limit` ("requests_per_second",
    // "concurrent", "streams"). Rule names come from the policy, not the client; past
    // max_limited_series the rule is counted as "other" (reloads may bring new names).
    void count_limited(std::string_view rule, std::string_view limit);

    // A request from a TLS client with a verified certificate, named as describe_certificate()
    // names it. The CA decides how many names there are; past max_tls_client_series they are
    // counted as "other".
    static constexpr std::size_t max_tls_client_series = 1000;
    void count_tls_client(std::string_view client);
    // The certificates in force, replaced whole at start and at each reload.
    void set_certificate_expiries(std::vector<CertificateExpiry> certificates);

    [[nodiscard]] std::string render(const MetricsGauges& gauges) const;

  private:
    struct Histogram {
        std::array<std::uint64_t, duration_buckets.size()> buckets{};  // not cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };
    // decision, method, route template, status
    using RequestKey = std::tuple<std::string, std::string, std::string, std::string>;

    struct Streams {
        std::uint64_t ended = 0;
        double seconds = 0;
    };
    struct Tally {
        std::map<RequestKey, std::uint64_t> requests;
        std::map<std::string, Histogram> durations;  // answers of known length, by route
        std::map<std::string, Streams> streams;      // by route template, counted when they end
        std::uint64_t bytes_to_daemon = 0;
        std::uint64_t bytes_to_client = 0;

        void add(const Tally& other);
    };
    // Each serving thread counts its requests in a shard of its own (up to this many threads;
    // more share), so that threads never wait for each other: with one mutex for all, a thread
    // that lost its core while counting stalled the other (bench/profile). render() adds the
    // shards up; the series bound holds per shard.
    static constexpr std::size_t tally_shards = 8;
    struct TallyShard {
        std::mutex mutex;
        Tally tally;
    };
    mutable std::array<TallyShard, tally_shards> tallies_;
    std::uint64_t refused_over_limit_ = 0;
    std::uint64_t refused_outsiders_ = 0;
    std::map<std::pair<std::string, std::string>, std::uint64_t> limited_;  // rule, limit
    std::map<std::string, std::uint64_t, std::less<>> tls_clients_;
    std::array<std::uint64_t, tls_handshake_failure_kinds> tls_failures_{};
    std::vector<CertificateExpiry> certificates_;
    // Sessions on every serving thread record; the metrics listener renders on the main one.
    mutable std::mutex mutex_;
};

}  // namespace socket_proxy
