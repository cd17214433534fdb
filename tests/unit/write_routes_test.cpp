// The write routes' table against what the proxy does: no route whose body can reach the host
// is left unclassified, and each classification is what decide() and write_body do.
#include "write_routes.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "policy.hpp"
#include "policy_file.hpp"
#include "target.hpp"

namespace socket_proxy {
namespace {

std::string route_of(std::string_view sample) {
    const NormaliseResult normalised = normalise_target(sample, "docker");
    EXPECT_TRUE(normalised.ok()) << sample << ": " << normalised.reason;
    return normalised.ok() ? normalised.target->route_path : std::string();
}

// Every write route moby registers (NewPostRoute, NewPutRoute), read from
// api/server/router/*/*.go at v20.10.24 and daemon/server/router/*/*.go at master b985e23.
// A route added to the engine is added here and classified in the table, or this test fails.
const std::set<std::pair<std::string_view, std::string_view>> kMobyWriteRoutes = {
    {"POST", "/build"},
    {"POST", "/build/prune"},
    {"POST", "/build/cancel"},
    {"POST", "/containers/{name:.*}/checkpoints"},
    {"POST", "/containers/create"},
    {"POST", "/containers/{name:.*}/kill"},
    {"POST", "/containers/{name:.*}/pause"},
    {"POST", "/containers/{name:.*}/unpause"},
    {"POST", "/containers/{name:.*}/restart"},
    {"POST", "/containers/{name:.*}/start"},
    {"POST", "/containers/{name:.*}/stop"},
    {"POST", "/containers/{name:.*}/wait"},
    {"POST", "/containers/{name:.*}/resize"},
    {"POST", "/containers/{name:.*}/attach"},
    {"POST", "/containers/{name:.*}/copy"},
    {"POST", "/containers/{name:.*}/exec"},
    {"POST", "/exec/{name:.*}/start"},
    {"POST", "/exec/{name:.*}/resize"},
    {"POST", "/containers/{name:.*}/rename"},
    {"POST", "/containers/{name:.*}/update"},
    {"POST", "/containers/prune"},
    {"POST", "/commit"},
    {"PUT", "/containers/{name:.*}/archive"},
    {"POST", "/grpc"},
    {"POST", "/images/load"},
    {"POST", "/images/create"},
    {"POST", "/images/{name:.*}/push"},
    {"POST", "/images/{name:.*}/tag"},
    {"POST", "/images/prune"},
    {"POST", "/networks/create"},
    {"POST", "/networks/{id:.*}/connect"},
    {"POST", "/networks/{id:.*}/disconnect"},
    {"POST", "/networks/prune"},
    {"POST", "/plugins/{name:.*}/enable"},
    {"POST", "/plugins/{name:.*}/disable"},
    {"POST", "/plugins/pull"},
    {"POST", "/plugins/{name:.*}/push"},
    {"POST", "/plugins/{name:.*}/upgrade"},
    {"POST", "/plugins/{name:.*}/set"},
    {"POST", "/plugins/create"},
    {"POST", "/session"},
    {"POST", "/swarm/init"},
    {"POST", "/swarm/join"},
    {"POST", "/swarm/leave"},
    {"POST", "/swarm/update"},
    {"POST", "/swarm/unlock"},
    {"POST", "/services/create"},
    {"POST", "/services/{id}/update"},
    {"POST", "/nodes/{id}/update"},
    {"POST", "/secrets/create"},
    {"POST", "/secrets/{id}/update"},
    {"POST", "/configs/create"},
    {"POST", "/configs/{id}/update"},
    {"POST", "/auth"},
    {"POST", "/volumes/create"},
    {"POST", "/volumes/prune"},
    {"PUT", "/volumes/{name:.*}"},
};

TEST(WriteRoutesTest, EveryWriteRouteOfTheEngineIsClassified) {
    std::set<std::pair<std::string_view, std::string_view>> classified;
    for (const WriteRoute& route : write_routes()) {
        EXPECT_TRUE(classified.emplace(route.method, route.route).second)
            << route.method << " " << route.route << " is in the table twice";
    }
    for (const auto& [method, route] : kMobyWriteRoutes) {
        EXPECT_TRUE(classified.contains({method, route}))
            << method << " " << route << " takes a body and is not classified";
    }
    for (const auto& [method, route] : classified) {
        EXPECT_TRUE(kMobyWriteRoutes.contains({method, route}))
            << method << " " << route << " is classified but the engine has no such route";
    }
}

// An allow-everything policy: what is still refused is refused by the proxy's own checks.
Policy allow_everything() {
    return parse_policy_file("rules:\n  - {name: all, action: allow}\n", "all.yaml");
}

TEST(WriteRoutesTest, EachClassificationIsWhatTheProxyDoes) {
    const Policy everything = allow_everything();
    const Policy read_only = Policy::read_only();
    const Client client;
    for (const WriteRoute& route : write_routes()) {
        SCOPED_TRACE(std::string(route.method) + " " + std::string(route.sample));
        const std::string path = route_of(route.sample);
        const WriteKind kind = write_kind(route.method, path);
        const Decision under_everything =
            decide(Request{route.method, route.sample, "docker"}, client, everything);
        EXPECT_FALSE(
            decide(Request{route.method, route.sample, "docker"}, client, read_only).allowed());
        switch (route.handling) {
            case WriteHandling::body_checked:
                EXPECT_NE(kind, WriteKind::none);
                EXPECT_TRUE(write_body_is_checked(kind));
                EXPECT_TRUE(under_everything.allowed()) << under_everything.message;
                EXPECT_EQ(under_everything.write, kind);
                break;
            case WriteHandling::query_checked:
                EXPECT_NE(kind, WriteKind::none);
                EXPECT_FALSE(write_body_is_checked(kind));
                break;
            case WriteHandling::refused: {
                const auto refusal = refuse_write_route(route.method, path, WriteLimits{});
                ASSERT_TRUE(refusal.has_value());
                EXPECT_NE(refusal->find("(body." + std::string(route.allowed_by) + ")"),
                          std::string::npos)
                    << *refusal;
                EXPECT_FALSE(under_everything.allowed());
                EXPECT_NE(under_everything.message.find(route.why), std::string::npos)
                    << under_everything.message;
                const Policy opted_in =
                    parse_policy_file("rules:\n  - {name: all, action: allow, body: {" +
                                          std::string(route.allowed_by) + ": true}}\n",
                                      "opted-in.yaml");
                EXPECT_TRUE(decide(Request{route.method, route.sample, "docker"}, client, opted_in)
                                .allowed());
                break;
            }
            case WriteHandling::files_out:
                EXPECT_EQ(kind, WriteKind::none);
                EXPECT_NE(
                    decide(Request{route.method, route.sample, "docker"}, client, read_only).rule,
                    "read-only-methods")
                    << "denied only for its method, not for the files it returns";
                break;
            case WriteHandling::not_escalating:
                EXPECT_EQ(kind, WriteKind::none);
                EXPECT_FALSE(refuse_write_route(route.method, path, WriteLimits{}).has_value());
                EXPECT_TRUE(under_everything.allowed()) << under_everything.message;
                break;
        }
    }
}

// Podman's own API has its own JSON shapes, which the body checks do not read.
TEST(WriteRoutesTest, PodmansOwnWritesNeedTheRuleToSaySo) {
    const Policy everything = allow_everything();
    const Policy opted_in = parse_policy_file(
        "rules:\n  - {name: all, action: allow, body: {libpod_writes: true}}\n", "podman.yaml");
    const Client client;
    for (const auto& [method, target] :
         std::initializer_list<std::pair<std::string_view, std::string_view>>{
             {"POST", "/v4.0.0/libpod/containers/create"},
             {"POST", "/v5.0.0/libpod/kube/play"},
             {"POST", "/v4.0.0/libpod/play/kube"},
             {"POST", "/v4.0.0/libpod/containers/c1/exec"},
             {"POST", "/v4.0.0/libpod/containers/c1/restore?import=1"},
             {"PUT", "/v4.0.0/libpod/containers/c1/archive?path=/"},
             {"POST", "/v4.0.0/libpod/pods/create"}}) {
        SCOPED_TRACE(std::string(method) + " " + std::string(target));
        const Decision refused = decide(Request{method, target, "docker"}, client, everything);
        EXPECT_FALSE(refused.allowed());
        EXPECT_NE(refused.message.find("(body.libpod_writes)"), std::string::npos)
            << refused.message;
        EXPECT_TRUE(decide(Request{method, target, "docker"}, client, opted_in).allowed());
    }
    for (const std::string_view harmless :
         {"/v4.0.0/libpod/containers/c1/start", "/v4.0.0/libpod/containers/my/app/kill",
          "/v4.0.0/libpod/pods/p1/pause"}) {
        EXPECT_TRUE(decide(Request{"POST", harmless, "docker"}, client, everything).allowed())
            << harmless;
    }
    for (const std::string_view unnamed :
         {"/v4.0.0/libpod/containers/start", "/v4.0.0/libpod/pods/c1/init",
          "/v4.0.0/libpod/pods/create"}) {
        EXPECT_FALSE(decide(Request{"POST", unnamed, "docker"}, client, everything).allowed())
            << unnamed;
    }
    EXPECT_TRUE(
        decide(Request{"DELETE", "/v4.0.0/libpod/containers/c1", "docker"}, client, everything)
            .allowed());
    EXPECT_TRUE(
        decide(Request{"GET", "/v4.0.0/libpod/info", "docker"}, client, everything).allowed());
}

}  // namespace
}  // namespace socket_proxy
