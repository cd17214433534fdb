// Which relay the session runs for an answer: the order of the choices is what keeps a secret
// from leaving unrewritten (a redacted route's 200 is never spliced or sent as it arrived).
#include "answer_strategy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace socket_proxy {
namespace {

struct Row {
    std::string name;
    AnswerFacts facts;
    AnswerStrategy expected;
};

TEST(AnswerStrategyTest, EachAnswerGetsTheRelayItNeeds) {
    constexpr auto events = ScopedRouteKind::events;
    constexpr auto list = ScopedRouteKind::container_list;
    constexpr auto container = ScopedRouteKind::container;
    constexpr std::uint64_t long_answer = splice_threshold_bytes;
    const Row rows[] = {
        {"a scoped events stream",
         {true, 200, events, false, false, false, {}},
         AnswerStrategy::scoped_events},
        {"a scoped list, even a short one",
         {true, 200, list, true, false, false, 10},
         AnswerStrategy::filtered_list},
        {"an owner's volume list, filtered (and redacted there)",
         {true, 200, ScopedRouteKind::volume_list, true, false, true, 10},
         AnswerStrategy::filtered_list},
        {"an owner's network list",
         {true, 200, ScopedRouteKind::network_list, false, false, false, long_answer},
         AnswerStrategy::filtered_list},
        {"an owner's prune answer is not narrowed",
         {false, 200, ScopedRouteKind::prune, false, false, true, 10},
         AnswerStrategy::buffered},
        {"a redacted inspect that arrived whole",
         {true, 200, {}, true, false, true, 0},
         AnswerStrategy::redacted},
        {"a redacted answer long enough to splice",
         {true, 200, container, true, false, false, long_answer},
         AnswerStrategy::redacted},
        {"a redacted route's 404 carries no secrets",
         {true, 404, {}, true, false, true, 0},
         AnswerStrategy::buffered},
        {"HEAD on a redacted route has no body",
         {false, 200, {}, true, false, true, 0},
         AnswerStrategy::buffered},
        {"a scoped list's error",
         {true, 500, list, false, false, true, 0},
         AnswerStrategy::buffered},
        {"an attach upgraded", {false, 101, {}, false, true, true, {}}, AnswerStrategy::tunnel},
        {"a ping", {true, 200, {}, false, false, false, 2}, AnswerStrategy::buffered},
        {"a 50 KB container list",
         {true, 200, {}, false, false, false, 50'000},
         AnswerStrategy::buffered},
        {"a 50 KB list to a TLS client",
         {true, 200, {}, false, false, false, 50'000, true},
         AnswerStrategy::buffered},
        {"a 304 has no body", {true, 304, {}, false, false, true, {}}, AnswerStrategy::buffered},
        {"an image export",
         {true, 200, {}, false, false, false, long_answer},
         AnswerStrategy::spliced},
        {"an image export to a TLS client is encrypted on the way",
         {true, 200, {}, false, false, false, long_answer, true},
         AnswerStrategy::relayed},
        {"an image export from a TLS engine is decrypted on the way",
         {true, 200, {}, false, false, false, long_answer, false, true},
         AnswerStrategy::relayed},
        {"an attach to a TLS engine still tunnels",
         {false, 101, {}, false, true, true, {}, false, true},
         AnswerStrategy::tunnel},
        {"a TLS client's attach still tunnels",
         {false, 101, {}, false, true, true, {}, true},
         AnswerStrategy::tunnel},
        {"just under the splice threshold is held whole",
         {true, 200, {}, false, false, false, long_answer - 1},
         AnswerStrategy::buffered},
        {"a chunked answer (no length)",
         {false, 200, {}, false, false, false, {}},
         AnswerStrategy::relayed},
        {"a followed log (no length)",
         {true, 200, {}, false, false, false, {}},
         AnswerStrategy::relayed},
    };
    for (const Row& row : rows) {
        EXPECT_EQ(choose_answer_strategy(row.facts), row.expected) << row.name;
    }
}

}  // namespace
}  // namespace socket_proxy
