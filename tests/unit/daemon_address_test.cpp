// SOCKET_PROXY_DOCKER_SOCKET as the docker CLI's DOCKER_HOST writes it: what each form means,
// and the one line a mistaken form gets.
#include "daemon_address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_error.hpp"
#include "daemon_connect.hpp"

namespace socket_proxy {
namespace {

constexpr std::string_view what = "SOCKET_PROXY_DOCKER_SOCKET";

struct GoodRow {
    std::string value;
    std::string unix_path;
    std::string host;
    unsigned short port;
    std::string text;
    bool loopback;
};

TEST(DaemonAddressTest, ReadsPathsUnixAndTcpUrls) {
    const GoodRow rows[] = {
        {"/run/docker.sock", "/run/docker.sock", "", 0, "/run/docker.sock", false},
        {"unix:///var/run/docker.sock", "/var/run/docker.sock", "", 0, "/var/run/docker.sock",
         false},
        {"tcp://127.0.0.1:2376", "", "127.0.0.1", 2376, "tcp://127.0.0.1:2376", true},
        {"tcp://docker.example.com:2376", "", "docker.example.com", 2376,
         "tcp://docker.example.com:2376", false},
        {"tcp://localhost:2375", "", "localhost", 2375, "tcp://localhost:2375", true},
        {"tcp://[::1]:2376", "", "::1", 2376, "tcp://[::1]:2376", true},
        {"tcp://[fd00::5]:65535", "", "fd00::5", 65535, "tcp://[fd00::5]:65535", false},
        {"tcp://10.0.0.5:1", "", "10.0.0.5", 1, "tcp://10.0.0.5:1", false},
        {"tcp://engine-1:2376", "", "engine-1", 2376, "tcp://engine-1:2376", false},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.value);
        const DaemonAddress address = parse_daemon_address(what, row.value);
        EXPECT_EQ(address.unix_path, row.unix_path);
        EXPECT_EQ(address.host, row.host);
        EXPECT_EQ(address.port, row.port);
        EXPECT_EQ(address.tcp(), row.unix_path.empty());
        EXPECT_EQ(address.text(), row.text);
        if (address.tcp()) {
            EXPECT_EQ(address.host_is_loopback(), row.loopback);
            // The text it writes reads back as the same address.
            EXPECT_EQ(parse_daemon_address(what, address.text()).text(), row.text);
        }
    }
}

struct BadRow {
    std::string value;
    std::vector<std::string> mentions;
};

TEST(DaemonAddressTest, RefusesMistakesInOneLine) {
    const BadRow rows[] = {
        {"docker.sock", {"absolute"}},
        {"unix://docker.sock", {"absolute"}},
        {"unix://", {"empty"}},
        {"/" + std::string(107, 'd'), {"too long", "108 bytes"}},
        {"tcp://127.0.0.1", {"has no port", "2376"}},
        {"tcp://127.0.0.1:", {"no port from 1 to 65535"}},
        {"tcp://127.0.0.1:0", {"no port from 1 to 65535"}},
        {"tcp://127.0.0.1:65536", {"no port from 1 to 65535"}},
        {"tcp://127.0.0.1:2376/", {"a path after its port"}},
        {"tcp://127.0.0.1:2376/v1.41", {"a path after its port"}},
        {"tcp://:2376", {"does not name a host"}},
        {"tcp://::1:2376", {"does not name a host"}},
        {"tcp://[::1:2376", {"no ]"}},
        {"tcp://[nonsense]:2376", {"no IPv6 address"}},
        {"tcp://[::1]2376", {"more than a host and a port"}},
        {"tcp://user@host:2376", {"does not name a host"}},
        {"tcp://-bad.example:2376", {"does not name a host"}},
        {"tcp://bad_name:2376", {"does not name a host"}},
        {"http://127.0.0.1:2375", {"neither unix:// nor tcp://"}},
        {"ssh://user@host", {"neither unix:// nor tcp://"}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.value);
        try {
            (void)parse_daemon_address(what, row.value);
            ADD_FAILURE() << "accepted";
        } catch (const ConfigError& error) {
            const std::string message = error.what();
            EXPECT_EQ(message.find('\n'), std::string::npos) << message;
            EXPECT_NE(message.find(what), std::string::npos) << message;
            for (const auto& part : row.mentions) {
                EXPECT_NE(message.find(part), std::string::npos)
                    << "message: " << message << "\nmissing: " << part;
            }
        }
    }
}

// wolfSSL matches a certificate's IP names only against the fully written-out IPv6 form.
TEST(DaemonAddressTest, ExpandsIpv6ForTheCertificateCheck) {
    EXPECT_EQ(expanded_ip_text("::1"), "0000:0000:0000:0000:0000:0000:0000:0001");
    EXPECT_EQ(expanded_ip_text("fd00::a:5"), "fd00:0000:0000:0000:0000:0000:000a:0005");
    EXPECT_EQ(expanded_ip_text("127.0.0.1"), "127.0.0.1");
}

}  // namespace
}  // namespace socket_proxy
