// The Tecnativa-style switches: one table of environments and the decisions they give.
#include "policy_switches.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "environment_of.hpp"

namespace socket_proxy {
namespace {

using test_support::environment_of;
using test_support::Variables;

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

// The LinuxServer fork's LIBPOD_* switches, on Podman's libpod routes under any prefix Podman
// routes. Its sections allow reads only, even with POST=1: libpod write bodies are not checked.
TEST(PolicySwitchesTest, MapsTheLibpodSwitches) {
    constexpr Verdict allow = Verdict::allow;
    constexpr Verdict deny = Verdict::deny;
    const SwitchRow rows[] = {
        {{{"CONTAINERS", "1"}}, "GET", "/libpod/_ping", allow, "switch-LIBPOD_PING"},
        {{{"CONTAINERS", "1"}}, "GET", "/v4.3.1/libpod/version", allow, "switch-LIBPOD_VERSION"},
        {{{"CONTAINERS", "1"}}, "GET", "/v4.3.1/libpod/containers/json", deny, "default"},
        {{{"LIBPOD_PING", "0"}}, "GET", "/libpod/_ping", deny, "default"},
        {{{"LIBPOD_CONTAINERS", "1"}},
         "GET",
         "/v4.3.1/libpod/containers/json",
         allow,
         "switch-LIBPOD_CONTAINERS"},
        {{{"LIBPOD_CONTAINERS", "1"}},
         "GET",
         "/v4.0.0-rc1/libpod/containers/c1/json",
         allow,
         "switch-LIBPOD_CONTAINERS"},
        {{{"LIBPOD_CONTAINERS", "1"}}, "GET", "/v4.3.1/libpod/containersfoo", deny, "default"},
        {{{"LIBPOD_CONTAINERS", "1"}}, "GET", "/v4.3.1/containers/json", deny, "default"},
        // Files and secrets stay refused where the section is on.
        {{{"LIBPOD_CONTAINERS", "1"}},
         "GET",
         "/v4.3.1/libpod/containers/c1/export",
         deny,
         "deny-libpod-container-export"},
        {{{"LIBPOD_CONTAINERS", "1"}},
         "HEAD",
         "/v4x/libpod/containers/c1/archive?path=/",
         deny,
         "deny-libpod-container-archive"},
        {{{"LIBPOD_IMAGES", "1"}},
         "GET",
         "/v4.3.1/libpod/images/export?references=a",
         deny,
         "deny-libpod-images-export"},
        {{{"LIBPOD_IMAGES", "1"}},
         "GET",
         "/v4.3.1/libpod/images/a/json",
         allow,
         "switch-LIBPOD_IMAGES"},
        // A section that exists to read them lifts the denial, as SECRETS=1 does.
        {{{"LIBPOD_SECRETS", "1"}},
         "GET",
         "/v4.3.1/libpod/secrets/json",
         allow,
         "switch-LIBPOD_SECRETS"},
        {{{"LIBPOD_GENERATE", "1"}},
         "GET",
         "/v4.3.1/libpod/generate/kube?names=c1",
         allow,
         "switch-LIBPOD_GENERATE"},
        {{{"LIBPOD_SECRETS", "0"}}, "GET", "/v4.3.1/libpod/secrets/json", deny, "default"},
        // Reads only, whatever POST says.
        {{{"LIBPOD_CONTAINERS", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/containers/create",
         deny,
         "default"},
        {{{"LIBPOD_CONTAINERS", "1"}, {"POST", "1"}},
         "GET",
         "/v4.3.1/libpod/containers/json",
         allow,
         "switch-LIBPOD_CONTAINERS"},
        // Actions, with POST=1 only.
        {{{"LIBPOD_ALLOW_START", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/containers/c1/start",
         allow,
         "switch-LIBPOD_ALLOW_START"},
        {{{"LIBPOD_ALLOW_START", "1"}},
         "POST",
         "/v4.3.1/libpod/containers/c1/start",
         deny,
         "switch-POST"},
        {{{"LIBPOD_ALLOW_RESTARTS", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/containers/c1/kill",
         allow,
         "switch-LIBPOD_ALLOW_RESTARTS"},
        {{{"LIBPOD_ALLOW_RESTARTS", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/containers/c1/exec",
         deny,
         "default"},
        {{{"LIBPOD_ALLOW_POD_PAUSE", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/pods/p1/pause",
         allow,
         "switch-LIBPOD_ALLOW_POD_PAUSE"},
        {{{"LIBPOD_ALLOW_PAUSE", "1"}, {"POST", "1"}},
         "POST",
         "/v4.3.1/libpod/pods/p1/pause",
         deny,
         "default"},
    };
    for (const SwitchRow& row : rows) {
        SCOPED_TRACE(::testing::Message() << row.method << " " << row.target);
        const auto switches = policy_from_switches(environment_of(row.variables));
        ASSERT_TRUE(switches.has_value());
        const Decision decision =
            decide(Request{row.method, row.target, "docker"}, Client{}, switches->policy);
        EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
        EXPECT_EQ(decision.rule, row.rule) << decision.message;
    }
}

}  // namespace
}  // namespace socket_proxy
