// Go's name folding and strings.Split, which the body checks and the read guards read with.
#include "go_text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace socket_proxy {
namespace {

TEST(GoTextTest, FoldsAsGoComparesFieldNames) {
    EXPECT_EQ(go_fold("Bind\xC5\xBF"), "binds");
    EXPECT_EQ(go_fold("\xE2\x84\xAA"
                      "ernelMemory"),
              "kernelmemory");
    EXPECT_EQ(go_fold("Priv\xC3\xA9"), "priv\xC3\xA9");  // other letters stay as they are
    EXPECT_TRUE(go_fold_equals("bind\xC5\xBF", "Binds"));
    EXPECT_TRUE(go_fold_equals("PS_ARGS", "ps_args"));
    EXPECT_FALSE(go_fold_equals("Bind", "Binds"));
    EXPECT_FALSE(go_fold_equals("Bindss", "Binds"));
    EXPECT_FALSE(go_fold_equals("\xC5\xBF", "k"));
    EXPECT_FALSE(go_fold_equals("", "x"));
    EXPECT_TRUE(go_fold_equals("", ""));
}

TEST(GoTextTest, SplitsLikeStringsSplit) {
    EXPECT_EQ(split("", ','), (std::vector<std::string_view>{""}));
    EXPECT_EQ(split("a,,b,", ','), (std::vector<std::string_view>{"a", "", "b", ""}));
    EXPECT_EQ(split("/src:/dst:ro", ':'), (std::vector<std::string_view>{"/src", "/dst", "ro"}));
}

}  // namespace
}  // namespace socket_proxy
