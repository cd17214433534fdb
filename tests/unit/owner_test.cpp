// Owner isolation of volumes and networks: what the lists keep, how a prune's filters get the
// owner's label, and what a body must name and gets pinned. (Which routes an owner rule narrows:
// label_scope_test; its decisions: policy_file_test.)
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "label_scope.hpp"
#include "policy.hpp"
#include "policy_file.hpp"
#include "route.hpp"
#include "write_body.hpp"

namespace socket_proxy {
namespace {

namespace json = boost::json;
using Kind = EngineReference::Kind;

const LabelSelector kOwner{"spt.owner", "unix:uid=1000"};
const std::string kNetworkId(64, 'c');
const std::string kContainerId(64, 'd');

TEST(OwnerTest, ListsKeepOnlyTheOwnersObjects) {
    const std::vector<LabelSelector> owner{kOwner};
    const auto volumes = filter_list(ScopedRouteKind::volume_list, R"({"Volumes": [
        {"Name": "mine", "Labels": {"spt.owner": "unix:uid=1000"}},
        {"Name": "theirs", "Labels": {"spt.owner": "unix:uid=0"}},
        {"Name": "nobody's", "Labels": null}], "Warnings": null})",
                                     owner);
    ASSERT_TRUE(volumes);
    const json::value listed = json::parse(*volumes);
    ASSERT_EQ(listed.at("Volumes").as_array().size(), 1U);
    EXPECT_EQ(listed.at("Volumes").as_array()[0].at("Name"), "mine");
    EXPECT_TRUE(listed.at("Warnings").is_null());
    EXPECT_EQ(filter_list(ScopedRouteKind::volume_list, R"({"Volumes":null})", owner),
              "{\"Volumes\":null}\n");

    const auto networks = filter_list(ScopedRouteKind::network_list, R"([
        {"Name": "bridge", "Id": "1", "Labels": {}},
        {"Name": "ci", "Id": "2", "Labels": {"spt.owner": "unix:uid=1000"}}])",
                                      owner);
    ASSERT_TRUE(networks);
    ASSERT_EQ(json::parse(*networks).as_array().size(), 1U);
    EXPECT_EQ(json::parse(*networks).as_array()[0].at("Name"), "ci");

    for (const std::string_view bad : {"[]", "{}", R"({"Volumes": {}})", R"({"Volumes": [1]})",
                                       R"({"Volumes": [{"Labels": ["spt.owner"]}]})"}) {
        EXPECT_FALSE(filter_list(ScopedRouteKind::volume_list, bad, owner)) << bad;
    }
    EXPECT_FALSE(filter_list(ScopedRouteKind::network_list, R"({"Volumes": []})", owner));
}

TEST(OwnerTest, IdentitiesOfVolumesAndNetworks) {
    const std::vector<LabelSelector> owner{kOwner};
    const auto volume = read_identity(
        ScopedObject::volume, R"({"Name":"cache","Labels":{"spt.owner":"unix:uid=1000"}})", owner);
    ASSERT_TRUE(volume);
    EXPECT_EQ(volume->id, "cache");
    EXPECT_TRUE(volume->visible);
    const auto network = read_identity(
        ScopedObject::network, R"({"Name":"ci","Id":")" + kNetworkId + R"(","Labels":{}})", owner);
    ASSERT_TRUE(network);
    EXPECT_EQ(network->id, kNetworkId);
    EXPECT_FALSE(network->visible);
    for (const std::string& bad :
         {std::string(R"({"Name":"","Labels":{}})"), std::string(R"({"Labels":{}})")}) {
        EXPECT_FALSE(read_identity(ScopedObject::volume, bad, owner)) << bad;
    }
    EXPECT_FALSE(
        read_identity(ScopedObject::network, R"({"Name":"ci","Id":"c1","Labels":{}})", owner));
    EXPECT_EQ(describe_target(ScopedObject::volume, "a b"), "/volumes/a%20b");
    EXPECT_EQ(describe_target(ScopedObject::network, "ci"), "/networks/ci");
    EXPECT_EQ(absent_message(ScopedObject::volume, "x"), "get x: no such volume");
    EXPECT_EQ(absent_message(ScopedObject::network, "x"), "network x not found");

    const auto normalised = normalise_target("/v1.41/networks/ci/connect?x=1", "");
    const auto route = scoped_route("POST", normalised.target->route_path, true);
    ASSERT_TRUE(route);
    EXPECT_EQ(pinned_target(*normalised.target, *route, kNetworkId).forward_target,
              "/v1.41/networks/" + kNetworkId + "/connect?x=1");
}

// The filters the daemon gets, decoded.
json::value forwarded_filters(std::string_view query) {
    const auto narrowed = narrowed_prune_query(query, kOwner);
    EXPECT_TRUE(narrowed) << query;
    const auto values = parse_query(narrowed.value_or(""));
    EXPECT_TRUE(values);
    std::size_t count = 0;
    json::value filters;
    for (const auto& [key, value] : values.value_or(QueryValues{})) {
        if (key == "filters") {
            ++count;
            filters = json::parse(value);
        }
    }
    EXPECT_EQ(count, 1U) << *narrowed;
    return filters;
}

TEST(OwnerTest, PruneFiltersGetTheOwnersLabel) {
    EXPECT_EQ(forwarded_filters(""), json::parse(R"({"label":{"spt.owner=unix:uid=1000":true}})"));
    EXPECT_EQ(forwarded_filters("filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%2C%22until%"
                                "22%3A%7B%2210m%22%3Atrue%7D%7D"),
              json::parse(R"({"label":{"a=b":true,"spt.owner=unix:uid=1000":true},
                              "until":{"10m":true}})"));
    // The legacy list form, and a forged owner value: both labels must hold, so nothing of
    // another owner's matches.
    EXPECT_EQ(
        forwarded_filters("filters=%7B%22label%22%3A%5B%22spt.owner%3Dunix%3Auid%3D0%22%5D%7D"),
        json::parse(R"({"label":{"spt.owner=unix:uid=0":true,
                                       "spt.owner=unix:uid=1000":true}})"));
    // The daemon reads the first filters; a second one is dropped, not forwarded.
    EXPECT_EQ(forwarded_filters("filters=null&filters=%7B%7D&x=1"),
              json::parse(R"({"label":{"spt.owner=unix:uid=1000":true}})"));
    for (const std::string_view bad :
         {"filters=x", "filters=[]", "filters=%7B%22label%22%3A1%7D",
          "filters=%7B%22label%22%3A%7B%22a%22%3A1%7D%7D", "a=1;filters=x", "filters=%zz"}) {
        EXPECT_FALSE(narrowed_prune_query(bad, kOwner)) << bad;
    }
}

std::vector<std::pair<Kind, std::string>> references_of(WriteKind kind, std::string_view body) {
    const WriteJudgement judged = owned_references(kind, body);
    EXPECT_FALSE(judged.refusal) << body << ": " << judged.refusal->reason;
    std::vector<std::pair<Kind, std::string>> found;
    for (const EngineReference& reference : judged.references) {
        found.emplace_back(reference.kind, reference.name);
    }
    return found;
}

TEST(OwnerTest, WhatACreateBodyNames) {
    using Found = std::vector<std::pair<Kind, std::string>>;
    EXPECT_EQ(references_of(WriteKind::container_create, R"({"Image":"x",
        "HostConfig":{"Binds":["cache:/c:ro","/srv:/srv",":/anon","/only"],
                      "Mounts":[{"Type":"volume","Source":"data","Target":"/d"},
                                {"Type":"volume","Target":"/anonymous"},
                                {"Type":"bind","Source":"/srv","Target":"/s"}],
                      "VolumesFrom":["builder:ro"],
                      "NetworkMode":"ci"},
        "NetworkingConfig":{"EndpointsConfig":{"ci":{},"bridge":{},
                                               "other":{"NetworkID":"theirs"}}}})"),
              (Found{{Kind::volume, "cache"},
                     {Kind::volume, "data"},
                     {Kind::container, "builder"},
                     {Kind::network, "ci"},
                     {Kind::network, "ci"},
                     {Kind::network, "theirs"}}));
    // Go reads field names folded, and HostConfig's fields at the top level too.
    EXPECT_EQ(references_of(WriteKind::container_create,
                            R"({"binds":["v:/v"],"networkmode":"n","NETWORKINGCONFIG":
                                {"endpointsconfig":{"bridge":{"networkid":"x"}}}})"),
              (Found{{Kind::volume, "v"}, {Kind::network, "n"}, {Kind::network, "x"}}));
    // The engine's own networks and namespaces belong to no one.
    for (const std::string_view mode : {"default", "bridge", "none", "host", "container:c1", ""}) {
        EXPECT_TRUE(references_of(WriteKind::container_create, R"({"HostConfig":{"NetworkMode":")" +
                                                                   std::string(mode) + R"("}})")
                        .empty())
            << mode;
    }
    // Go compares them exactly: "Bridge" is a network's name.
    EXPECT_EQ(
        references_of(WriteKind::container_create, R"({"HostConfig":{"NetworkMode":"Bridge"}})"),
        (Found{{Kind::network, "Bridge"}}));
    EXPECT_EQ(references_of(WriteKind::network_attach,
                            R"({"container":"web","EndpointConfig":{"NetworkID":"n2"}})"),
              (Found{{Kind::container, "web"}, {Kind::network, "n2"}}));
    EXPECT_EQ(references_of(WriteKind::container_start, R"({"Binds":["v:/v"]})"),
              (Found{{Kind::volume, "v"}}));
    EXPECT_EQ(references_of(WriteKind::volume_create, R"({"name":"v"})"),
              (Found{{Kind::volume, "v"}}));
    EXPECT_TRUE(
        owned_references(WriteKind::volume_create, R"({"name":"v"})").references[0].may_be_absent);
    EXPECT_TRUE(references_of(WriteKind::volume_create, R"({"Driver":"local"})").empty());

    EXPECT_TRUE(owned_references(WriteKind::network_create,
                                 R"({"Name":"n","ConfigFrom":{"Network":"theirs"}})")
                    .refusal);
    EXPECT_TRUE(owned_references(WriteKind::container_create,
                                 R"({"NetworkMode":"a","HostConfig":{"NetworkMode":"b"}})")
                    .refusal);
    EXPECT_TRUE(owned_references(WriteKind::container_create, "[]").refusal);
}

TEST(OwnerTest, TheBodyForwardedIsStampedAndPinned) {
    const std::string body = R"({"Image":"x","Labels":{"spt.owner":"unix:uid=0","a":"b"},
        "HostConfig":{"Mounts":[{"Type":"volume","Source":"data","Target":"/d",
                                 "VolumeOptions":{"Labels":{"spt.owner":"forged"}}},
                                {"Type":"volume","Target":"/anonymous"}],
                      "VolumesFrom":["builder:ro"],"NetworkMode":"ci"},
        "NetworkingConfig":{"EndpointsConfig":{"bridge":null}}})";
    const std::vector<std::pair<EngineReference, std::string>> resolved{
        {{Kind::volume, "HostConfig.Mounts[0].Source", "data", ""}, "data"},
        {{Kind::container, "HostConfig.VolumesFrom[0]", "builder", ""}, kContainerId},
        {{Kind::network, "HostConfig.NetworkMode", "ci", ""}, kNetworkId}};
    const auto forwarded = owner_body(WriteKind::container_create, body, kOwner, resolved);
    ASSERT_TRUE(forwarded);
    const json::value sent = json::parse(*forwarded);
    EXPECT_EQ(sent.at("Labels").at("spt.owner"), "unix:uid=1000");
    EXPECT_EQ(sent.at("Labels").at("a"), "b");
    const json::value& host = sent.at("HostConfig");
    for (const json::value& mount : host.at("Mounts").as_array()) {
        EXPECT_EQ(mount.at("VolumeOptions").at("Labels").at("spt.owner"), "unix:uid=1000");
    }
    EXPECT_EQ(host.at("VolumesFrom").as_array()[0].as_string(), kContainerId + ":ro");
    EXPECT_EQ(host.at("NetworkMode"), "ci");  // as written; the entry below pins it
    const json::object& endpoints = sent.at("NetworkingConfig").at("EndpointsConfig").as_object();
    EXPECT_EQ(endpoints.at("ci").at("NetworkID").as_string(), kNetworkId);
    EXPECT_TRUE(endpoints.at("bridge").is_null());

    // A connect names its container and network by their ids.
    const auto attach =
        owner_body(WriteKind::network_attach,
                   R"({"Container":"web","EndpointConfig":{"NetworkID":"n2"}})", kOwner,
                   {{{Kind::container, "Container", "web", ""}, kContainerId},
                    {{Kind::network, "EndpointConfig.NetworkID", "n2", ""}, kNetworkId}});
    ASSERT_TRUE(attach);
    EXPECT_EQ(json::parse(*attach),
              json::parse(R"({"Container":")" + kContainerId +
                          R"(","EndpointConfig":{"NetworkID":")" + kNetworkId + R"("}})"));

    EXPECT_EQ(json::parse(*owner_body(WriteKind::network_create, R"({"Name":"n"})", kOwner, {})),
              json::parse(R"({"Name":"n","Labels":{"spt.owner":"unix:uid=1000"}})"));
    // Not the body the references came from, or no place for the label: nothing is forwarded.
    EXPECT_FALSE(owner_body(WriteKind::container_create, body, kOwner, {}));
    EXPECT_FALSE(owner_body(WriteKind::volume_create, R"({"Labels":[]})", kOwner, {}));
    EXPECT_FALSE(owner_body(WriteKind::container_create,
                            R"({"HostConfig":{"Mounts":[{"Type":"volume","VolumeOptions":1}]}})",
                            kOwner, {}));
}

}  // namespace
}  // namespace socket_proxy
