// `socket-proxy learn`: a request log becomes the smallest policy allowing what it shows.
#include "learn.hpp"

#include <gtest/gtest.h>

#include <string>

#include "policy.hpp"
#include "policy_file.hpp"

namespace socket_proxy {
namespace {

std::string request_line(std::string_view method, std::string_view route,
                         std::string_view decision = "allow",
                         std::string_view client = "unix:uid=0,pid=7") {
    return R"({"time":"t","level":"debug","event":"request","client":")" + std::string(client) +
           R"(","method":")" + std::string(method) + R"(","path":"x","route":")" +
           std::string(route) + R"(","decision":")" + std::string(decision) + "\"}\n";
}

// Whether the learned policy allows a request, as the proxy would decide it.
auto allowed_by(const std::string& yaml) {
    return [policy = parse_policy_file(yaml, "learned.yaml")](std::string_view method,
                                                              std::string_view target) {
        return decide(Request{method, target, "docker"}, Client{}, policy).allowed();
    };
}

TEST(LearnTest, RoutesBecomePatternsOfTheirRoute) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"/containers/3f0a9c/json", "/containers/{id}/json"},
        {"/containers/json", "/containers/json"},
        {"/images/ghcr.io/me/app:1/json", "/images/{name...}/json"},
        {"/plugins/vieux/sshfs:latest/enable", "/plugins/{name...}/enable"},
        {"/events", "/events"},
        {"/etc/passwd", ""},
        {"", ""},
    };
    for (const auto& [route, pattern] : rows) {
        EXPECT_EQ(learned_path_pattern(route), pattern) << route;
    }
}

TEST(LearnTest, TheLearnedPolicyAllowsWhatWasSeenAndNothingElse) {
    const std::string log =
        std::string("not json at all\n") + R"({"time":"t","level":"info","event":"listening"})" +
        "\n" + request_line("GET", "/containers/json") +
        request_line("GET", "/containers/c1/json") + request_line("GET", "/containers/c2/json") +
        request_line("HEAD", "/_ping") + request_line("POST", "/containers/c1/restart", "deny") +
        request_line("GET", "/etc/passwd", "deny");
    const LearnedPolicy learned = learn_policy(log, "test.log");
    EXPECT_EQ(learned.requests, 6U);
    EXPECT_EQ(learned.unreadable, 1U);
    EXPECT_EQ(learned.other_lines, 1U);
    EXPECT_EQ(learned.outside_api, 1U);
    EXPECT_NE(learned.yaml.find("refused when logged (1 of 1 requests)"), std::string::npos)
        << learned.yaml;

    const auto allowed = allowed_by(learned.yaml);
    EXPECT_TRUE(allowed("GET", "/v1.41/containers/json?all=1"));
    EXPECT_TRUE(allowed("GET", "/v1.41/containers/other/json"));
    EXPECT_TRUE(allowed("GET", "/_ping"));
    EXPECT_FALSE(allowed("POST", "/v1.41/containers/c9/restart"));
    EXPECT_FALSE(allowed("GET", "/v1.41/containers/c1/logs"));
    EXPECT_FALSE(allowed("GET", "/v1.41/images/json"));
    EXPECT_FALSE(allowed("DELETE", "/v1.41/containers/c1"));
    EXPECT_FALSE(allowed("GET", "/etc/passwd"));
}

// Any client active while learning could otherwise plant a route: what was refused, or what
// the built-in policy blocks, is never allowed, only listed in comments with the reason.
TEST(LearnTest, RefusalsAndBlockedRoutesNeverBecomePermissions) {
    const std::string log =
        request_line("GET", "/containers/c1/export") + request_line("GET", "/images/app/get") +
        request_line("GET", "/secrets/s1", "deny") + request_line("GET", "/swarm/unlockkey") +
        request_line("HEAD", "/containers/c1/archive") +
        request_line("GET", "/containers/c1/logs") +
        request_line("GET", "/containers/c2/logs", "deny") + request_line("GET", "/info") +
        request_line("POST", "/containers/c1/kill", "deny") +
        request_line("POST", "/containers/c1/start");
    const LearnedPolicy learned = learn_policy(log, "test.log");
    EXPECT_NE(learned.yaml.find("the built-in policy blocks it: this route exports the "
                                "container's whole file system"),
              std::string::npos)
        << learned.yaml;
    EXPECT_NE(learned.yaml.find("refused when logged (1 of 2 requests)"), std::string::npos)
        << learned.yaml;

    const auto allowed = allowed_by(learned.yaml);
    EXPECT_FALSE(allowed("GET", "/v1.41/containers/c1/export"));
    EXPECT_FALSE(allowed("GET", "/v1.41/images/app/get"));
    EXPECT_FALSE(allowed("GET", "/v1.41/secrets/s1"));
    EXPECT_FALSE(allowed("GET", "/v1.41/swarm/unlockkey"));
    EXPECT_FALSE(allowed("HEAD", "/v1.41/containers/c1/archive"));
    EXPECT_FALSE(allowed("GET", "/v1.41/containers/c1/logs"));
    EXPECT_FALSE(allowed("POST", "/v1.41/containers/c1/kill"));
    EXPECT_TRUE(allowed("GET", "/v1.41/info"));
    EXPECT_TRUE(allowed("POST", "/v1.41/containers/c3/start"));
}

// Each tool behind its own listener or certificate gets only what it used; a client without
// such an identity (a uid, an address) gets rules without `clients:`, as before.
TEST(LearnTest, EachNamedClientGetsRulesOfItsOwn) {
    const std::string log =
        request_line("GET", "/events", "allow", "unix:uid=0,pid=9,listener=traefik") +
        request_line("GET", "/containers/json", "allow", "unix:uid=0,pid=9,listener=homepage") +
        request_line("GET", "/containers/c1/logs", "allow",
                     "tls:cn=dozzle,address=10.0.0.5:40000,container=dozzle-1") +
        request_line("GET", "/info", "allow", "10.0.0.7:5000,container=watchtower") +
        request_line("GET", "/version", "allow", "10.0.0.8:5000");
    const LearnedPolicy learned = learn_policy(log, "test.log");
    EXPECT_NE(learned.yaml.find("{name: traefik-events, clients: [{listener: \"traefik\"}], "
                                "methods: [GET], path: \"/events\", action: allow}"),
              std::string::npos)
        << learned.yaml;
    EXPECT_NE(learned.yaml.find("clients: [{cert_cn: \"dozzle\"}]"), std::string::npos)
        << learned.yaml;
    EXPECT_NE(learned.yaml.find("clients: [{container: \"watchtower\"}]"), std::string::npos)
        << learned.yaml;
    const Policy policy = parse_policy_file(learned.yaml, "learned.yaml");

    Client traefik;
    traefik.listener = "traefik";
    Client homepage;
    homepage.listener = "homepage";
    const auto allows = [&policy](const Client& client, std::string_view target) {
        return decide(Request{"GET", target, "docker"}, client, policy).allowed();
    };
    EXPECT_TRUE(allows(traefik, "/v1.41/events"));
    EXPECT_FALSE(allows(traefik, "/v1.41/containers/json"));
    EXPECT_TRUE(allows(homepage, "/v1.41/containers/json"));
    EXPECT_FALSE(allows(homepage, "/v1.41/events"));
    EXPECT_FALSE(allows(homepage, "/v1.41/containers/c1/logs"));
    EXPECT_FALSE(allows(homepage, "/v1.41/info"));
    EXPECT_TRUE(allows(homepage, "/v1.41/version"));  // learned without an identity: anyone
}

TEST(LearnTest, ALogWithoutRequestsLearnsNothing) {
    const LearnedPolicy learned =
        learn_policy("2026-12-02T01:00:00.000+00:00 info listening unix=/x\n", "text.log");
    EXPECT_TRUE(learned.yaml.empty());
    EXPECT_EQ(learned.unreadable, 1U);
}

}  // namespace
}  // namespace socket_proxy
