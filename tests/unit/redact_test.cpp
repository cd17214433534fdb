// Secrets in daemon answers: which routes are rewritten, and what the rewrite keeps.
#include "redact.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "label_scope.hpp"

namespace socket_proxy {
namespace {

namespace json = boost::json;

TEST(RedactTest, RoutesThatCarrySecrets) {
    for (const std::string_view route : {"/containers/c1/json",
                                         "/containers/my/app/json",
                                         "/images/alpine/json",
                                         "/images/registry:5000/org/app:1.0/json",
                                         "/services",
                                         "/services/s1",
                                         "/tasks",
                                         "/tasks/t1",
                                         "/plugins",
                                         "/plugins/vieux/sshfs/json",
                                         "/swarm",
                                         "/images/alpine/history",
                                         "/images/myorg/app:1/history",
                                         "/volumes",
                                         "/volumes/v1",
                                         "/libpod/containers/c1/json",
                                         "/libpod/images/myorg/app/json",
                                         "/libpod/images/myorg/app/history",
                                         "/libpod/volumes/json",
                                         "/libpod/volumes/v1/json"}) {
        EXPECT_TRUE(route_carries_secrets(route)) << route;
    }
    for (const std::string_view route :
         {"/containers/json", "/images/json", "/info", "/version", "/containers/c1/logs",
          "/services/s1/logs", "/swarm/x", "/networks", "/_ping", "/images/history",
          "/libpod/containers/json", "/libpod/images/json", "/libpod/info",
          "/libpod/volumes/v1/exists", "/libpod/pods/p1/json", "/volumes/"}) {
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

// Measured on Docker 20.10's legacy builder and read from BuildKit's dockerfile2llb: history
// and ContainerConfig.Cmd write the values unquoted, so a value with a space runs on.
TEST(RedactTest, BuildStepsLoseTheirValues) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"/bin/sh -c #(nop)  ENV X_SECRET=envsecret1 PLAIN=two words",
         "/bin/sh -c #(nop)  ENV X_SECRET=<redacted> PLAIN=<redacted>"},
        {"/bin/sh -c #(nop)  ENV Y=a", "/bin/sh -c #(nop)  ENV Y=<redacted>"},
        {"/bin/sh -c #(nop)  ARG TOKEN=argdefault", "/bin/sh -c #(nop)  ARG TOKEN=<redacted>"},
        {"/bin/sh -c #(nop)  ARG TOKEN", "/bin/sh -c #(nop)  ARG TOKEN"},
        {"/bin/sh -c #(nop)  ARG A B=1 C", "/bin/sh -c #(nop)  ARG A B=<redacted>"},
        {"|1 TOKEN=buildargsecret /bin/sh -c echo \"$TOKEN\" > /dev/null",
         "|1 TOKEN=<redacted> /bin/sh -c echo \"$TOKEN\" > /dev/null"},
        {"|2 A=x y B=z /bin/sh -c make", "|2 A=<redacted> B=<redacted> /bin/sh -c make"},
        // A value that reads like another NAME=: the count no longer holds, all of it goes.
        {"|1 A=x Y=z /bin/sh -c make", "|1 <redacted> /bin/sh -c make"},
        {"|1 =x /bin/sh -c make", "|1 <redacted> /bin/sh -c make"},
        // Another shell: where the values end cannot be told, so the command goes too.
        {"|1 A=x /bin/bash -c make", "|1 A=<redacted> <redacted>"},
        {"|2 A=x y /bin/bash -c make", "|2 <redacted>"},
        {"|0 /bin/sh -c make", "|0 /bin/sh -c make"},
        // BuildKit.
        {"ENV X=value Y=two words", "ENV X=<redacted> Y=<redacted>"},
        {"ARG TOKEN=default", "ARG TOKEN=<redacted>"},
        {"RUN |1 TOKEN=x /bin/sh -c make # buildkit",
         "RUN |1 TOKEN=<redacted> /bin/sh -c make # buildkit"},
        {"RUN /bin/sh -c make # buildkit", "RUN /bin/sh -c make # buildkit"},
        {"ONBUILD ENV A=1", "ONBUILD ENV A=<redacted>"},
        {"/bin/sh -c #(nop)  ONBUILD env A b c", "/bin/sh -c #(nop)  ONBUILD env A <redacted>"},
        // What is not a build step's value stays.
        {"/bin/sh -c #(nop)  LABEL a=b", "/bin/sh -c #(nop)  LABEL a=b"},
        {"/bin/sh -c #(nop) ADD file:abc in / ", "/bin/sh -c #(nop) ADD file:abc in / "},
        {"/bin/sh -c apk add curl", "/bin/sh -c apk add curl"},
        {"", ""},
        {"ENV", "ENV"},
    };
    for (const auto& [step, expected] : rows) {
        EXPECT_EQ(redact_build_step(step), expected) << step;
    }
}

TEST(RedactTest, HistoryAndInspectBuildSteps) {
    const json::value history = redacted(R"([
        {"Id": "sha256:1", "CreatedBy": "/bin/sh -c #(nop)  ENV X=envsecret1", "Size": 0},
        {"Id": "<missing>", "CreatedBy": "|1 TOKEN=buildargsecret /bin/sh -c true"}])");
    EXPECT_EQ(history.at(0).at("CreatedBy"), "/bin/sh -c #(nop)  ENV X=<redacted>");
    EXPECT_EQ(history.at(1).at("CreatedBy"), "|1 TOKEN=<redacted> /bin/sh -c true");
    EXPECT_EQ(history.at(0).at("Id"), "sha256:1");

    const json::value image = redacted(R"({
        "ContainerConfig": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV X=envsecret1 P=a b"]},
        "Config": {"Cmd": ["|2", "A=1", "B=2", "/bin/sh", "-c", "make"],
                   "OnBuild": ["ENV K=onbuildsecret", "RUN make"]},
        "History": [{"created_by": "/bin/sh -c #(nop)  ARG T=podman", "empty_layer": true}]})");
    EXPECT_EQ(image.at("ContainerConfig").at("Cmd"),
              json::parse(R"(["/bin/sh", "-c", "#(nop) ", "ENV X=<redacted> P=<redacted>"])"));
    EXPECT_EQ(image.at("Config").at("Cmd"),
              json::parse(R"(["|2", "A=<redacted>", "B=<redacted>", "/bin/sh", "-c", "make"])"));
    EXPECT_EQ(image.at("Config").at("OnBuild"), json::parse(R"(["ENV K=<redacted>", "RUN make"])"));
    EXPECT_EQ(image.at("History").at(0).at("created_by"), "/bin/sh -c #(nop)  ARG T=<redacted>");

    const json::value container = redacted(R"({"Config": {"Cmd": ["sleep", "600"]}})");
    EXPECT_EQ(container.at("Config").at("Cmd"), json::parse(R"(["sleep", "600"])"));
}

TEST(RedactTest, MountOptionsKeepOnlyWhatIsKnownHarmless) {
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"username=svc,password=hunter2,addr=127.0.0.1,vers=3.0",
         "username=<redacted>,password=<redacted>,addr=127.0.0.1,vers=3.0"},
        {"pass=x,credentials=/root/.smb,domain=CORP,sec=ntlmssp",
         "pass=<redacted>,credentials=<redacted>,domain=<redacted>,sec=ntlmssp"},
        {"bind,ro", "bind,ro"},
        {"addr=10.0.0.1,nolock,soft,rw", "addr=10.0.0.1,nolock,soft,rw"},
        // mount.cifs escapes a comma in a value as ",,": the tail is no flag.
        {"password=abc,,def,uid=1000", "password=<redacted>,,<redacted>,uid=1000"},
        {"hunter2", "<redacted>"},
        {"=x,weird key=y", "<redacted>,<redacted>"},
        {"", ""},
    };
    for (const auto& [options, expected] : rows) {
        EXPECT_EQ(redact_mount_options(options), expected) << options;
    }
}

TEST(RedactTest, VolumeAndMountDriverOptions) {
    const json::value volumes = redacted(R"({"Volumes": [{"Name": "v", "Driver": "local",
        "Options": {"type": "cifs", "device": "//127.0.0.1/x",
                    "o": "username=svc,password=hunter2"}},
        {"Name": "s", "Driver": "vieux/sshfs", "Options": {"sshcmd": "u@h:/p",
                                                           "password": "p", "n": null}}],
        "Warnings": null})");
    const json::value& cifs = volumes.at("Volumes").at(0).at("Options");
    EXPECT_EQ(cifs, json::parse(R"({"type": "cifs", "device": "//127.0.0.1/x",
                                    "o": "username=<redacted>,password=<redacted>"})"));
    EXPECT_EQ(volumes.at("Volumes").at(1).at("Options"),
              json::parse(R"({"sshcmd": "<redacted>", "password": "<redacted>", "n": null})"));
    EXPECT_EQ(volumes.at("Volumes").at(0).at("Name"), "v");

    const json::value inspect = redacted(R"({"HostConfig": {"Mounts": [{"Type": "volume",
        "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "cifs",
        "o": "username=svc,password=hunter2", "device": {"odd": "shape"}}}}}]}})");
    EXPECT_EQ(inspect.at("HostConfig").at("Mounts").at(0).at("VolumeOptions").at("DriverConfig"),
              json::parse(R"({"Name": "local", "Options": {"type": "cifs",
                  "o": "username=<redacted>,password=<redacted>", "device": "<redacted>"}})"));
}

TEST(RedactTest, LogDriverOptionsKeepHarmlessKeys) {
    const json::value inspect = redacted(R"({"HostConfig": {"LogConfig": {"Type": "splunk",
        "Config": {"splunk-token": "tok-hunter2", "splunk-url": "https://u:p@h:8088",
                   "splunk-index": "main", "max-size": "1m", "env": "DB_PASSWORD",
                   "labels": "a,b", "made-up": "x"}}}})");
    EXPECT_EQ(inspect.at("HostConfig").at("LogConfig"),
              json::parse(R"({"Type": "splunk", "Config": {"splunk-token": "<redacted>",
                  "splunk-url": "<redacted>", "splunk-index": "main", "max-size": "1m",
                  "env": "DB_PASSWORD", "labels": "a,b", "made-up": "<redacted>"}})"));

    const json::value service = redacted(R"([{"Spec": {"TaskTemplate": {"LogDriver": {
        "Name": "awslogs", "Options": {"awslogs-region": "eu-west-1",
        "awslogs-credentials-endpoint": "/creds", "max-file": "3"}}}}}])");
    EXPECT_EQ(service.at(0).at("Spec").at("TaskTemplate").at("LogDriver"),
              json::parse(R"({"Name": "awslogs", "Options": {"awslogs-region": "eu-west-1",
                  "awslogs-credentials-endpoint": "<redacted>", "max-file": "3"}})"));

    // Podman's LogConfig has no Config when no option was given.
    const json::value podman = redacted(R"({"HostConfig": {"LogConfig": {"Type": "k8s-file",
        "Config": null, "Path": "/x/ctr.log", "Tag": "", "Size": "1MB"}}})");
    EXPECT_EQ(podman.at("HostConfig").at("LogConfig").at("Path"), "/x/ctr.log");
}

// Found by daemon_answer_fuzz: a log driver's other members were walked without their keys, so
// an Env inside one kept its values.
TEST(RedactTest, KeysInsideALogDriverStillCount) {
    const json::value inspect = redacted(R"([{"LogDriver": {"Name": "x",
        "Env": ["A=hunter2", {"Name": "B", "Value": "hunter3"}], "Cmd": ["|1", "T=hunter4", "sh"]}}])");
    EXPECT_EQ(inspect.at(0).at("LogDriver"),
              json::parse(R"({"Name": "x", "Env": ["A=<redacted>", {"Name": "B",
                  "Value": "<redacted>"}], "Cmd": ["|1", "T=<redacted>", "sh"]})"));
}

// Measured on podman 4.3: Config.CreateCommand is the command line, global options included.
TEST(RedactTest, PodmanCreateCommand) {
    const json::value inspect = redacted(R"({"Config": {"CreateCommand": ["podman",
        "--root", "/tmp/s", "run", "-d", "--name", "pc1", "-e", "DB_PASSWORD=hunter2",
        "--env", "A=b", "--env=C=d", "-eE=F", "-e=G=H", "-de", "I=J", "-e", "HOST_ONLY",
        "--env-merge", "PATH=/x:${PATH}", "--env-file", "/run/env", "--creds", "u:p",
        "--creds=u:p", "--log-opt", "max-size=1m", "--log-opt=splunk-token=t",
        "--secret", "mysecret,type=env,target=SEC", "--ulimit", "nofile=1024:1024",
        "busybox", "sleep", "600"]}})");
    EXPECT_EQ(inspect.at("Config").at("CreateCommand"), json::parse(R"(["podman",
        "--root", "/tmp/s", "run", "-d", "--name", "pc1", "-e", "DB_PASSWORD=<redacted>",
        "--env", "A=<redacted>", "--env=C=<redacted>", "-eE=<redacted>", "-e=G=<redacted>",
        "-de", "I=<redacted>", "-e", "HOST_ONLY",
        "--env-merge", "PATH=<redacted>", "--env-file", "/run/env", "--creds", "<redacted>",
        "--creds=<redacted>", "--log-opt", "max-size=1m", "--log-opt=splunk-token=<redacted>",
        "--secret", "mysecret,type=env,target=SEC", "--ulimit", "nofile=1024:1024",
        "busybox", "sleep", "600"])"));
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
    EXPECT_FALSE(filter_list(ScopedRouteKind::container_list,
                             R"([{"Labels": {"a": "b"}, "Size": -2e400}])",
                             {LabelSelector{"a", "b"}}));
    EXPECT_TRUE(redact_secrets(R"({"Memory": 1.5e300, "Count": 18446744073709551615})"));
}

}  // namespace
}  // namespace socket_proxy
