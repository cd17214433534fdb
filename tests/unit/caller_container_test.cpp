// Which container a caller is: addresses from the engine's list, events, cgroups.
#include "caller_container.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace socket_proxy {
namespace {

const std::string web_id(64, 'a');
const std::string db_id(64, 'b');
const std::string other_id(64, 'c');

// One entry of GET /containers/json in the engine's shape (fields the proxy reads).
std::string list_entry(const std::string& id, std::string_view name, std::string_view address,
                       std::string_view v6 = "", std::string_view labels = "{}") {
    return R"({"Id":")" + id + R"(","Names":["/other/alias",")" + std::string(name) +
           R"("],"Labels":)" + std::string(labels) +
           R"(,"State":"running","NetworkSettings":{"Networks":{"bridge":{"IPAddress":")" +
           std::string(address) + R"(","GlobalIPv6Address":")" + std::string(v6) +
           R"("},"none":{"IPAddress":""}}}})";
}

IpAddress ip(std::string_view text) {
    return IpAddress::parse(text).value();
}

TEST(ContainerAddressesTest, FindsTheContainerByAnyOfItsAddresses) {
    ContainerAddresses addresses;
    ASSERT_TRUE(addresses.replace_from_list(
        "[" +
        list_entry(web_id, "/web", "172.17.0.2", "fd00::2",
                   R"({"com.docker.compose.service":"web","tier":"front"})") +
        "," + list_entry(db_id, "/db", "172.17.0.3") + "]"));
    const auto web = addresses.owner(ip("172.17.0.2"));
    ASSERT_TRUE(web);
    EXPECT_EQ(web->id, web_id);
    EXPECT_EQ(web->name, "web");  // not the link alias
    EXPECT_EQ(web->label("tier"), "front");
    EXPECT_EQ(web->label("absent"), std::nullopt);
    EXPECT_EQ(addresses.owner(ip("fd00::2")), web);
    EXPECT_EQ(addresses.owner(ip("::ffff:172.17.0.3"))->id, db_id);
    EXPECT_EQ(addresses.owner(ip("172.17.0.4")), nullptr);
    EXPECT_EQ(addresses.owner(ip("127.0.0.1")), nullptr);
}

TEST(ContainerAddressesTest, AnAddressTwoContainersClaimBelongsToNeither) {
    ContainerAddresses addresses;
    ASSERT_TRUE(addresses.replace_from_list("[" + list_entry(web_id, "/web", "10.0.0.2") + "," +
                                            list_entry(db_id, "/db", "10.0.0.2") + "]"));
    EXPECT_EQ(addresses.owner(ip("10.0.0.2")), nullptr);
    addresses.forget_container(web_id);
    EXPECT_EQ(addresses.owner(ip("10.0.0.2")), nullptr);
}

TEST(ContainerAddressesTest, ForgettingAContainerFreesItsAddressesAtOnce) {
    ContainerAddresses addresses;
    ASSERT_TRUE(addresses.replace_from_list("[" + list_entry(web_id, "/web", "10.0.0.2") + "," +
                                            list_entry(db_id, "/db", "10.0.0.3") + "]"));
    addresses.forget_container(web_id);
    EXPECT_EQ(addresses.owner(ip("10.0.0.2")), nullptr);
    EXPECT_EQ(addresses.owner(ip("10.0.0.3"))->id, db_id);
    // The next list is the truth: the address now belongs to another container.
    ASSERT_TRUE(addresses.replace_from_list("[" + list_entry(other_id, "/new", "10.0.0.2") + "]"));
    EXPECT_EQ(addresses.owner(ip("10.0.0.2"))->id, other_id);
    EXPECT_EQ(addresses.owner(ip("10.0.0.3")), nullptr);
}

TEST(ContainerAddressesTest, AnAnswerThatIsNoListLeavesTheEntries) {
    ContainerAddresses addresses;
    ASSERT_TRUE(addresses.replace_from_list("[" + list_entry(web_id, "/web", "10.0.0.2") + "]"));
    for (const std::string_view answer :
         {"", "{}", "[1]", R"([{"Id":"short"}])", "[{]", R"({"message":"server error"})"}) {
        SCOPED_TRACE(answer);
        EXPECT_FALSE(addresses.replace_from_list(answer));
        EXPECT_EQ(addresses.size(), 1U);
    }
    EXPECT_TRUE(addresses.replace_from_list("[]"));
    EXPECT_EQ(addresses.size(), 0U);
}

struct EventRow {
    std::string_view event;
    AddressChange::Kind kind;
    std::string_view container;
};

TEST(AddressChangeTest, ReadsTheEventsThatMoveAddresses) {
    const EventRow rows[] = {
        {R"({"Type":"container","Action":"die","Actor":{"ID":"abc"}})", AddressChange::Kind::forget,
         "abc"},
        {R"({"Type":"container","Action":"destroy","Actor":{"ID":"abc"}})",
         AddressChange::Kind::forget, "abc"},
        {R"({"Type":"container","Action":"start","Actor":{"ID":"abc"}})",
         AddressChange::Kind::reload, ""},
        {R"({"Type":"container","Action":"rename","Actor":{"ID":"abc"}})",
         AddressChange::Kind::reload, ""},
        {R"({"Type":"network","Action":"disconnect","Actor":{"ID":"net","Attributes":{"container":"abc"}}})",
         AddressChange::Kind::forget, "abc"},
        {R"({"Type":"network","Action":"connect","Actor":{"ID":"net","Attributes":{"container":"abc"}}})",
         AddressChange::Kind::reload, ""},
        {R"({"Type":"container","Action":"exec_start: sh","Actor":{"ID":"abc"}})",
         AddressChange::Kind::none, ""},
        {R"({"Type":"image","Action":"delete","Actor":{"ID":"abc"}})", AddressChange::Kind::none,
         ""},
        {R"({"Type":"container","Action":"die"})", AddressChange::Kind::none, ""},
        {"not json", AddressChange::Kind::none, ""},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.event);
        const AddressChange change = address_change_from_event(row.event);
        EXPECT_EQ(change.kind, row.kind);
        EXPECT_EQ(change.container_id, row.container);
    }
}

TEST(CallerFromInspectTest, OnlyARunningContainerWithThatAddress) {
    const auto inspect = [](std::string_view state, std::string_view address) {
        return R"({"Id":")" + web_id + R"(","Name":"/web","State":)" + std::string(state) +
               R"(,"Config":{"Labels":{"com.docker.compose.service":"web"}})" +
               R"(,"NetworkSettings":{"Networks":{"n":{"IPAddress":")" + std::string(address) +
               R"("}}}})";
    };
    const std::string running = R"({"Running":true,"Paused":false})";
    const IpAddress address = ip("10.0.0.2");
    const auto web = caller_from_inspect(inspect(running, "10.0.0.2"), &address);
    ASSERT_TRUE(web);
    EXPECT_EQ(web->id, web_id);
    EXPECT_EQ(web->name, "web");
    EXPECT_EQ(web->label(compose_service_label), "web");
    EXPECT_TRUE(caller_from_inspect(inspect(running, "10.0.0.3"), nullptr));
    EXPECT_FALSE(caller_from_inspect(inspect(running, "10.0.0.3"), &address));
    EXPECT_FALSE(caller_from_inspect(inspect(R"({"Running":false})", "10.0.0.2"), &address));
    EXPECT_FALSE(
        caller_from_inspect(inspect(R"({"Running":true,"Paused":true})", "10.0.0.2"), &address));
    EXPECT_FALSE(caller_from_inspect(R"({"message":"No such container: x"})", nullptr));
}

struct CgroupRow {
    std::string text;
    std::optional<std::string> id;
};

TEST(ContainerIdFromCgroupTest, ReadsEveryDriversPaths) {
    const std::string id(64, 'e');
    const std::string inner(64, 'f');
    const CgroupRow rows[] = {
        // cgroup v1 with Docker's cgroupfs driver, as on the development machine
        {"12:pids:/docker/" + id + "\n1:cpu:/docker/" + id + "\n0::/docker/" + id + "\n", id},
        {"0::/system.slice/docker-" + id + ".scope\n", id},
        {"0::/machine.slice/libpod-" + id + ".scope/container\n", id},
        {"0::/libpod_parent/libpod-" + id + "\n", id},
        // nested engines: the innermost container
        {"0::/docker/" + id + "/docker/" + inner + "\n", inner},
        // on the host, or a name that is not an id
        {"0::/init.scope\n", std::nullopt},
        {"0::/user.slice/user-0.slice/session-1.scope\n", std::nullopt},
        {"0::/docker/" + id.substr(0, 12) + "\n", std::nullopt},
        {"0::/elsewhere/" + id + "\n", std::nullopt},
        {"0::/docker/" + std::string(64, 'E') + "\n", std::nullopt},
        // hierarchies that disagree: nobody
        {"1:cpu:/docker/" + id + "\n0::/docker/" + inner + "\n", std::nullopt},
        {"", std::nullopt},
        {"garbage", std::nullopt},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.text);
        EXPECT_EQ(container_id_from_cgroup(row.text), row.id);
    }
}

}  // namespace
}  // namespace socket_proxy
