// Addresses and networks for client selectors and SOCKET_PROXY_ALLOW_FROM.
#include "address.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace socket_proxy {
namespace {

struct ContainsRow {
    std::string_view network;
    std::string_view address;
    bool inside;
};

TEST(IpNetworkTest, ContainsByPrefix) {
    const ContainsRow rows[] = {
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.1", false},
        {"172.16.0.0/12", "172.31.255.255", true},
        {"172.16.0.0/12", "172.32.0.0", false},
        {"192.168.1.0/25", "192.168.1.127", true},
        {"192.168.1.0/25", "192.168.1.128", false},
        {"127.0.0.1", "127.0.0.1", true},
        {"127.0.0.1", "127.0.0.2", false},
        {"0.0.0.0/0", "8.8.8.8", true},
        {"0.0.0.0/0", "::1", false},
        {"::1", "::1", true},
        {"fd00::/8", "fd12:3456::1", true},
        {"fd00::/8", "fe80::1", false},
        {"10.0.0.0/8", "::ffff:10.1.2.3", true},
        {"10.0.0.0/8", "[::ffff:10.1.2.3]", true},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message() << row.network << " " << row.address);
        const auto network = IpNetwork::parse(row.network);
        const auto address = IpAddress::parse(row.address);
        ASSERT_TRUE(network && address);
        EXPECT_EQ(network->contains(*address), row.inside);
    }
}

TEST(IpNetworkTest, RefusesWhatIsNoNetwork) {
    for (const std::string_view text :
         {"", "10.0.0.0/33", "10.0.0.1/8", "10/8", "10.0.0.0/", "10.0.0.0/-1", "::/129",
          "host.example/8", "10.0.0.0/8x", "1.2.3.4.5"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(IpNetwork::parse(text).has_value());
    }
    EXPECT_EQ(IpNetwork::parse("10.0.0.0/8")->text, "10.0.0.0/8");
    EXPECT_EQ(IpNetwork::parse("fd00:0::/8")->text, "fd00::/8");
    EXPECT_EQ(IpNetwork::parse("127.0.0.1")->text, "127.0.0.1/32");
}

}  // namespace
}  // namespace socket_proxy
