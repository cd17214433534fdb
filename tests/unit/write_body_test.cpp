// What an allowed write's body may ask for: each row a body the daemon would run, and whether
// the safe defaults (or the row's limits) let it through. The bypass rows are bodies Docker
// 20.10 was seen to read as privileged or bind-mounting: lowercase and folded keys, duplicate
// keys, HostConfig's fields at the top level.
#include "write_body.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
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
            {create, "", R"({"HostConfig":{"Links":["db:db"]}})", "Links"},
            {create, "", R"({"links":["db:db"]})", "Links"},
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
    limits.bind_sources = {"/srv/app/**", "/srv/data"};
    limits.images = {"docker.io/library/busybox", "ghcr.io/me/*"};
    expect_rows(
        {
            {create, "", R"({"Image":"busybox","HostConfig":{"CapAdd":["CAP_NET_ADMIN"],
               "Binds":["/srv/app/data:/data:ro","/srv/app:/app:z,ro","/srv/data:/d"]}})",
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
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"User":"+0"})", "User is +0, the root"},
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"User":":"})", "the root user"},
            {WriteKind::exec_create, "", R"({"Cmd":["id"],"User":""})", ""},
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

// Each value below was run on Docker 20.10 (exec, then `id -u`): see exec_user_is_root().
TEST(WriteBodyTest, ExecUsersAreReadAsTheEngineReadsThem) {
    const std::pair<std::string_view, bool> rows[] = {
        {"0", true},
        {"root", true},
        {"+0", true},
        {"-0", true},
        {"00", true},
        {"+00", true},
        {"000000000000000000000000000000", true},
        {"0:0", true},
        {":0", true},
        {":", true},
        {"::", true},
        {"::5", true},
        {"0:", true},
        {"root:", true},
        {"+0:+0", true},
        {"0:0:0", true},
        {"", false},  // the container's own user, decided at create
        {"1000", false},
        {"+1000", false},
        {"0000000000000000000000000000001000", false},
        {"1000:0", false},  // uid 1000, group 0
        {"nobody", false},
        {"ROOT", false},
        {" 0", false},
        {"0 ", false},
        {"0x0", false},
        {"+", false},
        {"-", false},
        {"+-0", false},
        {"9223372036854775808", false},   // overflows: a name, not found
        {"-9223372036854775808", false},  // in range, not 0
        {"-1", false},
    };
    for (const auto& [user, root] : rows) {
        EXPECT_EQ(exec_user_is_root(user), root) << '"' << user << '"';
    }
    EXPECT_EQ(go_atoi("9223372036854775807"), std::optional<std::int64_t>(INT64_MAX));
    EXPECT_EQ(go_atoi("-9223372036854775808"), std::optional<std::int64_t>(INT64_MIN));
    EXPECT_EQ(go_atoi("9223372036854775808"), std::nullopt);
    EXPECT_EQ(go_atoi("-9223372036854775809"), std::nullopt);
    EXPECT_EQ(go_atoi("-0012"), std::optional<std::int64_t>(-12));
    EXPECT_EQ(go_atoi(""), std::nullopt);
    EXPECT_EQ(go_atoi("1_000"), std::nullopt);
}

constexpr auto start = WriteKind::container_start;

TEST(WriteBodyTest, AStartBodyIsAHostConfig) {
    WriteLimits limits;
    limits.bind_sources = {"/srv/app"};
    limits.images = {"docker.io/library/busybox"};
    expect_rows(
        {
            {start, "", "", ""},
            // At most 7 bytes: the engine does not read it.
            {start, "", "{}", ""},
            {start, "", "null", ""},
            {start, "", "garbage", ""},
            {start, "", "garbage!", "not JSON"},
            {start, "", R"({"Privileged":true,"Binds":["/:/host"]})",
             "Privileged is true (body.privileged)"},
            {start, "", R"({"Binds":["/:/host"]})", "Binds mounts the host path /,"},
            {start, "", R"({"HostConfig":{"PidMode":"host"}})", "HostConfig.PidMode is host"},
            {start, "", R"({"privileged":false,"PRIVILEGED":true})", "twice"},
            {start, "", R"({"Binds":["/srv/app:/data"],"NetworkMode":"none"})", ""},
            // A start names no image: the images limit is create's.
            {start, "", R"({"CapDrop":["ALL"]})", ""},
        },
        limits);
}

TEST(WriteBodyTest, VolumeOptionsNameHostPathsForEveryType) {
    WriteLimits limits;
    limits.bind_sources = {"/srv/app/**"};
    const auto volume = [](std::string_view options) {
        return R"({"Name":"v","DriverOpts":)" + std::string(options) + "}";
    };
    const auto mount = [](std::string_view options) {
        return R"({"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":)"
               R"({"DriverConfig":{"Options":)" +
               std::string(options) + "}}}]}}";
    };
    const std::string bodies[] = {
        volume(R"({"type":"overlay","device":"overlay","o":"lowerdir=/etc:/srv/app/data"})"),
        volume(
            R"({"type":"overlay","device":"/srv/app","o":"lowerdir=/srv/app/l,upperdir=/tmp/u,workdir=/srv/app/w"})"),
        volume(R"({"type":"overlay","o":"lowerdir=/srv/app/l,workdir=/var/w"})"),
        volume(R"({"type":"overlay","o":"lowerdir=etc,upperdir=/srv/app/u,workdir=/srv/app/w"})"),
        volume(R"({"type":"overlay","o":"lowerdir=/srv/app/a\\:/etc"})"),
        volume(R"({"type":"overlay","o":"lowerdir+=/etc"})"),
        volume(R"({"type":"none","device":"/srv/app/../../etc","o":"rbind,ro"})"),
        volume(R"({"type":"xfs","device":"/dev/sdb1"})"),
        volume(R"({"type":"ext4","device":"/srv/app/disk","o":"journal_path=/dev/sda2"})"),
        volume(R"({"type":"proc","device":"proc"})"),
        volume(R"({"type":"sysfs","device":"/srv/app"})"),
        volume(R"({"type":"NFS","device":":/export","o":"addr=10.0.0.1"})"),
        volume(R"({"type":"cifs","device":"//srv/app"})"),
        mount(R"({"type":"overlay","device":"overlay","o":"lowerdir=/etc"})"),
        mount(R"({"type":"nfs4","device":":/","o":"addr=127.0.0.1"})"),
    };
    const std::string_view refusals[] = {
        "DriverOpts.o lowerdir mounts the host path /etc, which is not one of the allowed",
        "DriverOpts.o upperdir mounts the host path /tmp/u",
        "DriverOpts.o workdir mounts the host path /var/w",
        "DriverOpts.o lowerdir mounts the host path etc",
        "a path with escapes",
        "lowerdir+ mounts the host path /etc",
        "DriverOpts.device mounts the host path /srv/app/../../etc",
        "DriverOpts.device mounts the host path /dev/sdb1",
        "journal_path mounts the host path /dev/sda2",
        "DriverOpts.type is proc, a file system the proxy cannot tell",
        "(body.privileged)",
        "DriverOpts.type is nfs, a network file system",
        "(body.remote_mounts)",
        "Mounts[0].VolumeOptions.DriverConfig.Options.o lowerdir mounts the host path /etc",
        "Options.type is nfs4",
    };
    for (std::size_t i = 0; i < std::size(bodies); ++i) {
        const WriteKind kind =
            bodies[i].starts_with(R"({"Name")") ? WriteKind::volume_create : create;
        const auto refusal = refuse_write(kind, "", bodies[i], limits);
        ASSERT_TRUE(refusal) << bodies[i] << " was allowed";
        EXPECT_NE(refusal->find(refusals[i]), std::string::npos)
            << bodies[i] << "\n  reason: " << *refusal << "\n  expected: " << refusals[i];
    }
    expect_rows(
        {
            // Overlay only reads its lower layers; what it writes needs exact entries (below).
            {WriteKind::volume_create, "",
             volume(
                 R"({"type":"overlay","device":"overlay","o":"lowerdir=/srv/app/a:/srv/app/b,upperdir=/srv/app/u,workdir=/srv/app/w"})"),
             "upperdir mounts the host path /srv/app/u writable, below an entry"},
            {WriteKind::volume_create, "",
             volume(R"({"type":"tmpfs","device":"tmpfs","o":"size=64m,uid=1000"})"), ""},
            {WriteKind::volume_create, "",
             volume(R"({"type":"none","device":"/srv/app/data","o":"bind,ro"})"), ""},
            {WriteKind::volume_create, "",
             volume(R"({"type":"none","device":"/srv/app/data","o":"bind"})"),
             "device mounts the host path /srv/app/data writable"},
            {WriteKind::volume_create, "",
             volume(R"({"type":"tmpfs","device":"/srv/app","o":"bind,ro"})"), ""},
            {WriteKind::volume_create, "",
             volume(R"({"type":"ext4","device":"/srv/app/dev","o":"ro"})"), ""},
            {WriteKind::volume_create, "",
             R"({"Name":"v","Driver":"rexray","DriverOpts":{"size":"1"}})", ""},
        },
        limits);
    limits.bind_sources = {"/srv/app/lower/**", "/srv/app/upper", "/srv/app/work"};
    expect_rows({{WriteKind::volume_create, "",
                  volume(R"({"type":"overlay","device":"overlay","o":"lowerdir=/srv/app/lower/)"
                         R"(a,upperdir=/srv/app/upper,workdir=/srv/app/work"})"),
                  ""}},
                limits);
    limits.remote_mounts = true;
    expect_rows(
        {{WriteKind::volume_create, "",
          volume(R"({"type":"nfs","device":":/export","o":"addr=10.0.0.1,nfsvers=4"})"), ""},
         {WriteKind::volume_create, "",
          volume(R"({"type":"cifs","device":"//nas/share","o":"credentials=/root/.smb"})"),
          "credentials mounts the host path /root/.smb"}},
        limits);
}

// The kernel follows symlinks in a mount's source, and a container with a writable mount can
// plant one. So an entry admits exactly itself, "DIR/**" only read-only mounts below DIR, and
// no entry contains another.
TEST(WriteBodyTest, NoMountTheProxyAllowsCanFollowAPlantedSymlink) {
    WriteLimits limits;
    limits.bind_sources = {"/srv/app", "/srv/shared/**"};
    const auto binds = [](std::string_view list) {
        return R"({"HostConfig":{"Binds":[)" + std::string(list) + "]}}";
    };
    const auto bind_mount = [](std::string_view source, std::string_view read_only) {
        return R"({"HostConfig":{"Mounts":[{"Type":"bind","Source":")" + std::string(source) +
               R"(","Target":"/x","ReadOnly":)" + std::string(read_only) + "}]}}";
    };
    expect_rows(
        {
            {create, "", binds(R"("/srv/app:/app")"), ""},
            {create, "", binds(R"("/srv/app/:/app:rw")"), ""},
            // Below an exact entry: /srv/app/link may be what a container with /srv/app
            // planted.
            {create, "", binds(R"("/srv/app/link:/host:ro")"),
             "/srv/app/link, which is not one of the allowed host paths"},
            {create, "", binds(R"("/srv/shared/link:/host:ro")"), ""},
            {create, "", binds(R"("/srv/shared:/host:ro")"), ""},
            {create, "", binds(R"("/srv/shared/link:/host")"),
             "/srv/shared/link writable, below an entry that admits read-only mounts only"},
            {create, "", binds(R"("/srv/shared/link:/host:rw")"), "writable"},
            {create, "", binds(R"("/srv/shared/x:/host:roo")"), "writable"},
            {create, "", binds(R"("/srv/shared/./x:/host:ro")"), "not one of the allowed"},
            {create, "", binds(R"("/srv/shared/x:/a:b:ro")"), "src:dst[:mode]"},
            {create, "", bind_mount("/srv/shared/x", "true"), ""},
            {create, "", bind_mount("/srv/shared/x", "false"), "writable"},
            {create, "", bind_mount("/srv/shared/x", R"("true")"), "writable"},
            {create, "", bind_mount("/srv/app", "false"), ""},
        },
        limits);
    EXPECT_FALSE(bind_sources_problem({"/srv/app", "/srv/shared/**", "/data"}));
    EXPECT_FALSE(bind_sources_problem({"/**"}));
    WriteLimits everything_read_only;
    everything_read_only.bind_sources = {"/**"};
    expect_rows({{create, "", binds(R"("/etc:/e:ro")"), ""},
                 {create, "", binds(R"("/:/host:ro")"), ""},
                 {create, "", binds(R"("/etc:/e")"), "writable, below an entry"}},
                everything_read_only);
    for (const std::vector<std::string>& nested :
         {std::vector<std::string>{"/srv/app", "/srv/app/data"},
          std::vector<std::string>{"/srv/app/data/**", "/srv/app"},
          std::vector<std::string>{"/srv/**", "/srv/app/data"},
          std::vector<std::string>{"/srv/app", "/srv/app/**"},
          std::vector<std::string>{"/**", "/srv"}}) {
        const auto problem = bind_sources_problem(nested);
        ASSERT_TRUE(problem) << nested[0] << " " << nested[1];
        EXPECT_NE(problem->find("lies within"), std::string::npos) << *problem;
    }
    EXPECT_TRUE(bind_sources_problem({"/srv/../etc"}));
    EXPECT_TRUE(bind_sources_problem({"srv"}));
}

TEST(WriteBodyTest, BorrowedNamespacesNeedHostNamespaces) {
    WriteLimits limits;
    expect_rows(
        {
            // Without the engine's word (judge_write alone) a borrowed namespace is refused.
            {create, "", R"({"HostConfig":{"NetworkMode":"container:agent"}})",
             "HostConfig.NetworkMode names agent, which only the engine can resolve "
             "(body.host_namespaces)"},
            {create, "", R"({"HostConfig":{"IpcMode":"Container:agent"}})",
             "IpcMode is Container:"},
            {create, "", R"({"HostConfig":{"UTSMode":"container:agent"}})",
             "UTSMode is container:"},
            {create, "", R"({"HostConfig":{"UsernsMode":"container:agent"}})",
             "UsernsMode is container:"},
            {create, "",
             R"({"HostConfig":{"NetworkMode":"my-net","IpcMode":"shareable","PidMode":""}})", ""},
            {WriteKind::build, "networkmode=container:agent", "", "networkmode is container:agent"},
        },
        limits);
    limits.host_namespaces = true;
    expect_rows({{create, "", R"({"HostConfig":{"NetworkMode":"container:agent"}})", ""}}, limits);
}

// The session asks the engine about each container whose namespace a body joins, wherever the
// engine reads the mode from, and judges X's own mode from its inspect answer.
TEST(WriteBodyTest, BorrowedNamespacesAreQuestionsForTheEngine) {
    const WriteJudgement judged = judge_write_body(
        create, "",
        R"({"NetworkMode":"container:top","HostConfig":{"NetworkMode":"container:agent",
            "PidMode":"container:0123abc","IpcMode":"container:agent"}})",
        WriteLimits{});
    ASSERT_FALSE(judged.refusal) << judged.refusal->reason;
    std::vector<std::string> asked;
    for (const EngineReference& reference : judged.references) {
        asked.push_back(reference.where + " " + reference.name + " " + reference.mode + " " +
                        reference_target(reference));
    }
    EXPECT_EQ(asked, (std::vector<std::string>{
                         "NetworkMode top NetworkMode /containers/top/json",
                         "HostConfig.NetworkMode agent NetworkMode /containers/agent/json",
                         "HostConfig.PidMode 0123abc PidMode /containers/0123abc/json",
                         "HostConfig.IpcMode agent IpcMode /containers/agent/json"}));

    const EngineReference network_of{EngineReference::Kind::namespace_owner,
                                     "HostConfig.NetworkMode", "agent", "NetworkMode"};
    const auto inspect = [](std::string_view mode) {
        return R"({"Id":"ab","HostConfig":{"NetworkMode":")" + std::string(mode) + R"("}})";
    };
    EXPECT_FALSE(judge_reference(network_of, 200, inspect("bridge")));
    EXPECT_FALSE(judge_reference(network_of, 200, inspect("my-net")));
    const auto host = judge_reference(network_of, 200, inspect("host"));
    ASSERT_TRUE(host);
    EXPECT_EQ(host->status, 403);
    EXPECT_NE(host->reason.find("NetworkMode is the host's"), std::string::npos) << host->reason;
    EXPECT_NE(host->reason.find("(body.host_namespaces)"), std::string::npos);
    EXPECT_TRUE(judge_reference(network_of, 200, inspect("container:0123")));
    EXPECT_EQ(judge_reference(network_of, 404, "")->status, 403);
    EXPECT_EQ(judge_reference(network_of, 200, R"({"HostConfig":{}})")->status, 502);
    EXPECT_EQ(judge_reference(network_of, 200, "not json")->status, 502);
}

// A container renamed to the borrowed name between the question and the create must not be
// the one joined: the forwarded body names the container the engine described, by its id.
TEST(WriteBodyTest, BorrowedNamespacesAreForwardedPinnedToTheIdsTheEngineGave) {
    const std::string id(64, 'a');
    const std::string body =
        R"({"Image":"b","NetworkMode":"container:agent","HostConfig":{"PidMode":"container:agent",
            "IpcMode":"shareable","Memory":1.5e3,"Labels":{"k":"container:agent"}}})";
    const WriteJudgement judged = judge_write_body(create, "", body, WriteLimits{});
    ASSERT_EQ(judged.references.size(), 2U);
    std::vector<std::pair<EngineReference, std::string>> resolved;
    for (const EngineReference& reference : judged.references) {
        resolved.emplace_back(reference, id);
    }
    const std::optional<std::string> pinned = pin_borrowed_namespaces(body, resolved);
    ASSERT_TRUE(pinned);
    EXPECT_EQ(*pinned,
              R"({"Image":"b","NetworkMode":"container:)" + id +
                  R"(","HostConfig":{"PidMode":"container:)" + id +
                  R"(","IpcMode":"shareable","Memory":1.5E3,"Labels":{"k":"container:agent"}}})"
                  "\n");
    // The pinned body is judged as the original was: only the names changed.
    EXPECT_EQ(judge_write_body(create, "", *pinned, WriteLimits{}).references.size(), 2U);
    resolved.front().first.name = "other";
    EXPECT_FALSE(pin_borrowed_namespaces(body, resolved));
}

TEST(WriteBodyTest, ServiceNetworksAreResolvedByTheEngine) {
    const WriteJudgement judged = judge_write_body(
        WriteKind::service_write, "",
        R"({"TaskTemplate":{"ContainerSpec":{"Image":"b"},"Networks":[{"Target":"8d1e"}]},
            "Networks":[{"Target":"front"}]})",
        WriteLimits{});
    ASSERT_FALSE(judged.refusal) << judged.refusal->reason;
    ASSERT_EQ(judged.references.size(), 2U);
    EXPECT_EQ(reference_target(judged.references[0]), "/networks/8d1e");
    EXPECT_EQ(reference_target(judged.references[1]), "/networks/front");
    const EngineReference& network = judged.references[0];
    EXPECT_FALSE(
        judge_reference(network, 200, R"({"Name":"front","Id":"8d1e","Driver":"overlay"})"));
    EXPECT_TRUE(judge_reference(network, 200, R"({"Name":"host","Id":"8d1e","Driver":"host"})"));
    EXPECT_TRUE(judge_reference(network, 200, R"({"Name":"h2","Id":"8d1e","Driver":"host"})"));
    EXPECT_TRUE(judge_reference(network, 404, R"({"message":"network 8d1e not found"})"));
    WriteLimits host;
    host.host_namespaces = true;
    EXPECT_TRUE(judge_write_body(WriteKind::service_write, "",
                                 R"({"TaskTemplate":{"Networks":[{"Target":"8d1e"}]}})", host)
                    .references.empty());
}

TEST(WriteBodyTest, ServiceSecretsAndConfigsAreNamedByTheRule) {
    WriteLimits limits;
    const auto service = [](std::string_view spec) {
        return R"({"TaskTemplate":{"ContainerSpec":{"Image":"b",)" + std::string(spec) + "}}}";
    };
    constexpr auto write = WriteKind::service_write;
    expect_rows(
        {
            {write, "", service(R"("Secrets":[{"SecretID":"x1","SecretName":"db"}])"),
             "ContainerSpec.Secrets[0] mounts db, which is not allowed (body.secrets)"},
            {write, "", service(R"("Configs":[{"ConfigID":"c1","ConfigName":"nginx"}])"),
             "ContainerSpec.Configs[0] mounts nginx, which is not allowed (body.configs)"},
            {write, "", service(R"("Secrets":[],"Configs":null)"), ""},
            {write, "", service(R"("Secrets":{"SecretName":"db"})"), "Secrets is not a list"},
        },
        limits);
    limits.secrets = {"db"};
    limits.configs = {"nginx"};
    expect_rows(
        {
            {write, "",
             service(
                 R"("Secrets":[{"SecretID":"x1","secretname":"db"}],"Configs":[{"ConfigName":"nginx"}])"),
             ""},
            {write, "",
             service(R"("Secrets":[{"SecretID":"x1","SecretName":"db"},{"SecretID":"x2"}])"),
             "Secrets[1] names no SecretName"},
            {write, "", service(R"("Secrets":[{"SecretName":"DB"}])"), "mounts DB"},
        },
        limits);
}

TEST(WriteBodyTest, BodiesTooDeepOrWideAreRefusedWithTheirStatus) {
    const WriteLimits limits;
    const auto status_of = [&](WriteKind kind, const std::string& body) {
        const auto refusal = judge_write(kind, "", body, limits);
        return refusal ? refusal->status : 0;
    };
    const auto nested = [](std::size_t depth) {
        return R"({"Labels":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
    };
    EXPECT_EQ(status_of(create, nested(max_body_depth)), 0);
    EXPECT_EQ(status_of(create, nested(max_body_depth + 1)), 400);
    const auto refusal = judge_write(create, "", nested(max_body_depth + 1), limits);
    ASSERT_TRUE(refusal);
    EXPECT_NE(refusal->reason.find("nests deeper than 64 levels"), std::string::npos)
        << refusal->reason;
    const auto labels = [](std::size_t count, bool alike) {
        std::string body = R"({"Labels":{)";
        for (std::size_t i = 0; i < count; ++i) {
            const std::string key = alike && i == count - 1 ? "K0" : "k" + std::to_string(i);
            body += (i ? R"(,")" : R"(")") + key + R"(":"")";
        }
        return body + "}}";
    };
    EXPECT_EQ(status_of(create, labels(max_object_keys, false)), 0);
    EXPECT_EQ(status_of(create, labels(max_object_keys + 1, false)), 413);
    EXPECT_EQ(status_of(create, labels(100, true)), 403);
    EXPECT_EQ(status_of(create, R"({"HostConfig":{"Privileged":true}})"), 403);
    // Keys that fold alike are found wherever they are in the object, not only when adjacent.
    EXPECT_EQ(status_of(create, R"({"a":1,"Privileged":false,"b":{"x":1,"X":2},"c":3})"), 403);
    EXPECT_EQ(status_of(create, R"({"a":{"x":1},"b":{"x":1},"A":2})"), 403);
    EXPECT_EQ(status_of(create, R"({"a":{"x":1},"b":{"x":1}})"), 0);
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
        {"/containers/c1/start", WriteKind::container_start},
        {"/containers/my/app/start", WriteKind::container_start},
        {"/containers/start", WriteKind::none},
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
