// What an allowed write's body may ask for: each row a body the daemon would run, and whether
// the safe defaults (or the row's limits) let it through. The bypass rows are bodies Docker
// 20.10 was seen to read as privileged or bind-mounting: lowercase and folded keys, duplicate
// keys, HostConfig's fields at the top level.
#include "write_body.hpp"

#include <gtest/gtest.h>

#include <string>

#include "policy.hpp"

namespace socket_proxy {
namespace {

struct Row {
    WriteKind kind;
    std::string_view query;
    std::string_view body;
    std::string_view refusal;  // a part of the reason; empty: allowed
};

void expect_rows(const std::vector<Row>& rows, const WriteLimits& limits) {
    for (const Row& row : rows) {
        const auto refusal = refuse_write(row.kind, row.query, row.body, limits);
        if (row.refusal.empty()) {
            EXPECT_FALSE(refusal) << row.body << row.query << "\n  refused: " << *refusal;
        } else {
            ASSERT_TRUE(refusal) << row.body << row.query << " was allowed";
            EXPECT_NE(refusal->find(row.refusal), std::string::npos)
                << row.body << "\n  reason: " << *refusal << "\n  expected: " << row.refusal;
        }
    }
}

constexpr auto create = WriteKind::container_create;

TEST(WriteBodyTest, SafeDefaultsRefuseWhatIsRootOnTheHost) {
    expect_rows(
        {
            {create, "", R"({"Image":"busybox","Cmd":["true"]})", ""},
            {create, "", R"({"Image":"busybox","HostConfig":{"Privileged":false,"CapDrop":["ALL"],
               "SecurityOpt":["no-new-privileges"],"NetworkMode":"bridge","Binds":["data:/data"],
               "Mounts":[{"Type":"tmpfs","Target":"/tmp"},{"Type":"volume","Source":"v","Target":"/v"}]}})",
             ""},
            {create, "", R"({"HostConfig":{"Privileged":true}})",
             "HostConfig.Privileged is true (body.privileged)"},
            {create, "", R"({"HostConfig":{"Binds":["/:/host"]}})",
             "HostConfig.Binds mounts the host path /,"},
            {create, "", R"({"HostConfig":{"Binds":["/var/run/docker.sock:/s:ro"]}})",
             "host path /var/run/docker.sock"},
            {create, "",
             R"({"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}})",
             "HostConfig.Mounts[0].Source mounts the host path /etc"},
            {create, "",
             R"({"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":
               {"Options":{"type":"none","o":"bind","device":"/"}}}}]}})",
             "DriverConfig.Options.device mounts the host path /"},
            {create, "",
             R"({"HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/x"}]}})",
             "not bind, volume or tmpfs"},
            {create, "", R"({"HostConfig":{"PidMode":"host"}})", "HostConfig.PidMode is host"},
            {create, "", R"({"HostConfig":{"NetworkMode":"host"}})", "NetworkMode is host"},
            {create, "", R"({"HostConfig":{"IpcMode":"host"}})", "IpcMode is host"},
            {create, "", R"({"HostConfig":{"UsernsMode":"host"}})", "UsernsMode is host"},
            {create, "", R"({"HostConfig":{"UTSMode":"host"}})", "UTSMode is host"},
            // Docker's own default on cgroup v1 hosts, which inspect reports.
            {create, "", R"({"HostConfig":{"CgroupnsMode":"host"}})", ""},
            {create, "", R"({"HostConfig":{"CapAdd":["SYS_ADMIN"]}})",
             "adds the capability SYS_ADMIN"},
            {create, "", R"({"HostConfig":{"CapAdd":"cap_sys_module"}})",
             "adds the capability cap_sys_module"},
            {create, "", R"({"HostConfig":{"CapAdd":["ALL"]}})", "capability ALL"},
            {create, "", R"({"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda"}]}})",
             "HostConfig.Devices gives the container host devices"},
            {create, "", R"({"HostConfig":{"DeviceCgroupRules":["b *:* rwm"]}})",
             "DeviceCgroupRules"},
            {create, "", R"({"HostConfig":{"DeviceRequests":[{"Count":-1}]}})", "DeviceRequests"},
            {create, "", R"({"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}})",
             "\"seccomp=unconfined\""},
            {create, "", R"({"HostConfig":{"SecurityOpt":["apparmor:unconfined"]}})",
             "apparmor:unconfined"},
            {create, "", R"({"HostConfig":{"SecurityOpt":["label=disable"]}})", "label=disable"},
            {create, "", R"({"HostConfig":{"SecurityOpt":["seccomp={}"]}})", "seccomp={}"},
            {create, "", R"({"HostConfig":{"MaskedPaths":[]}})",
             "MaskedPaths leaves out /proc/asound"},
            {create, "", R"({"HostConfig":{"ReadonlyPaths":["/proc/bus"]}})",
             "ReadonlyPaths leaves out /proc/fs"},
            // The defaults as inspect reports them, which Watchtower sends back: allowed.
            {create, "",
             R"({"HostConfig":{"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore",
               "/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats",
               "/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap"],
               "ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}})",
             ""},
            {create, "", R"({"HostConfig":{"VolumesFrom":["other"]}})", "VolumesFrom"},
            {create, "", R"({"HostConfig":"privileged"})", "HostConfig is not an object"},
        },
        WriteLimits{});
}

TEST(WriteBodyTest, TheDaemonsWaysOfReadingKeysCannotSlipPast) {
    expect_rows(
        {
            // Go matches field names ignoring case, and folds U+017F to s, U+212A to k.
            {create, "", R"({"HostConfig":{"privileged":true}})", "Privileged is true"},
            {create, "", R"({"hostconfig":{"PRIVILEGED":true}})", "Privileged is true"},
            {create, "", "{\"HostConfig\":{\"Bind\xC5\xBF\":[\"/:/h\"]}}", "host path /"},
            {create, "", "{\"HostConfig\":{\"CapAdd\":[\"SYS_MODULE\"],\"\xE2\x84\xAA\":1}}",
             "SYS_MODULE"},
            // The last of two keys wins in Go: two that fold alike are refused outright.
            {create, "", R"({"HostConfig":{"Privileged":false,"Privileged":true}})", "twice"},
            {create, "", R"({"HostConfig":{"Privileged":false,"privileged":true}})", "twice"},
            {create, "", R"({"HostConfig":{},"hostConfig":{"Privileged":true}})", "twice"},
            // Docker 20.10 reads HostConfig's fields at the top level when HostConfig is absent.
            {create, "", R"({"Image":"busybox","Privileged":true})",
             "Privileged is true (body.privileged)"},
            {create, "", R"({"Binds":["/:/host"]})", "Binds mounts the host path /"},
            // Escapes are decoded before names are compared.
            {create, "", R"({"HostConfig":{"Privileg\u0065d":true}})", "Privileged is true"},
            // Not JSON, or not the JSON the daemon expects: refused, never guessed at.
            {create, "", "", "not JSON"},
            {create, "", "{\"HostConfig\":", "not JSON"},
            {create, "", "[]", "not a JSON object"},
            {create, "", R"({"HostConfig":{"Privileged":"yes"}})", "Privileged is true"},
            {create, "", R"({"HostConfig":{"Binds":"/:/h"}})", "not a list of strings"},
            {create, "", "{\"Image\":\"\xff\"}", "not JSON"},
            // null is Go's zero value: nothing is asked for.
            {create, "", R"({"HostConfig":{"Privileged":null,"Binds":null}})", ""},
        },
        WriteLimits{});
}

TEST(WriteBodyTest, LimitsLetThroughWhatTheRuleNames) {
    WriteLimits limits;
    limits.capabilities = {"NET_ADMIN"};
    limits.bind_sources = {"/srv/app"};
    limits.images = {"docker.io/library/busybox", "ghcr.io/me/*"};
    expect_rows(
        {
            {create, "", R"({"Image":"busybox","HostConfig":{"CapAdd":["CAP_NET_ADMIN"],
               "Binds":["/srv/app/data:/data","/srv/app:/app:ro"]}})",
             ""},
            {create, "",
             R"({"Image":"busybox:1.36","HostConfig":{"Binds":["/srv/app/../../etc:/e"]}})",
             "host path /srv/app/../../etc"},
            {create, "", R"({"Image":"busybox","HostConfig":{"Binds":["/srv/application:/a"]}})",
             "/srv/application"},
            {create, "", R"({"Image":"ghcr.io/me/tool@sha256:abc"})", ""},
            {create, "", R"({"Image":"ghcr.io/meanie/tool"})", "not an allowed image"},
            {create, "", R"({"Image":"alpine"})", "is alpine, not an allowed image (body.images)"},
            {create, "", R"({"Cmd":["sh"]})", "names no image"},
            {WriteKind::image_create, "fromImage=busybox&tag=latest", "", ""},
            {WriteKind::image_create, "fromImage=evil%2Fminer", "", "evil/miner"},
        },
        limits);
}

TEST(WriteBodyTest, ExecServicesVolumesPluginsBuildsAndImports) {
    expect_rows(
        {
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"User":"1000"})", ""},
            {WriteKind::exec_create, "", R"({"Cmd":["id"]})", ""},
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"User":"root"})",
             "User is root, the root user (body.exec_root)"},
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"user":"0:0"})", "the root user"},
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"Privileged":true})",
             "Privileged is true"},
            {WriteKind::container_update, "",
             R"({"Memory":1000000,"RestartPolicy":{"Name":"always"}})", ""},
            {WriteKind::service_write, "",
             R"({"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}})",
             "TaskTemplate.ContainerSpec.Mounts[0].Source mounts the host path /"},
            {WriteKind::service_write, "",
             R"({"TaskTemplate":{"ContainerSpec":{"Image":"busybox","CapabilityAdd":["SYS_ADMIN"]}}})",
             "CapabilityAdd adds the capability SYS_ADMIN"},
            {WriteKind::service_write, "",
             R"({"TaskTemplate":{"ContainerSpec":{"Image":"b","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}})",
             "Privileges is set"},
            {WriteKind::service_write, "",
             R"({"TaskTemplate":{"ContainerSpec":{"Image":"b"},"Networks":[{"Target":"host"}]}})",
             "attaches the host network"},
            {WriteKind::service_write, "", R"({"TaskTemplate":{"ContainerSpec":{"Image":"b"}}})",
             ""},
            {WriteKind::volume_create, "", R"({"Name":"v"})", ""},
            {WriteKind::volume_create, "",
             R"({"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}})",
             "DriverOpts.device mounts the host path /etc"},
            {WriteKind::volume_create, "",
             R"({"Name":"v","Driver":"local","DriverOpts":{"device":"/dev/sda1","type":"ext4"}})",
             "/dev/sda1"},
            {WriteKind::plugin_pull, "remote=vieux/sshfs", "[]", ""},
            {WriteKind::plugin_pull, "remote=x", R"([{"Name":"mount","Value":["/"]}])",
             "grants the plugin host privileges"},
            {WriteKind::build, "t=app", "", ""},
            {WriteKind::build, "remote=https://example.com/ctx.tar", "",
             "remote context (body.remote_build)"},
            {WriteKind::build, "networkmode=host", "", "networkmode is host"},
            {WriteKind::build, "remote=a;b", "", "cannot be read unambiguously"},
            {WriteKind::image_create, "fromSrc=-", "", "imports a file system"},
            {WriteKind::image_create, "fromImage=alpine", "", ""},
        },
        WriteLimits{});
}

TEST(WriteBodyTest, WritesAreKnownByTheirRoute) {
    const std::pair<std::string_view, WriteKind> rows[] = {
        {"/containers/create", WriteKind::container_create},
        {"/containers/c1/update", WriteKind::container_update},
        {"/containers/my/app/exec", WriteKind::exec_create},
        {"/services/create", WriteKind::service_write},
        {"/services/s1/update", WriteKind::service_write},
        {"/volumes/create", WriteKind::volume_create},
        {"/plugins/pull", WriteKind::plugin_pull},
        {"/images/create", WriteKind::image_create},
        {"/build", WriteKind::build},
        {"/containers/c1/start", WriteKind::none},
        {"/exec/e1/start", WriteKind::none},
        {"/containers/exec", WriteKind::none},
    };
    for (const auto& [route, kind] : rows) {
        EXPECT_EQ(write_kind("POST", route), kind) << route;
    }
    EXPECT_EQ(write_kind("GET", "/containers/create"), WriteKind::none);
}

TEST(WriteBodyTest, ImageReferencesNameTheirRepository) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"nginx", "docker.io/library/nginx"},
        {"nginx:1.25", "docker.io/library/nginx"},
        {"me/app:2", "docker.io/me/app"},
        {"index.docker.io/me/app", "docker.io/me/app"},
        {"ghcr.io/Me/App@sha256:0123", "ghcr.io/me/app"},
        {"localhost:5000/x/y:z", "localhost:5000/x/y"},
        {"localhost/x", "localhost/x"},
    };
    for (const auto& [reference, repository] : rows) {
        EXPECT_EQ(image_repository(reference), repository) << reference;
    }
}

TEST(WriteBodyTest, DecideAppliesTheLimitsOfTheAllowingRule) {
    Policy policy;
    Rule rule;
    rule.name = "builds";
    rule.verdict = Verdict::allow;
    policy.rules.push_back(rule);
    const Client client;
    Decision decision =
        decide(Request{"POST", "/v1.41/build?remote=https://x/y", "d"}, client, policy);
    EXPECT_FALSE(decision.allowed());
    EXPECT_NE(decision.message.find("remote context"), std::string::npos) << decision.message;
    decision = decide(Request{"POST", "/v1.41/build?t=x", "d", true}, client, policy);
    EXPECT_FALSE(decision.allowed()) << "a form body overrides the query the proxy checked";
    decision = decide(Request{"POST", "/v1.41/containers/create", "d"}, client, policy);
    EXPECT_TRUE(decision.allowed());
    EXPECT_EQ(decision.write, WriteKind::container_create);
    policy.rules.front().body = WriteLimits{};
    policy.rules.front().body->remote_build = true;
    decision = decide(Request{"POST", "/build?remote=https://x/y", "d"}, client, policy);
    EXPECT_TRUE(decision.allowed()) << decision.message;
}

}  // namespace
}  // namespace socket_proxy
