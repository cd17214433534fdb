#include "metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

namespace socket_proxy {
namespace {

// The samples of a rendered page: "name{labels}" -> value.
std::map<std::string, std::string> samples_of(const std::string& page) {
    std::map<std::string, std::string> samples;
    std::istringstream lines(page);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const std::size_t space = line.rfind(' ');
        samples[line.substr(0, space)] = line.substr(space + 1);
    }
    return samples;
}

MetricsGauges gauges_of_version(std::string_view version) {
    MetricsGauges gauges;
    gauges.version = version;
    return gauges;
}

TEST(RouteTemplateTest, NamesAndIdsBecomeOnePlaceholder) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"/_ping", "/_ping"},
        {"/", "/"},
        {"/containers/json", "/containers/json"},
        {"/containers/abc123/json", "/containers/{id}/json"},
        {"/containers/traefik/logs", "/containers/{id}/logs"},
        {"/containers/abc/attach/ws", "/containers/{id}/attach/ws"},
        {"/images/library/nginx/json", "/images/{id}/json"},
        {"/images/registry:5000/a/b/c/push", "/images/{id}/push"},
        {"/volumes/data", "/volumes/{id}"},
        {"/exec/abc/start", "/exec/{id}/start"},
        {"/plugins/vieux/sshfs:latest/enable", "/plugins/{id}/enable"},
        {"/distribution/a/b/json", "/distribution/{id}/json"},
        {"/swarm/unlockkey", "/swarm/unlockkey"},
        {"/system/df", "/system/df"},
        {"/containers/json/", "/containers/json/{id}"},
        {"/containers/abc/", "/containers/{id}"},
        // Not the API: nothing of it becomes a label.
        {"/etc/passwd", "other"},
        {"/containers/a/json/b/json/c/json", "other"},
        {"", "invalid"},
    };
    for (const auto& [path, expected] : rows) {
        EXPECT_EQ(route_template(path), expected) << path;
    }
}

TEST(RouteTemplateTest, MethodsOutsideHttpAreOther) {
    EXPECT_EQ(method_label("GET"), "GET");
    EXPECT_EQ(method_label("DELETE"), "DELETE");
    EXPECT_EQ(method_label("get"), "other");
    EXPECT_EQ(method_label("X\"}evil"), "other");
}

TEST(MetricsTest, CountsRequestsByDecisionMethodRouteAndStatus) {
    Metrics metrics;
    for (int i = 0; i < 3; ++i) {
        metrics.record({true, "GET", "/containers/a/json", 200, 0.002, false, 0, 1000});
    }
    metrics.record({true, "GET", "/containers/b/json", 404, 0.0004, false, 0, 50});
    metrics.record({false, "POST", "/containers/create", 403, 0.0001, false, 0, 0});
    metrics.record({true, "GET", "/events", 200, 3600, true, 0, 7});
    const auto samples = samples_of(metrics.render(gauges_of_version("1.2.3")));

    EXPECT_EQ(samples.at("socket_proxy_requests_total{decision=\"allow\",method=\"GET\",route=\"/"
                         "containers/{id}/json\",status=\"200\"}"),
              "3");
    EXPECT_EQ(samples.at("socket_proxy_requests_total{decision=\"allow\",method=\"GET\",route=\"/"
                         "containers/{id}/json\",status=\"404\"}"),
              "1");
    EXPECT_EQ(samples.at("socket_proxy_requests_total{decision=\"deny\",method=\"POST\",route=\"/"
                         "containers/create\",status=\"403\"}"),
              "1");
    EXPECT_EQ(samples.at("socket_proxy_relayed_bytes_total{direction=\"to_client\"}"), "3057");
    EXPECT_EQ(samples.at("socket_proxy_build_info{version=\"1.2.3\"}"), "1");
    // Buckets are cumulative; the stream is not in the latency histogram.
    const std::string inspect = "route=\"/containers/{id}/json\"";
    EXPECT_EQ(
        samples.at("socket_proxy_request_duration_seconds_bucket{" + inspect + ",le=\"0.0005\"}"),
        "1");
    EXPECT_EQ(
        samples.at("socket_proxy_request_duration_seconds_bucket{" + inspect + ",le=\"0.0025\"}"),
        "4");
    EXPECT_EQ(
        samples.at("socket_proxy_request_duration_seconds_bucket{" + inspect + ",le=\"+Inf\"}"),
        "4");
    EXPECT_EQ(samples.at("socket_proxy_request_duration_seconds_count{" + inspect + "}"), "4");
    EXPECT_FALSE(
        samples.contains("socket_proxy_request_duration_seconds_count{route=\"/events\"}"));
    EXPECT_EQ(samples.at("socket_proxy_streams_ended_total{route=\"/events\"}"), "1");
    EXPECT_EQ(samples.at("socket_proxy_stream_seconds_total{route=\"/events\"}"), "3600");
    EXPECT_EQ(samples.at("socket_proxy_engine_up"), "0");
}

TEST(MetricsTest, GaugesComeFromTheCaller) {
    Metrics metrics;
    metrics.count_refused(RefusedConnection::connection_limit);
    metrics.count_refused(RefusedConnection::connection_limit);
    metrics.count_refused(RefusedConnection::allow_from);
    MetricsGauges gauges = gauges_of_version("dev");
    gauges.client_connections = 7;
    gauges.open_streams = 2;
    gauges.engine_ping_seconds = 0.25;
    gauges.resident_bytes = 1234;
    const auto samples = samples_of(metrics.render(gauges));
    EXPECT_EQ(samples.at("socket_proxy_client_connections"), "7");
    EXPECT_EQ(samples.at("socket_proxy_open_streams"), "2");
    EXPECT_EQ(samples.at("socket_proxy_engine_up"), "1");
    EXPECT_EQ(samples.at("socket_proxy_engine_ping_seconds"), "0.25");
    EXPECT_EQ(samples.at("process_resident_memory_bytes"), "1234");
    EXPECT_FALSE(samples.contains("process_open_fds"));
    EXPECT_EQ(samples.at("socket_proxy_refused_connections_total{reason=\"connection_limit\"}"),
              "2");
    EXPECT_EQ(samples.at("socket_proxy_refused_connections_total{reason=\"allow_from\"}"), "1");
}

TEST(MetricsTest, TlsHandshakeFailuresByReason) {
    Metrics metrics;
    metrics.count_tls_failure(TlsHandshakeFailure::certificate);
    metrics.count_tls_failure(TlsHandshakeFailure::certificate);
    metrics.count_tls_failure(TlsHandshakeFailure::busy);
    const auto samples = samples_of(metrics.render(gauges_of_version("dev")));
    const std::string name = "socket_proxy_tls_handshake_failures_total";
    EXPECT_EQ(samples.at(name + "{reason=\"certificate\"}"), "2");
    EXPECT_EQ(samples.at(name + "{reason=\"busy\"}"), "1");
    EXPECT_EQ(samples.at(name + "{reason=\"plaintext\"}"), "0");
    EXPECT_EQ(samples.at(name + "{reason=\"protocol\"}"), "0");
    EXPECT_EQ(samples.at(name + "{reason=\"timeout\"}"), "0");
}

TEST(MetricsTest, SeriesStopGrowingAtTheCap) {
    Metrics metrics;
    // Each status is a new series: routes x statuses x methods must stay bounded, whatever a
    // daemon answers.
    for (int status = 0; status < static_cast<int>(Metrics::max_request_series) + 50; ++status) {
        metrics.record({true, "GET", "/info", status, 0.001, false, 0, 0});
    }
    const std::string page = metrics.render(gauges_of_version("dev"));
    std::size_t series = 0;
    for (std::size_t at = page.find("\nsocket_proxy_requests_total{"); at != std::string::npos;
         at = page.find("\nsocket_proxy_requests_total{", at + 1)) {
        ++series;
    }
    EXPECT_EQ(series, Metrics::max_request_series + 1);
    EXPECT_NE(page.find("socket_proxy_requests_total{decision=\"allow\",method=\"other\",route="
                        "\"other\",status=\"other\"} 50"),
              std::string::npos);
}

TEST(MetricsTest, CertificateExpiryGaugeAppearsOnlyWithCertificates) {
    Metrics metrics;
    EXPECT_EQ(metrics.render(gauges_of_version("dev")).find("certificate_expiry"),
              std::string::npos);
    metrics.set_certificate_expiries({{"tls_cert", "proxy", "0123456789abcdef", 1924992000},
                                      {"tls_ca", "a \"quoted\" CA", "fedcba9876543210", 1}});
    const auto samples = samples_of(metrics.render(gauges_of_version("dev")));
    const std::string name = "socket_proxy_certificate_expiry_timestamp_seconds";
    EXPECT_EQ(
        samples.at(name +
                   "{certificate=\"tls_cert\",subject=\"proxy\",sha256=\"0123456789abcdef\"}"),
        "1924992000");
    EXPECT_EQ(samples.at(name + "{certificate=\"tls_ca\",subject=\"a \\\"quoted\\\" CA\","
                                "sha256=\"fedcba9876543210\"}"),
              "1");
    // A reload replaces the set: a certificate no longer held leaves no series behind.
    metrics.set_certificate_expiries({});
    EXPECT_EQ(metrics.render(gauges_of_version("dev")).find(name + "{"), std::string::npos);
}

TEST(MetricsTest, VersionLabelIsEscaped) {
    const std::string page = Metrics{}.render(gauges_of_version("a\"b\\c\nd"));
    EXPECT_NE(page.find("version=\"a\\\"b\\\\c\\nd\""), std::string::npos) << page;
}

TEST(MetricsTest, TlsClientsByCertificateWithABound) {
    Metrics metrics;
    metrics.count_tls_client("tls:cn=traefik");
    metrics.count_tls_client("tls:cn=traefik");
    metrics.count_tls_client("tls:cn=\"quoted\"");
    const std::string text = metrics.render({});
    EXPECT_NE(text.find("socket_proxy_tls_client_requests_total{client=\"tls:cn=traefik\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("{client=\"tls:cn=\\\"quoted\\\"\"} 1\n"), std::string::npos) << text;
    for (std::size_t i = 0; i < Metrics::max_tls_client_series + 3; ++i) {
        metrics.count_tls_client("tls:cn=client" + std::to_string(i));
    }
    const std::string bounded = metrics.render({});
    EXPECT_NE(bounded.find("{client=\"other\"} 5\n"), std::string::npos);
    EXPECT_EQ(bounded.find("tls:cn=client999\""), std::string::npos);
}

}  // namespace
}  // namespace socket_proxy
