// Secrets in daemon answers: which routes are rewritten, and what the rewrite keeps.
#include "redact.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "label_scope.hpp"

namespace socket_proxy {
namespace {

namespace json = boost::json;

TEST(RedactTest, RoutesThatCarrySecrets) {
    for (const std::string_view route :
         {"/containers/c1/json", "/containers/my/app/json", "/images/alpine/json",
          "/images/registry:5000/org/app:1.0/json", "/services", "/services/s1", "/tasks",
          "/tasks/t1", "/plugins", "/plugins/vieux/sshfs/json", "/swarm"}) {
        EXPECT_TRUE(route_carries_secrets(route)) << route;
    }
    for (const std::string_view route :
         {"/containers/json", "/images/json", "/info", "/version", "/containers/c1/logs",
          "/services/s1/logs", "/swarm/x", "/networks", "/_ping"}) {
        EXPECT_FALSE(route_carries_secrets(route)) << route;
    }
}

json::value redacted(std::string_view body) {
    const auto text = redact_secrets(body);
    EXPECT_TRUE(text.has_value()) << body;
    return json::parse(text.value_or("null"));
}

TEST(RedactTest, EnvironmentValuesGoNamesStay) {
    const json::value inspect = redacted(R"({
        "Id": "abc", "Config": {"Env": ["DB_PASSWORD=hunter2", "PATH=/bin", "EMPTY=", "UNSET",
                                          "URL=postgres://u:p@h/d?x=1"],
                                "Labels": {"Env": "not a list"}},
        "ContainerConfig": {"Env": ["TOKEN=abc"]}})");
    EXPECT_EQ(inspect.at("Config").at("Env"),
              json::parse(R"(["DB_PASSWORD=<redacted>", "PATH=<redacted>", "EMPTY=<redacted>",
                              "UNSET", "URL=<redacted>"])"));
    EXPECT_EQ(inspect.at("ContainerConfig").at("Env"), json::parse(R"(["TOKEN=<redacted>"])"));
    EXPECT_EQ(inspect.at("Config").at("Labels").at("Env"), "not a list");
    EXPECT_EQ(inspect.at("Id"), "abc");
}

TEST(RedactTest, EveryEnvListAnywhereIsRewritten) {
    const json::value services = redacted(R"([
        {"Spec": {"TaskTemplate": {"ContainerSpec": {"Env": ["A=1"]}}},
         "PreviousSpec": {"TaskTemplate": {"ContainerSpec": {"Env": ["A=0"]}}}}])");
    EXPECT_EQ(services.at(0).at("Spec").at("TaskTemplate").at("ContainerSpec").at("Env"),
              json::parse(R"(["A=<redacted>"])"));
    EXPECT_EQ(services.at(0).at("PreviousSpec").at("TaskTemplate").at("ContainerSpec").at("Env"),
              json::parse(R"(["A=<redacted>"])"));
}

TEST(RedactTest, PluginSettingsAndDeclaredValues) {
    const json::value plugins = redacted(R"([{"Settings": {"Env": ["KEY=secret"]},
        "Config": {"Env": [{"Name": "KEY", "Value": "default-secret", "Settable": ["value"]},
                           {"Name": "EMPTY", "Value": ""}]}}])");
    EXPECT_EQ(plugins.at(0).at("Settings").at("Env"), json::parse(R"(["KEY=<redacted>"])"));
    EXPECT_EQ(plugins.at(0).at("Config").at("Env").at(0).at("Value"), "<redacted>");
    EXPECT_EQ(plugins.at(0).at("Config").at("Env").at(0).at("Name"), "KEY");
    EXPECT_EQ(plugins.at(0).at("Config").at("Env").at(1).at("Value"), "");
}

TEST(RedactTest, SwarmJoinTokensAreRemoved) {
    const json::value swarm = redacted(R"({"ID": "s", "JoinTokens": {"Worker": "SWMTKN-1-w",
        "Manager": "SWMTKN-1-m"}, "Spec": {"Name": "default"}})");
    EXPECT_FALSE(swarm.as_object().contains("JoinTokens"));
    EXPECT_EQ(swarm.at("ID"), "s");
    const std::string text = *redact_secrets(R"({"JoinTokens": {"Manager": "SWMTKN-1-m"}})");
    EXPECT_EQ(text.find("SWMTKN"), std::string::npos);
}

TEST(RedactTest, WhatCannotBeReadIsNotForwarded) {
    for (const std::string_view body :
         {"", "{", "not json", "{\"Env\": [\"A=1\"]} trailing", "\xff\xfe"}) {
        EXPECT_FALSE(redact_secrets(body).has_value()) << body;
    }
    std::string deep(100, '[');
    deep += std::string(100, ']');
    EXPECT_FALSE(redact_secrets(deep).has_value()) << "100 levels deep";
}

// Boost.JSON reads 2e400 as infinity and would write it back as "Infinity", which is not
// JSON: such an answer is not forwarded.
TEST(RedactTest, NumbersThatCannotBeWrittenBackAreRefused) {
    EXPECT_FALSE(redact_secrets(R"({"Config": {"Env": ["A=b"]}, "Memory": 2e400})"));
    EXPECT_FALSE(filter_container_list(R"([{"Labels": {"a": "b"}, "Size": -2e400}])",
                                       {LabelSelector{"a", "b"}}));
    EXPECT_TRUE(redact_secrets(R"({"Memory": 1.5e300, "Count": 18446744073709551615})"));
}

}  // namespace
}  // namespace socket_proxy
