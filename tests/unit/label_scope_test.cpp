// Label-scoped visibility: which routes can be narrowed, and what each narrowing keeps.
#include "label_scope.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "policy.hpp"
#include "policy_file.hpp"

namespace socket_proxy {
namespace {

namespace json = boost::json;
using namespace std::string_literals;

std::vector<LabelSelector> selectors(std::initializer_list<std::string_view> texts) {
    std::vector<LabelSelector> result;
    for (const std::string_view text : texts) {
        std::string problem;
        auto selector = LabelSelector::parse(text, problem);
        EXPECT_TRUE(selector) << text << ": " << problem;
        if (selector)
            result.push_back(*selector);
    }
    return result;
}

const std::string kVisibleId(64, 'a');
const std::string kHiddenId(64, 'b');

TEST(LabelScopeTest, SelectorsParse) {
    std::string problem;
    const auto exact = LabelSelector::parse("traefik.enable=true", problem);
    ASSERT_TRUE(exact);
    EXPECT_EQ(exact->key, "traefik.enable");
    EXPECT_EQ(exact->value, "true");
    const auto any = LabelSelector::parse("com.example.team", problem);
    ASSERT_TRUE(any);
    EXPECT_FALSE(any->value);
    const auto empty_value = LabelSelector::parse("a=", problem);
    ASSERT_TRUE(empty_value);
    EXPECT_EQ(empty_value->value, "");
    EXPECT_EQ(empty_value->text(), "a=");
    for (const std::string_view bad : {"", "=x", "name=web", "image", "exitCode=0", "execID"}) {
        problem.clear();
        EXPECT_FALSE(LabelSelector::parse(bad, problem)) << bad;
        EXPECT_FALSE(problem.empty()) << bad;
    }
}

TEST(LabelScopeTest, RoutesThatCanBeNarrowed) {
    struct Row {
        std::string_view method;
        std::string_view path;
        std::optional<ScopedRouteKind> kind;
        std::string_view container = "";
        std::string_view endpoint = "";
        bool owner = false;  // an owner rule's, which narrows volumes, networks and prunes too
    };
    const Row rows[] = {
        {"GET", "/containers/json", ScopedRouteKind::container_list},
        {"GET", "/events", ScopedRouteKind::events},
        {"GET", "/containers/web/json", ScopedRouteKind::container, "web", "json"},
        {"GET", "/containers/4f1e/logs", ScopedRouteKind::container, "4f1e", "logs"},
        {"HEAD", "/containers/web/json", ScopedRouteKind::container, "web", "json"},
        {"GET", "/containers/json/json", ScopedRouteKind::container, "json", "json"},
        {"POST", "/containers/web/restart", ScopedRouteKind::container, "web", "restart"},
        {"POST", "/containers/web/exec", ScopedRouteKind::container, "web", "exec"},
        {"GET", "/containers/web/attach/ws", ScopedRouteKind::container, "web", "attach/ws"},
        {"DELETE", "/containers/web", ScopedRouteKind::container, "web", ""},
        // The list's length and the stream's framing would still show what was hidden.
        {"HEAD", "/containers/json", std::nullopt},
        {"HEAD", "/events", std::nullopt},
        {"POST", "/containers/create", std::nullopt},
        {"POST", "/containers/prune", std::nullopt},
        {"GET", "/containers/web", std::nullopt},
        {"GET", "/containers/web/unknown", std::nullopt},
        {"GET", "/containers/a/b/json", std::nullopt},  // the daemon's name would be "a/b"
        {"GET", "/containers/web/json/", std::nullopt},
        {"GET", "/images/json", std::nullopt},
        {"GET", "/networks/n1", std::nullopt},
        {"GET", "/system/df", std::nullopt},
        // An exec instance is its container's; it is known by its full id only.
        {"GET", "/exec/e1/json", ScopedRouteKind::exec, "e1", "json"},
        {"POST", "/exec/e1/start", ScopedRouteKind::exec, "e1", "start"},
        {"POST", "/exec/e1/resize", ScopedRouteKind::exec, "e1", "resize"},
        {"HEAD", "/exec/e1/json", std::nullopt},
        {"GET", "/exec/e1/start", std::nullopt},
        {"POST", "/exec/e1/json", std::nullopt},
        {"POST", "/exec/e1/other", std::nullopt},
        {"POST", "/exec//start", std::nullopt},
        {"POST", "/exec/e1/start/x", std::nullopt},
        {"POST", "/libpod/exec/e1/start", std::nullopt},
        {"GET", "/info", std::nullopt},
        {"GET", "/volumes", ScopedRouteKind::volume_list, "", "", true},
        {"GET", "/networks", ScopedRouteKind::network_list, "", "", true},
        {"GET", "/networks/", ScopedRouteKind::network_list, "", "", true},
        {"GET", "/volumes/cache", ScopedRouteKind::volume, "cache", "", true},
        {"DELETE", "/volumes/cache", ScopedRouteKind::volume, "cache", "", true},
        {"GET", "/volumes/prune", ScopedRouteKind::volume, "prune", "", true},
        {"GET", "/networks/ci_default", ScopedRouteKind::network, "ci_default", "", true},
        {"DELETE", "/networks/4f1e", ScopedRouteKind::network, "4f1e", "", true},
        {"POST", "/networks/ci/connect", ScopedRouteKind::network, "ci", "connect", true},
        {"POST", "/networks/ci/disconnect", ScopedRouteKind::network, "ci", "disconnect", true},
        {"POST", "/containers/prune", ScopedRouteKind::prune, "", "", true},
        {"POST", "/volumes/prune", ScopedRouteKind::prune, "", "", true},
        {"POST", "/networks/prune", ScopedRouteKind::prune, "", "", true},
        {"DELETE", "/containers/prune", ScopedRouteKind::container, "prune", "", true},
        // The daemon reads GET /volumes/ as the volume "", and HEAD's length would tell.
        {"GET", "/volumes/", std::nullopt, "", "", true},
        {"HEAD", "/volumes", std::nullopt, "", "", true},
        {"HEAD", "/networks/ci", std::nullopt, "", "", true},
        {"PUT", "/volumes/cache", std::nullopt, "", "", true},
        {"GET", "/volumes/a/b", std::nullopt, "", "", true},
        {"POST", "/networks/ci/other", std::nullopt, "", "", true},
        {"POST", "/images/prune", std::nullopt, "", "", true},
        {"GET", "/libpod/volumes/json", std::nullopt, "", "", true},
        {"POST", "/libpod/networks/ci/connect", std::nullopt, "", "", true},
        {"GET", "/system/df", std::nullopt, "", "", true},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(std::string(row.method) + " " + std::string(row.path));
        const auto route = scoped_route(row.method, row.path, row.owner);
        ASSERT_EQ(route.has_value(), row.kind.has_value());
        if (!route)
            continue;
        EXPECT_EQ(route->kind, *row.kind);
        EXPECT_EQ(route->reference, row.container);
        EXPECT_EQ(route->endpoint, row.endpoint);
        // Volumes, networks and prunes are narrowed under owner rules only.
        const ScopedObject object = scoped_object(route->kind);
        if (object == ScopedObject::volume || object == ScopedObject::network ||
            route->kind == ScopedRouteKind::prune) {
            EXPECT_FALSE(scoped_route(row.method, row.path, false));
        }
    }
}

TEST(LabelScopeTest, ContainerListKeepsOnlyVisibleOnes) {
    const auto labels = selectors({"traefik.enable=true", "team"});
    const auto filtered = filter_list(ScopedRouteKind::container_list, R"([
        {"Id": "1", "Labels": {"traefik.enable": "true", "team": "a"}},
        {"Id": "2", "Labels": {"traefik.enable": "false", "team": "a"}},
        {"Id": "3", "Labels": {"traefik.enable": "true"}},
        {"Id": "4", "Labels": {}},
        {"Id": "5", "Labels": null},
        {"Id": "6"},
        {"Id": "7", "Labels": {"team": "", "traefik.enable": "true"}}])",
                                      labels);
    ASSERT_TRUE(filtered);
    const json::value list = json::parse(*filtered);
    ASSERT_EQ(list.as_array().size(), 2u);
    EXPECT_EQ(list.as_array()[0].at("Id"), "1");
    EXPECT_EQ(list.as_array()[1].at("Id"), "7");
    EXPECT_EQ(filter_list(ScopedRouteKind::container_list, "[]", labels), "[]\n");
}

TEST(LabelScopeTest, ContainerListThatCannotBeReadIsNotForwarded) {
    const auto labels = selectors({"a=b"});
    for (const std::string_view body :
         {"", "{", "{}", "[1]", R"([{"Labels": ["a=b"]}])", R"([{"Labels": {"a": 1}}])", "null"}) {
        EXPECT_FALSE(filter_list(ScopedRouteKind::container_list, body, labels)) << body;
    }
}

TEST(LabelScopeTest, EventsOfVisibleContainersOnly) {
    const auto labels = selectors({"traefik.enable=true"});
    const auto event = [](std::string_view type, std::string_view attributes) {
        return R"({"Type":")" + std::string(type) +
               R"(","Action":"start","Actor":{"ID":"x","Attributes":)" + std::string(attributes) +
               "},\"time\":1}";
    };
    EXPECT_EQ(
        event_visibility(event("container", R"({"traefik.enable":"true","name":"web"})"), labels),
        EventVisibility::visible);
    EXPECT_EQ(event_visibility(event("container", R"({"traefik.enable":"false"})"), labels),
              EventVisibility::hidden);
    EXPECT_EQ(event_visibility(event("container", R"({"name":"db"})"), labels),
              EventVisibility::hidden);
    // A network event names the containers it connects: no other type is shown at all.
    EXPECT_EQ(
        event_visibility(event("network", R"({"traefik.enable":"true","container":"x"})"), labels),
        EventVisibility::hidden);
    EXPECT_EQ(event_visibility(event("image", "{}"), labels), EventVisibility::hidden);
    for (const std::string_view bad :
         {"", "not json", "[]", R"({"Action":"start"})", R"({"Type":"container"})",
          R"({"Type":"container","Actor":{"Attributes":{"traefik.enable":true}}})",
          R"({"Type":"container","Actor":[]})"}) {
        EXPECT_EQ(event_visibility(bad, labels), EventVisibility::unreadable) << bad;
    }
}

TEST(LabelScopeTest, ContainerIdentityFromInspect) {
    const auto labels = selectors({"traefik.enable=true"});
    const auto identity = read_identity(
        ScopedObject::container,
        R"({"Id":")" + kVisibleId + R"(","Config":{"Labels":{"traefik.enable":"true"}}})", labels);
    ASSERT_TRUE(identity);
    EXPECT_EQ(identity->id, kVisibleId);
    EXPECT_TRUE(identity->visible);
    const auto hidden =
        read_identity(ScopedObject::container,
                      R"({"Id":")" + kHiddenId + R"(","Config":{"Labels":null}})", labels);
    ASSERT_TRUE(hidden);
    EXPECT_FALSE(hidden->visible);
    // The id goes into the forwarded path: anything but 64 hex digits is not an id.
    for (const std::string& bad :
         {std::string("{}"), R"({"Id":"abc","Config":{}})"s,
          R"({"Id":")" + kVisibleId + R"(/../x","Config":{}})",
          R"({"Id":")" + std::string(64, 'A') + R"(","Config":{}})",
          R"({"Id":")" + kVisibleId + R"("})", R"({"Id":")" + kVisibleId + R"(","Config":[]})"}) {
        EXPECT_FALSE(read_identity(ScopedObject::container, bad, labels)) << bad;
    }
}

// An exec instance carries no labels: its description names the container that decides.
TEST(LabelScopeTest, ExecIdentityNamesItsContainer) {
    const auto labels = selectors({"traefik.enable=true"});
    const std::string exec_id(64, 'e');
    const auto identity = read_identity(
        ScopedObject::exec,
        R"({"ID":")" + exec_id + R"(","ContainerID":")" + kVisibleId + R"(","Running":false})",
        labels);
    ASSERT_TRUE(identity);
    EXPECT_EQ(identity->id, exec_id);
    EXPECT_EQ(identity->container, kVisibleId);
    EXPECT_FALSE(identity->visible);  // until its container is looked up
    EXPECT_EQ(describe_target(ScopedObject::exec, "e1"), "/exec/e1/json");
    EXPECT_EQ(absent_message(ScopedObject::exec, "e1"), "No such exec instance: e1");
    for (const std::string& bad :
         {R"({"ID":")" + exec_id + R"("})", R"({"ID":")" + exec_id + R"(","ContainerID":"web"})",
          R"({"ID":"e1","ContainerID":")" + kVisibleId + R"("})",
          R"({"Id":")" + exec_id + R"(","ContainerID":")" + kVisibleId + R"("})"}) {
        EXPECT_FALSE(read_identity(ScopedObject::exec, bad, labels)) << bad;
    }
    const auto normalised = normalise_target("/v1.41/exec/e1/start", "");
    ASSERT_TRUE(normalised.ok());
    const auto route = scoped_route("POST", normalised.target->route_path);
    ASSERT_TRUE(route);
    EXPECT_EQ(pinned_target(*normalised.target, *route, exec_id).forward_target,
              "/v1.41/exec/" + exec_id + "/start");
}

TEST(LabelScopeTest, PinnedTargetKeepsVersionAndQuery) {
    const auto normalised = normalise_target("/v1.41/containers/we%62/logs?follow=1&tail=5", "");
    ASSERT_TRUE(normalised.ok());
    const auto route = scoped_route("GET", normalised.target->route_path);
    ASSERT_TRUE(route);
    EXPECT_EQ(route->reference, "web");
    const Target pinned = pinned_target(*normalised.target, *route, kVisibleId);
    EXPECT_EQ(pinned.route_path, "/containers/" + kVisibleId + "/logs");
    EXPECT_EQ(pinned.forward_target, "/v1.41/containers/" + kVisibleId + "/logs?follow=1&tail=5");
    const auto removal = normalise_target("/containers/web", "");
    const Target pinned_removal =
        pinned_target(*removal.target, *scoped_route("DELETE", "/containers/web"), kVisibleId);
    EXPECT_EQ(pinned_removal.forward_target, "/containers/" + kVisibleId);
}

TEST(LabelScopeTest, ScopedRuleRefusesWhatItCannotNarrow) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: traefik
    methods: GET
    container_labels: traefik.enable=true
    action: allow
)",
                                            "policy.yaml");
    const auto decide_get = [&](std::string_view target) {
        return decide(Request{"GET", target, "docker"}, Client{}, policy);
    };
    const Decision list = decide_get("/v1.41/containers/json?all=1");
    EXPECT_TRUE(list.allowed());
    ASSERT_TRUE(list.scope);
    EXPECT_EQ(list.scope->kind, ScopedRouteKind::container_list);
    ASSERT_EQ(list.container_labels.size(), 1u);
    EXPECT_EQ(list.container_labels[0].text(), "traefik.enable=true");
    EXPECT_TRUE(decide_get("/events").allowed());
    EXPECT_TRUE(decide_get("/containers/web/json").allowed());
    const Decision images = decide_get("/images/json");
    EXPECT_FALSE(images.allowed());
    EXPECT_EQ(images.rule, "traefik");
    EXPECT_NE(images.message.find("cannot narrow"), std::string::npos) << images.message;
    EXPECT_EQ(describe_rule(policy.rules[0]),
              "traefik: allow GET any path containers labelled traefik.enable=true");
}

TEST(LabelScopeTest, PolicyFileErrors) {
    const auto error_of = [](std::string_view text) -> std::string {
        try {
            (void)parse_policy_file(text, "policy.yaml");
        } catch (const PolicyError& error) {
            return error.what();
        }
        return "(no PolicyError)";
    };
    EXPECT_EQ(error_of("rules:\n  - name: r\n    container_labels: a=b\n    action: deny\n"),
              "policy.yaml line 3: rule 1 (r), field \"container_labels\": narrows what an allow "
              "rule shows; a deny rule shows nothing: remove it or make the rule allow");
    EXPECT_EQ(
        error_of("rules:\n  - name: r\n    container_labels: [name=web]\n    action: allow\n"),
        "policy.yaml line 3: rule 1 (r), field \"container_labels\": \"name\" is an "
        "attribute the daemon writes into container events itself, so events could not be "
        "told apart by it: choose another label");
    EXPECT_EQ(error_of("rules:\n  - name: r\n    container_labels: []\n    action: allow\n"),
              "policy.yaml line 3: rule 1 (r), field \"container_labels\": is an empty list: "
              "leave it out to show every container");
}

}  // namespace
}  // namespace socket_proxy
