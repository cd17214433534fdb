// The decision cache hands back a decision only for the very request and policy it was made
// for: anything decide() reads that differs is a miss.
#include "decision_cache.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace socket_proxy {
namespace {

struct Row {
    std::string name;
    Request asked;
    bool same_policy;
    bool hit;
};

TEST(DecisionCacheTest, OnlyTheSameRequestUnderTheSamePolicyHits) {
    const Request stored{"GET", "/v1.41/version", "docker", false};
    const Row rows[] = {
        {"the same request", stored, true, true},
        {"another method", {"HEAD", "/v1.41/version", "docker", false}, true, false},
        {"another target", {"GET", "/v1.41/version?x=1", "docker", false}, true, false},
        {"another Host", {"GET", "/v1.41/version", "other", false}, true, false},
        {"a form-encoded body", {"GET", "/v1.41/version", "docker", true}, true, false},
        {"a reloaded policy", stored, false, false},
    };
    for (const Row& row : rows) {
        auto policy = std::make_shared<const Policy>();
        auto reloaded = std::make_shared<const Policy>();
        DecisionCache cache;
        auto decision = std::make_shared<const Decision>();
        cache.store(stored, policy, decision);
        const auto found = cache.find(row.asked, row.same_policy ? policy : reloaded);
        EXPECT_EQ(found == decision, row.hit) << row.name;
    }
}

TEST(DecisionCacheTest, ClearedWhenTheClientChanges) {
    const Request request{"GET", "/_ping", "", false};
    auto policy = std::make_shared<const Policy>();
    DecisionCache cache;
    cache.store(request, policy, std::make_shared<const Decision>());
    cache.clear();
    EXPECT_EQ(cache.find(request, policy), nullptr);
}

}  // namespace
}  // namespace socket_proxy
