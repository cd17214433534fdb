// How a label-scoped /events stream is cut into events: lines split across reads, blank lines,
// a last line without its newline, and a line too long to judge.
#include "event_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace socket_proxy {
namespace {

std::vector<LabelSelector> traefik_labels() {
    std::string problem;
    return {*LabelSelector::parse("traefik.enable=true", problem)};
}

std::string event(std::string_view name, bool shown) {
    return R"({"Type":"container","Action":"start","Actor":{"ID":"x","Attributes":{"name":")" +
           std::string(name) + R"(","traefik.enable":")" + (shown ? "true" : "false") +
           R"("}},"time":1})";
}

TEST(EventFilterTest, PassesOnlyVisibleEventsWholeAndInOrder) {
    const auto labels = traefik_labels();
    EventFilter filter(labels);
    const std::string web = event("web", true);
    const std::string db = event("db", false);
    const std::string stream = web + "\n" + db + "\n\r\n" + web + "\n";
    std::string visible;
    // One byte at a time: an event is passed on only once its line is complete.
    for (std::size_t at = 0; at < stream.size(); ++at) {
        ASSERT_TRUE(filter.take(stream.substr(at, 1), false, visible));
        if (at + 1 == web.size()) {
            EXPECT_EQ(visible, "");
        }
    }
    EXPECT_EQ(visible, web + "\n" + web + "\n");
    EXPECT_EQ(filter.hidden(), 1u);
    EXPECT_EQ(filter.unreadable(), 0u);
}

TEST(EventFilterTest, TheLastLineCountsWithoutItsNewline) {
    const auto labels = traefik_labels();
    EventFilter filter(labels);
    const std::string web = event("web", true);
    std::string visible;
    ASSERT_TRUE(filter.take(web, false, visible));
    EXPECT_EQ(visible, "");
    ASSERT_TRUE(filter.take("", true, visible));
    EXPECT_EQ(visible, web + "\n");
}

TEST(EventFilterTest, AnUnreadableEventIsDroppedAndCounted) {
    const auto labels = traefik_labels();
    EventFilter filter(labels);
    std::string visible;
    ASSERT_TRUE(filter.take("not json\n", false, visible));
    EXPECT_EQ(visible, "");
    EXPECT_EQ(filter.unreadable(), 1u);
}

TEST(EventFilterTest, ALineLongerThanAnEventCanBeEndsTheStream) {
    const auto labels = traefik_labels();
    EventFilter filter(labels);
    std::string visible;
    EXPECT_TRUE(filter.take(std::string(max_event_bytes, 'x'), false, visible));
    EXPECT_FALSE(filter.take("x", false, visible));
}

}  // namespace
}  // namespace socket_proxy
