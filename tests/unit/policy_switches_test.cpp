// The Tecnativa-style switches: one table of environments and the decisions they give.
#include "policy_switches.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace socket_proxy {
namespace {

using Variables = std::map<std::string, std::string, std::less<>>;

Environment environment_of(Variables variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto found = variables.find(name);
        return found == variables.end() ? std::nullopt : std::optional(found->second);
    };
}

struct SwitchRow {
    Variables variables;
    std::string_view method;
    std::string_view target;
    Verdict verdict;
    std::string_view rule;
};

TEST(PolicySwitchesTest, MapsEachSwitchToItsSection) {
    constexpr Verdict allow = Verdict::allow;
    constexpr Verdict deny = Verdict::deny;
    const SwitchRow rows[] = {
        // Tecnativa's defaults: EVENTS, PING, VERSION on, the rest off.
        {{{"CONTAINERS", "0"}}, "GET", "/v1.41/events", allow, "switch-EVENTS"},
        {{{"CONTAINERS", "0"}}, "HEAD", "/_ping", allow, "switch-PING"},
        {{{"CONTAINERS", "0"}}, "GET", "/version", allow, "switch-VERSION"},
        {{{"CONTAINERS", "0"}}, "GET", "/v1.41/containers/json", deny, "default"},
        {{{"PING", "0"}}, "GET", "/_ping", deny, "default"},
        {{{"CONTAINERS", "1"}}, "GET", "/v1.41/containers/json", allow, "switch-CONTAINERS"},
        {{{"CONTAINERS", "true"}}, "GET", "/containers/c1/json", allow, "switch-CONTAINERS"},
        {{{"CONTAINERS", "1"}}, "GET", "/v1.41/images/json", deny, "default"},
        {{{"IMAGES", "1"}}, "GET", "/v1.41/images/json", allow, "switch-IMAGES"},
        {{{"INFO", "1"}}, "GET", "/info", allow, "switch-INFO"},
        {{{"SYSTEM", "1"}}, "GET", "/system/df", allow, "switch-SYSTEM"},
        {{{"NETWORKS", "1"}}, "GET", "/networks", allow, "switch-NETWORKS"},
        {{{"SECRETS", "1"}}, "GET", "/secrets", allow, "switch-SECRETS"},
        {{{"SECRETS", "0"}, {"CONTAINERS", "1"}}, "GET", "/secrets", deny, "default"},
        // Stricter than Tecnativa: a section is a route tree, not a string prefix.
        {{{"CONTAINERS", "1"}}, "GET", "/containersfoo", deny, "default"},
        {{{"CONTAINERS", "1"}}, "GET", "/v1.41/x/containers/json", deny, "default"},
        // Stricter: reads that leak files stay denied with the section on.
        {{{"CONTAINERS", "1"}},
         "GET",
         "/v1.41/containers/c1/export",
         deny,
         "deny-container-export"},
        {{{"CONTAINERS", "1"}}, "HEAD", "/containers/c1/archive", deny, "deny-container-archive"},
        {{{"IMAGES", "1"}}, "GET", "/images/app/get", deny, "deny-image-export"},
        {{{"SWARM", "1"}}, "GET", "/swarm/unlockkey", deny, "deny-swarm-unlockkey"},
        {{{"SWARM", "1"}}, "GET", "/swarm", allow, "switch-SWARM"},
        // POST=0 is GET and HEAD only, whatever the section.
        {{{"CONTAINERS", "1"}}, "POST", "/containers/create", deny, "switch-POST"},
        {{{"CONTAINERS", "1"}}, "DELETE", "/containers/c1", deny, "switch-POST"},
        {{{"CONTAINERS", "1"}}, "OPTIONS", "/containers/json", deny, "default"},
        {{{"CONTAINERS", "1"}, {"POST", "1"}},
         "POST",
         "/containers/create",
         allow,
         "switch-CONTAINERS"},
        {{{"CONTAINERS", "1"}, {"POST", "1"}},
         "DELETE",
         "/containers/c1",
         allow,
         "switch-CONTAINERS"},
        {{{"CONTAINERS", "1"}, {"POST", "1"}, {"DELETE", "0"}},
         "DELETE",
         "/containers/c1",
         deny,
         "switch-DELETE"},
        {{{"POST", "1"}}, "POST", "/containers/c1/restart", deny, "default"},
        // ALLOW_* need POST=1, as in Tecnativa (it checks POST first).
        {{{"ALLOW_RESTARTS", "1"}}, "POST", "/containers/c1/restart", deny, "switch-POST"},
        {{{"ALLOW_RESTARTS", "1"}, {"POST", "1"}},
         "POST",
         "/v1.41/containers/c1/restart",
         allow,
         "switch-ALLOW_RESTARTS"},
        {{{"ALLOW_RESTARTS", "1"}, {"POST", "1"}},
         "POST",
         "/containers/c1/kill",
         allow,
         "switch-ALLOW_RESTARTS"},
        {{{"ALLOW_RESTARTS", "1"}, {"POST", "1"}}, "POST", "/containers/c1/start", deny, "default"},
        {{{"ALLOW_START", "1"}, {"POST", "1"}},
         "POST",
         "/containers/c1/start",
         allow,
         "switch-ALLOW_START"},
        {{{"ALLOW_STOP", "1"}, {"POST", "1"}},
         "POST",
         "/containers/c1/stop",
         allow,
         "switch-ALLOW_STOP"},
        {{{"ALLOW_STOP", "1"}, {"POST", "1"}}, "POST", "/containers/c1/restart", deny, "default"},
        {{{"EXEC", "1"}, {"POST", "1"}}, "POST", "/exec/e1/start", allow, "switch-EXEC"},
        // A non-boolean value is not a switch; the others still are.
        {{{"VERSION", "1.2.3"}, {"CONTAINERS", "1"}}, "GET", "/version", allow, "switch-VERSION"},
    };
    for (const auto& row : rows) {
        std::string trace;
        for (const auto& [name, value] : row.variables) {
            trace += name + "=" + value + " ";
        }
        SCOPED_TRACE(trace + std::string(row.method) + " " + std::string(row.target));
        const auto switches = policy_from_switches(environment_of(row.variables));
        ASSERT_TRUE(switches.has_value());
        const Decision decision =
            decide(Request{row.method, row.target, "docker"}, Client{}, switches->policy);
        EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
        EXPECT_EQ(decision.rule, row.rule) << decision.message;
    }
}

TEST(PolicySwitchesTest, OffUnlessASwitchIsSetToABoolean) {
    EXPECT_FALSE(policy_from_switches(environment_of({})).has_value());
    EXPECT_FALSE(policy_from_switches(environment_of({{"VERSION", "1.2.3"}})).has_value());
    const auto switches =
        policy_from_switches(environment_of({{"VERSION", "1.2.3"}, {"PING", "1"}}));
    ASSERT_TRUE(switches.has_value());
    EXPECT_EQ(switches->ignored, std::vector<std::string>{"VERSION"});
}

TEST(PolicySwitchesTest, RefusesSwitchesBesideAPolicyFile) {
    try {
        (void)policy_from_switches(
            environment_of({{"CONTAINERS", "1"}, {"SOCKET_PROXY_POLICY", "/p.yaml"}}));
        FAIL() << "no ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_NE(std::string(error.what()).find("not both"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace socket_proxy
