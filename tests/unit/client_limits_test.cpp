// Per-client limits: the token bucket under a fake clock, the in-flight slots, the table's
// bound, who one client is, which requests open streams, and `limits:` in a policy file.
#include "client_limits.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client_key.hpp"
#include "metrics.hpp"
#include "policy.hpp"
#include "policy_file.hpp"
#include "stream_routes.hpp"

#include "policy_error_of.hpp"

namespace socket_proxy {
namespace {

using Clock = LimitTable::Clock;
using std::chrono::milliseconds;

const Clock::time_point start{};

ClientLimits rate(double per_second, std::optional<double> burst = std::nullopt) {
    return ClientLimits{.requests_per_second = per_second, .burst = burst};
}

// Admits and at once releases: a request that ended, leaving only its token spent.
bool passes(LimitTable& table, const std::string& client, const ClientLimits& limits,
            Clock::time_point now, const std::string& rule = "r") {
    const Admission admission = table.admit(rule, client, limits, false, now);
    if (!admission.refused) {
        table.release(rule, client, false);
    }
    return !admission.refused;
}

TEST(LimitTableTest, TheBucketHoldsItsBurstThenRefillsAtTheRate) {
    LimitTable table;
    const ClientLimits limits = rate(2, 3);
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(passes(table, "a", limits, start)) << i;
    }
    const Admission refused = table.admit("r", "a", limits, false, start);
    ASSERT_EQ(refused.refused, LimitKind::rate);
    EXPECT_EQ(refused.retry_after_seconds, 1u);  // half a second to a token, rounded up
    EXPECT_FALSE(passes(table, "a", limits, start + milliseconds(499)));
    EXPECT_TRUE(passes(table, "a", limits, start + milliseconds(500)));
    EXPECT_FALSE(passes(table, "a", limits, start + milliseconds(500)));
    // A long pause refills to the burst, not beyond.
    const auto later = start + std::chrono::hours(1);
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(passes(table, "a", limits, later)) << i;
    }
    EXPECT_FALSE(passes(table, "a", limits, later));
}

TEST(LimitTableTest, TheBurstDefaultsToTheRateAndAtLeastOne) {
    EXPECT_EQ(rate(5).bucket_size(), 5);
    EXPECT_EQ(rate(0.5).bucket_size(), 1);
    EXPECT_EQ(rate(5, 20).bucket_size(), 20);

    LimitTable table;
    const ClientLimits slow = rate(0.25);  // one request every four seconds
    EXPECT_TRUE(passes(table, "a", slow, start));
    const Admission refused = table.admit("r", "a", slow, false, start + milliseconds(100));
    ASSERT_EQ(refused.refused, LimitKind::rate);
    EXPECT_EQ(refused.retry_after_seconds, 4u);  // 3.9 s, rounded up
}

TEST(LimitTableTest, TheSlowestRateWaitsABoundedTime) {
    LimitTable table;
    EXPECT_TRUE(passes(table, "a", rate(1e-300), start));
    const Admission refused = table.admit("r", "a", rate(1e-300), false, start);
    ASSERT_EQ(refused.refused, LimitKind::rate);
    EXPECT_EQ(refused.retry_after_seconds, 1'000'000'000u);
}

TEST(LimitTableTest, EachClientAndEachRuleHasItsOwnBucket) {
    LimitTable table;
    const ClientLimits limits = rate(1);
    EXPECT_TRUE(passes(table, "a", limits, start));
    EXPECT_FALSE(passes(table, "a", limits, start));
    EXPECT_TRUE(passes(table, "b", limits, start));
    EXPECT_TRUE(passes(table, "a", limits, start, "other-rule"));
}

TEST(LimitTableTest, ConcurrentSlotsAreHeldUntilReleased) {
    LimitTable table;
    const ClientLimits limits{.concurrent = 2};
    EXPECT_FALSE(table.admit("r", "a", limits, false, start).refused);
    EXPECT_FALSE(table.admit("r", "a", limits, true, start).refused);  // streams count too
    const Admission third = table.admit("r", "a", limits, false, start);
    ASSERT_EQ(third.refused, LimitKind::concurrent);
    EXPECT_EQ(third.retry_after_seconds, 1u);
    EXPECT_FALSE(table.admit("r", "b", limits, false, start).refused);  // another client
    table.release("r", "a", true);
    EXPECT_FALSE(table.admit("r", "a", limits, false, start).refused);
}

TEST(LimitTableTest, StreamSlotsLimitOnlyStreams) {
    LimitTable table;
    const ClientLimits limits{.concurrent = 10, .streams = 1};
    EXPECT_FALSE(table.admit("r", "a", limits, true, start).refused);
    EXPECT_EQ(table.admit("r", "a", limits, true, start).refused, LimitKind::streams);
    EXPECT_FALSE(table.admit("r", "a", limits, false, start).refused);
    table.release("r", "a", true);
    EXPECT_FALSE(table.admit("r", "a", limits, true, start).refused);
}

TEST(LimitTableTest, ARefusedRequestSpendsNothing) {
    LimitTable table;
    const ClientLimits limits{.requests_per_second = 1, .burst = 2, .concurrent = 1};
    EXPECT_FALSE(table.admit("r", "a", limits, false, start).refused);
    // Refused by the concurrent limit: its token stays in the bucket.
    EXPECT_EQ(table.admit("r", "a", limits, false, start).refused, LimitKind::concurrent);
    table.release("r", "a", false);
    EXPECT_FALSE(table.admit("r", "a", limits, false, start).refused);
}

TEST(LimitTableTest, NewNumbersAfterAReloadKeepTheBucket) {
    LimitTable table;
    for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(passes(table, "a", rate(10), start));
    }
    // The same rule, reloaded with a larger burst: the empty bucket is not refilled by it.
    EXPECT_FALSE(passes(table, "a", rate(10, 100), start));
    // A smaller one caps what was left.
    EXPECT_TRUE(passes(table, "a", rate(1, 2), start + std::chrono::seconds(10)));
    EXPECT_TRUE(passes(table, "a", rate(1, 2), start + std::chrono::seconds(10)));
    EXPECT_FALSE(passes(table, "a", rate(1, 2), start + std::chrono::seconds(10)));
}

TEST(LimitTableTest, ClientsCyclingThroughAddressesCannotGrowTheTable) {
    const std::size_t cap = 64;
    LimitTable table(cap);
    const ClientLimits limits = rate(1);
    auto now = start;
    for (int i = 0; i < 10'000; ++i) {
        now += milliseconds(1);
        EXPECT_TRUE(passes(table, "10.0.0." + std::to_string(i), limits, now));
        ASSERT_LE(table.size(), cap);
    }
}

TEST(LimitTableTest, ForgettingPrefersRefilledBucketsAndKeepsRequestsInFlight) {
    LimitTable table(4);
    const ClientLimits limits{.requests_per_second = 1, .concurrent = 5};
    EXPECT_FALSE(table.admit("r", "busy", limits, false, start).refused);  // stays in flight
    EXPECT_TRUE(passes(table, "spent", limits, start + std::chrono::seconds(5)));
    EXPECT_TRUE(passes(table, "old", limits, start));
    EXPECT_TRUE(passes(table, "refilled", limits, start));
    // Full: at 5.5 s "old" and "refilled" have refilled; "spent" has not.
    EXPECT_TRUE(passes(table, "new", limits, start + milliseconds(5500)));
    EXPECT_LE(table.size(), 4u);
    // "spent" is remembered: still empty. "busy" still holds its slot, and is the only one.
    EXPECT_FALSE(passes(table, "spent", limits, start + milliseconds(5500)));
    EXPECT_EQ(
        table.admit("r", "busy", ClientLimits{.concurrent = 1}, false, start + milliseconds(5500))
            .refused,
        LimitKind::concurrent);
}

TEST(LimitTableTest, ATableFullOfRequestsInFlightStillAdmits) {
    LimitTable table(2);
    const ClientLimits limits{.concurrent = 1};
    for (int i = 0; i < 5; ++i) {
        EXPECT_FALSE(table.admit("r", std::to_string(i), limits, false, start).refused);
    }
    EXPECT_EQ(table.size(), 5u);  // bounded by the requests in flight, not forgotten
    for (int i = 0; i < 5; ++i) {
        table.release("r", std::to_string(i), false);
    }
    EXPECT_EQ(table.size(), 0u);  // without a bucket, nothing is left to remember
}

TEST(ClientLimitKeyTest, OneCallerIsOneKey) {
    Client unix_client;
    unix_client.uid = 1000;
    unix_client.gid = 1000;
    unix_client.pid = 42;
    Client same_user = unix_client;
    same_user.pid = 43;
    EXPECT_EQ(client_limit_key(unix_client), client_limit_key(same_user));
    Client other_group = unix_client;
    other_group.gid = 0;
    EXPECT_NE(client_limit_key(unix_client), client_limit_key(other_group));

    const auto tcp = [](std::string_view address, std::string_view port) {
        Client client;
        client.transport = Client::Transport::tcp;
        client.address = std::string(address) + ":" + std::string(port);
        client.ip = IpAddress::parse(address);
        return client;
    };
    EXPECT_EQ(client_limit_key(tcp("127.0.0.1", "4000")),
              client_limit_key(tcp("127.0.0.1", "5000")));
    EXPECT_NE(client_limit_key(tcp("127.0.0.1", "4000")),
              client_limit_key(tcp("127.0.0.2", "4000")));
    EXPECT_EQ(client_limit_key(tcp("127.0.0.1", "4000")), "tcp:127.0.0.1");
    EXPECT_EQ(client_limit_key(tcp("[2001:db8:0:1::7]", "1")), "tcp:2001:db8:0:1::/64");
    EXPECT_EQ(client_limit_key(unix_client), "unix:uid=1000,gid=1000");
    // Tools on sockets or in containers of their own are callers of their own.
    Client on_traefik_socket = unix_client;
    on_traefik_socket.listener = "traefik";
    EXPECT_EQ(client_limit_key(on_traefik_socket), "unix:uid=1000,gid=1000,listener=traefik");
    auto homepage = std::make_shared<CallerContainer>();
    homepage->name = "homepage";
    Client in_homepage = unix_client;
    in_homepage.container = homepage;
    EXPECT_EQ(client_limit_key(in_homepage), "unix:uid=1000,gid=1000,container=homepage");
    // An IPv6 host picks any address of its /64.
    EXPECT_EQ(client_limit_key(tcp("[2001:db8::1]", "1")),
              client_limit_key(tcp("[2001:db8::2]", "1")));
    EXPECT_NE(client_limit_key(tcp("[2001:db8::1]", "1")),
              client_limit_key(tcp("[2001:db8:0:1::1]", "1")));
    // A certificate is one caller wherever it connects from.
    Client tls_a = tcp("10.0.0.1", "1");
    tls_a.certificate = PeerCertificate{"ci", {}, {}, std::string(64, 'a')};
    Client tls_b = tcp("10.0.0.2", "1");
    tls_b.certificate = tls_a.certificate;
    EXPECT_EQ(client_limit_key(tls_a), client_limit_key(tls_b));
    EXPECT_NE(client_limit_key(tls_a), client_limit_key(tcp("10.0.0.1", "1")));
}

TEST(StreamRoutesTest, LongLivedAnswersAreToldFromTheRequest) {
    struct Row {
        std::string_view method, path, query;
        bool upgrade, stream;
    };
    const Row rows[] = {
        {"GET", "/events", "", false, true},
        {"GET", "/libpod/events", "stream=true", false, true},
        {"GET", "/containers/c1/logs", "", false, false},
        {"GET", "/containers/c1/logs", "follow=1&stdout=1", false, true},
        {"GET", "/containers/c1/logs", "follow=false", false, false},
        {"GET", "/containers/c1/logs", "follow=0&follow=1", false, false},  // the first counts
        {"GET", "/containers/c1/logs", "follow=1;x", false, true},          // unreadable: counted
        {"GET", "/containers/c1/stats", "", false, true},  // stream defaults to true
        {"GET", "/containers/c1/stats", "stream=false", false, false},
        {"GET", "/containers/c1/stats", "stream=", false, false},
        {"GET", "/containers/c1/stats", "stream=0&one-shot=1", false, false},
        {"GET", "/libpod/containers/stats", "", false, true},
        {"POST", "/containers/c1/attach", "stream=1", false, true},
        {"GET", "/containers/c1/attach/ws", "", false, true},
        {"POST", "/exec/e1/start", "", false, true},
        {"POST", "/exec/e1/resize", "", false, false},
        {"POST", "/session", "", true, true},
        {"GET", "/containers/json", "", false, false},
        {"GET", "/containers/logs/json", "", false, false},
        {"DELETE", "/containers/c1", "", false, false},
        {"GET", "/", "", false, false},
    };
    for (const Row& row : rows) {
        EXPECT_EQ(opens_stream(row.method, row.path, row.query, row.upgrade), row.stream)
            << row.method << " " << row.path << "?" << row.query;
    }
}

using test_support::error_of;

TEST(ClientLimitsFileTest, LimitsAreReadAndDecided) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: ci
    clients: {cidr: 10.0.0.0/8}
    limits: {requests_per_second: 2.5, burst: 10, concurrent: 4, streams: 2}
    action: allow
  - name: rest
    action: allow
)",
                                            "policy.yaml");
    ASSERT_TRUE(policy.rules[0].limits);
    EXPECT_EQ(policy.rules[0].limits->requests_per_second, 2.5);
    EXPECT_EQ(policy.rules[0].limits->burst, 10);
    EXPECT_EQ(policy.rules[0].limits->concurrent, 4u);
    EXPECT_EQ(policy.rules[0].limits->streams, 2u);
    EXPECT_FALSE(policy.rules[1].limits);
    EXPECT_NE(describe_rule(policy.rules[0])
                  .find("limits requests_per_second=2.5,burst=10,concurrent=4,streams=2"),
              std::string::npos)
        << describe_rule(policy.rules[0]);

    Client ci;
    ci.transport = Client::Transport::tcp;
    ci.ip = IpAddress::parse("10.1.2.3");
    const Decision limited = decide(Request{"GET", "/v1.41/containers/json", "docker"}, ci, policy);
    ASSERT_TRUE(limited.allowed());
    ASSERT_TRUE(limited.limits);
    EXPECT_EQ(limited.limits->concurrent, 4u);
    const Decision free = decide(Request{"GET", "/v1.41/containers/json", "docker"}, {}, policy);
    EXPECT_EQ(free.rule, "rest");
    EXPECT_FALSE(free.limits);
}
TEST(ClientLimitsFileTest, MistakesNameTheLineAndTheLimit) {
    struct Row {
        std::string_view limits;
        std::vector<std::string_view> fragments;
    };
    const Row rows[] = {
        {"{requests_per_second: 0}", {"\"limits.requests_per_second\"", "\"0\"", "above 0"}},
        {"{requests_per_second: -1}", {"\"-1\""}},
        {"{requests_per_second: fast}", {"\"fast\" is not a number"}},
        {"{requests_per_second: .nan}", {"is not a number"}},
        {"{requests_per_second: .inf}", {"is not a number"}},
        {"{requests_per_second: 10000000}", {"at most 1000000"}},
        {"{requests_per_second: 1, burst: 2.5}", {"\"limits.burst\"", "whole number"}},
        {"{burst: 5}", {"\"limits.burst\"", "set requests_per_second too"}},
        {"{concurrent: 0}", {"\"limits.concurrent\"", "above 0"}},
        {"{concurrent: 1000000}", {"\"limits.concurrent\"", "at most 100000"}},
        {"{streams: [1]}", {"\"limits.streams\"", "single value"}},
        {"{concurrent: 2, streams: 3}", {"\"limits.streams\"", "cannot be more than concurrent"}},
        {"{rate: 5}", {"\"limits.rate\"", "use requests_per_second, burst, concurrent, streams"}},
        {"{}", {"\"limits\"", "mapping"}},
        {"5", {"\"limits\"", "mapping"}},
    };
    for (const Row& row : rows) {
        const std::string text =
            "rules:\n  - name: a\n    action: allow\n    limits: " + std::string(row.limits) + "\n";
        const std::string error = error_of(text);
        EXPECT_NE(error.find("policy.yaml line 4"), std::string::npos) << text << error;
        EXPECT_NE(error.find("rule 1 (a)"), std::string::npos) << error;
        for (const std::string_view fragment : row.fragments) {
            EXPECT_NE(error.find(fragment), std::string::npos)
                << "limits: " << row.limits << "\nmissing: " << fragment << "\nin: " << error;
        }
    }
    EXPECT_NE(error_of("rules:\n  - {name: a, action: deny, limits: {concurrent: 1}}\n")
                  .find("a deny rule lets nothing through"),
              std::string::npos);
}

TEST(ClientLimitsMetricsTest, RefusalsAreCountedByRuleAndLimit) {
    Metrics metrics;
    const std::string empty = metrics.render({});
    EXPECT_NE(empty.find("# TYPE socket_proxy_limited_requests_total counter"), std::string::npos);
    metrics.count_limited("ci", "requests_per_second");
    metrics.count_limited("ci", "requests_per_second");
    metrics.count_limited("ci", "streams");
    const std::string text = metrics.render({});
    EXPECT_NE(text.find("socket_proxy_limited_requests_total{rule=\"ci\",limit=\"requests_per_"
                        "second\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("socket_proxy_limited_requests_total{rule=\"ci\",limit=\"streams\"} 1\n"),
              std::string::npos);
    for (std::size_t i = 0; i < Metrics::max_limited_series + 5; ++i) {
        metrics.count_limited("rule" + std::to_string(i), "concurrent");
    }
    EXPECT_NE(metrics.render({}).find("rule=\"other\",limit=\"concurrent\"} 7\n"),
              std::string::npos);
}

}  // namespace
}  // namespace socket_proxy
