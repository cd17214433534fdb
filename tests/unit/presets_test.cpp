// The named presets: each one parses, serves the health check, and keeps what no tool of its
// kind may get; the --preset option reads like every other setting.
#include "presets.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config.hpp"
#include "policy_file.hpp"

namespace socket_proxy {
namespace {

Decision decide_as(const Policy& policy, std::string_view method, std::string_view target) {
    return decide(Request{method, target, "docker"}, Client{}, policy);
}

TEST(PresetsTest, EveryPresetParsesAndNamesItsSource) {
    ASSERT_EQ(presets().size(), 9U);
    for (const Preset& preset : presets()) {
        SCOPED_TRACE(std::string(preset.name));
        Policy policy;
        ASSERT_NO_THROW(policy = preset_policy(preset));
        EXPECT_EQ(policy.source, "preset " + std::string(preset.name));
        EXPECT_EQ(policy.default_verdict, Verdict::deny);
        EXPECT_EQ(find_preset(preset.name), &preset);
    }
    EXPECT_EQ(find_preset("Traefik"), nullptr);  // names are case-sensitive
    EXPECT_EQ(find_preset("portainer"), nullptr);
    EXPECT_EQ(find_preset(""), nullptr);
    EXPECT_EQ(preset_names(),
              "traefik, homepage, dozzle, portainer-readonly, watchtower, uptime-kuma, beszel, "
              "autoheal, diun");
}

TEST(PresetsTest, EveryPresetAllowsTheHealthCheck) {
    for (const Preset& preset : presets()) {
        SCOPED_TRACE(std::string(preset.name));
        const Policy policy = preset_policy(preset);
        for (const std::string_view method : {"GET", "HEAD"}) {
            const Decision decision = decide_as(policy, method, "/_ping");
            EXPECT_TRUE(decision.allowed()) << method;
            EXPECT_EQ(decision.rule, "ping");
        }
        EXPECT_TRUE(decide_as(policy, "HEAD", "/v1.45/_ping").allowed());
    }
}

TEST(PresetsTest, NoPresetHandsOutFilesSecretsOrExec) {
    const std::string_view never[][2] = {
        {"GET", "/v1.45/containers/web/export"},
        {"GET", "/v1.45/containers/web/%65xport"},
        {"GET", "/v1.45/containers/web/archive?path=/etc/shadow"},
        {"GET", "/v1.45/images/nginx/get"},
        {"GET", "/v1.45/images/get?names=nginx"},
        {"GET", "/v1.45/secrets"},
        {"GET", "/v1.45/secrets/s1"},
        {"GET", "/v1.45/configs"},
        {"GET", "/v1.45/swarm/unlockkey"},
        {"POST", "/v1.45/containers/web/exec"},
        {"POST", "/v1.45/exec/abc/start"},
        {"POST", "/v1.45/build"},
        {"POST", "/v1.45/volumes/create"},
        {"PUT", "/v1.45/containers/web/archive?path=/"},
        {"POST", "/v1.45/containers/web/attach?stream=1&stdin=1"},
    };
    for (const Preset& preset : presets()) {
        SCOPED_TRACE(std::string(preset.name));
        const Policy policy = preset_policy(preset);
        for (const auto& [method, target] : never) {
            EXPECT_FALSE(decide_as(policy, method, target).allowed()) << method << " " << target;
        }
    }
}

TEST(PresetsTest, OnlyWatchtowerCreatesContainersAndOnlyWithTheDefaultBodyLimits) {
    for (const Preset& preset : presets()) {
        SCOPED_TRACE(std::string(preset.name));
        const Policy policy = preset_policy(preset);
        const Decision create = decide_as(policy, "POST", "/v1.25/containers/create?name=web");
        if (preset.name != "watchtower") {
            EXPECT_FALSE(create.allowed());
            continue;
        }
        ASSERT_TRUE(create.allowed());
        EXPECT_EQ(create.write, WriteKind::container_create);
        const WriteLimits defaults;
        EXPECT_FALSE(create.write_limits.privileged);
        EXPECT_FALSE(create.write_limits.host_namespaces);
        EXPECT_FALSE(create.write_limits.devices);
        EXPECT_FALSE(create.write_limits.unconfined);
        EXPECT_TRUE(create.write_limits.bind_sources.empty());
        EXPECT_TRUE(create.write_limits.capabilities.empty());
        EXPECT_EQ(create.write_limits.max_body_bytes, defaults.max_body_bytes);
    }
}

TEST(PresetsTest, WatchtowerSeesRealInspectValuesAndTheOthersRedacted) {
    for (const Preset& preset : presets()) {
        SCOPED_TRACE(std::string(preset.name));
        const Policy policy = preset_policy(preset);
        for (const std::string_view target : {"/v1.25/containers/3f4e8c2a9b1d/json",
                                              "/v1.25/images/ghcr.io/acme/web:latest/json"}) {
            const Decision decision = decide_as(policy, "GET", target);
            if (!decision.allowed()) {
                continue;
            }
            EXPECT_EQ(decision.redact, preset.name != "watchtower") << target;
        }
    }
}

TEST(PresetsTest, EachPresetAllowsItsToolsCalls) {
    const std::map<std::string_view, std::vector<std::pair<std::string_view, std::string_view>>>
        calls = {
            {"beszel",
             {{"GET", "/version"},
              {"GET", "/containers/json"},
              {"GET", "/containers/3f4e8c2a9b1d/stats?stream=0&one-shot=1"},
              {"GET", "/containers/3f4e8c2a9b1d/json"},
              {"GET", "/containers/3f4e8c2a9b1d/logs?stdout=1&stderr=1&tail=200"},
              {"GET", "/images/nginx:latest/json"},
              {"GET", "/system/df?type=volume"}}},
            {"autoheal",
             {{"GET",
               "/containers/json?filters=%7B%22health%22%3A%5B%22unhealthy%22%5D%2C%22label%22%3A%"
               "5B%22autoheal%3Dtrue%22%5D%7D"},
              {"POST", "/containers/3f4e8c2a9b1d/restart?t=10"}}},
            {"diun",
             {{"GET", "/v1.47/version"},
              {"GET",
               "/v1.47/containers/json?filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D"},
              {"GET", "/v1.47/images/crazymax/diun:latest/json"},
              {"GET", "/v1.47/containers/3f4e8c2a9b1d/json"}}},
        };
    for (const auto& [name, tool_calls] : calls) {
        SCOPED_TRACE(std::string(name));
        const Policy policy = preset_policy(*find_preset(name));
        for (const auto& [method, target] : tool_calls) {
            EXPECT_TRUE(decide_as(policy, method, target).allowed()) << method << " " << target;
        }
    }
    const Policy beszel = preset_policy(*find_preset("beszel"));
    EXPECT_FALSE(decide_as(beszel, "GET", "/containers/c1/stats").allowed());  // a stream
    EXPECT_FALSE(decide_as(beszel, "GET", "/containers/c1/logs?follow=1").allowed());
    EXPECT_FALSE(decide_as(beszel, "POST", "/containers/c1/restart").allowed());
    const Policy diun = preset_policy(*find_preset("diun"));
    EXPECT_FALSE(decide_as(diun, "POST", "/images/create?fromImage=nginx").allowed());
    EXPECT_FALSE(decide_as(diun, "GET", "/containers/c1/logs").allowed());
}

TEST(PresetsTest, AutohealRestartsOnlyLabelledContainers) {
    const Policy policy = preset_policy(*find_preset("autoheal"));
    for (const std::string_view target : {"/containers/json", "/containers/c1/restart?t=10"}) {
        const std::string_view method = target.ends_with("t=10") ? "POST" : "GET";
        const Decision decision = decide_as(policy, method, target);
        ASSERT_TRUE(decision.allowed()) << target;
        ASSERT_EQ(decision.container_labels.size(), 1U) << target;
    }
    EXPECT_FALSE(decide_as(policy, "POST", "/containers/c1/stop").allowed());
    EXPECT_FALSE(decide_as(policy, "POST", "/containers/c1/kill").allowed());
    EXPECT_FALSE(decide_as(policy, "DELETE", "/containers/c1").allowed());
    EXPECT_FALSE(decide_as(policy, "GET", "/containers/c1/json").allowed());
}

Environment environment_of(std::map<std::string, std::string, std::less<>> variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto found = variables.find(name);
        return found == variables.end() ? std::nullopt : std::optional(found->second);
    };
}

TEST(PresetConfigTest, VariableAndFlagSetThePresetAndTheFlagWins) {
    EXPECT_EQ(parse_command_line({}, environment_of({})).config.preset, "");
    EXPECT_EQ(
        parse_command_line({}, environment_of({{"SOCKET_PROXY_PRESET", "traefik"}})).config.preset,
        "traefik");
    EXPECT_EQ(parse_command_line({}, environment_of({{"SOCKET_PROXY_PRESET", ""}})).config.preset,
              "");
    EXPECT_EQ(parse_command_line({"--preset", "dozzle"},
                                 environment_of({{"SOCKET_PROXY_PRESET", "traefik"}}))
                  .config.preset,
              "dozzle");
    EXPECT_EQ(parse_command_line({"check", "--preset=diun"}, environment_of({})).config.preset,
              "diun");
    EXPECT_THROW((void)parse_command_line({"--preset"}, environment_of({})), ConfigError);
    const std::string help = usage();
    EXPECT_NE(help.find("--preset NAME"), std::string::npos) << help;
    EXPECT_NE(help.find("SOCKET_PROXY_PRESET"), std::string::npos);
    for (const Preset& preset : presets()) {
        EXPECT_NE(help.find(preset.name), std::string::npos) << preset.name;
    }
}

}  // namespace
}  // namespace socket_proxy
