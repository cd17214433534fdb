// Named listeners: SOCKET_PROXY_LISTEN and --listen, the {listener: NAME} selector, and the
// clients explain decides for.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "commands.hpp"
#include "config.hpp"
#include "policy.hpp"
#include "policy_file.hpp"

#include "environment_of.hpp"

namespace socket_proxy {
namespace {

using test_support::environment_of;
using test_support::Variables;

CommandLine parse(const std::vector<std::string_view>& args, Variables variables = {}) {
    return parse_command_line(args, environment_of(std::move(variables)));
}

std::string error_of(const std::vector<std::string_view>& args, Variables variables = {}) {
    try {
        (void)parse(args, std::move(variables));
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no ConfigError)";
}

// "a=unix:/p" or "a=tcp:127.0.0.1:2380", the way the table below writes what was parsed.
std::string shown(const NamedListener& listener) {
    return listener.name + "=" +
           (listener.tcp ? "tcp:" + format_tcp_endpoint(listener.tcp)
                         : "unix:" + listener.unix_path);
}

std::vector<std::string> shown(const Config& config) {
    std::vector<std::string> all;
    for (const NamedListener& listener : config.listeners) {
        all.push_back(shown(listener));
    }
    return all;
}

struct ListenRow {
    std::string name;
    std::vector<std::string_view> args;
    Variables variables;
    std::vector<std::string> expected;
};

TEST(NamedListenersTest, ReadsTheVariableAndTheFlags) {
    const ListenRow rows[] = {
        {"none by default", {}, {}, {}},
        {"one unix socket",
         {},
         {{"SOCKET_PROXY_LISTEN", "traefik=unix:/run/traefik/docker.sock"}},
         {"traefik=unix:/run/traefik/docker.sock"}},
        {"comma-separated, spaces around items, the path normalised",
         {},
         {{"SOCKET_PROXY_LISTEN", " a=unix:/run/a//./docker.sock , b_2-x=tcp:127.0.0.1:2380,"}},
         {"a=unix:/run/a/docker.sock", "b_2-x=tcp:127.0.0.1:2380"}},
        {"IPv6 in brackets", {"--listen", "v6=tcp:[::1]:2380"}, {}, {"v6=tcp:[::1]:2380"}},
        {"the flag repeats",
         {"--listen", "a=unix:/a/s", "--listen=b=unix:/b/s"},
         {},
         {"a=unix:/a/s", "b=unix:/b/s"}},
        {"flags replace the variable's list",
         {"--listen", "b=unix:/b/s"},
         {{"SOCKET_PROXY_LISTEN", "a=unix:/a/s"}},
         {"b=unix:/b/s"}},
        {"a 32-character name",
         {"--listen", "abcdefghijklmnopqrstuvwxyz012345=unix:/a/s"},
         {},
         {"abcdefghijklmnopqrstuvwxyz012345=unix:/a/s"}},
        {"TLS with only a named TCP listener",
         {"--listen", "api=tcp:127.0.0.1:2376"},
         {{"SOCKET_PROXY_TCP", "off"},
          {"SOCKET_PROXY_TLS_CERT", "/c.pem"},
          {"SOCKET_PROXY_TLS_KEY", "/k.pem"}},
         {"api=tcp:127.0.0.1:2376"}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name);
        EXPECT_EQ(shown(parse(row.args, row.variables).config), row.expected);
    }
}

struct ListenErrorRow {
    std::vector<std::string_view> args;
    Variables variables;
    std::vector<std::string> mentions;
};

TEST(NamedListenersTest, RefusesBadValuesInOneLine) {
    const std::string too_long = "a=unix:/" + std::string(107, 'p');
    const ListenErrorRow rows[] = {
        {{"--listen", "traefik"}, {}, {"--listen=\"traefik\"", "NAME=unix:PATH"}},
        {{"--listen", "Traefik=unix:/a/s"}, {}, {"\"Traefik=unix:/a/s\"", "a-z, 0-9"}},
        {{"--listen", "=unix:/a/s"}, {}, {"a-z, 0-9"}},
        {{"--listen", "abcdefghijklmnopqrstuvwxyz0123456=unix:/a/s"}, {}, {"1 to 32"}},
        {{"--listen", "a.b=unix:/a/s"}, {}, {"a-z, 0-9"}},
        {{"--listen", "default=unix:/a/s"}, {}, {"name of a default listener"}},
        {{"--listen", "tcp=tcp:127.0.0.1:2380"}, {}, {"name of a default listener"}},
        {{"--listen", "a=unix:run/a.sock"}, {}, {"absolute socket path"}},
        {{"--listen", "a=unix:/run/a/"}, {}, {"absolute socket path"}},
        {{"--listen", too_long}, {}, {"108 bytes", "107"}},
        {{"--listen", "a=udp:127.0.0.1:53"}, {}, {"neither a unix nor a tcp listener"}},
        {{"--listen", "a=tcp:localhost:2380"}, {}, {"numeric"}},
        {{"--listen", "a=tcp:127.0.0.1"}, {}, {"no port"}},
        {{"--listen", "a=tcp:off"}, {}, {"leave the item out"}},
        {{}, {{"SOCKET_PROXY_LISTEN", "a=unix:/a/s,a=unix:/b/s"}}, {"listener a is given twice"}},
        {{"--listen", "a=unix:/a/s", "--listen", "b=unix:/a/s"},
         {},
         {"listener b has the socket /a/s of listener a"}},
        {{"--listen", "a=tcp:127.0.0.1:2380", "--listen", "b=tcp:127.0.0.1:2380"},
         {},
         {"listener b has the TCP address of listener a"}},
        {{"--listen", "a=unix:/run/docker.sock"}, {}, {"Docker daemon's socket"}},
        {{"--listen", "a=unix:/srv/d.sock", "--docker-socket", "/srv/./d.sock"},
         {},
         {"Docker daemon's socket"}},
        {{"--listen", "a=unix:/run/proxy/docker.sock"}, {}, {"default socket"}},
        {{"--listen", "a=tcp:0.0.0.0:2375"}, {}, {"SOCKET_PROXY_TCP or SOCKET_PROXY_METRICS"}},
        {{"--listen", "a=tcp:127.0.0.1:9102", "--metrics", "127.0.0.1:9102"},
         {},
         {"SOCKET_PROXY_TCP or SOCKET_PROXY_METRICS"}},
        {{"--listen", "a=unix:/a/s"},
         {{"SOCKET_PROXY_TCP", "off"},
          {"SOCKET_PROXY_TLS_CERT", "/c.pem"},
          {"SOCKET_PROXY_TLS_KEY", "/k.pem"}},
         {"SOCKET_PROXY_TCP is off"}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.mentions.front());
        const std::string message = error_of(row.args, row.variables);
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
        for (const std::string& part : row.mentions) {
            EXPECT_NE(message.find(part), std::string::npos) << message << "\nmissing: " << part;
        }
    }
}

TEST(ListenerNameTest, ShortLowercaseIdentifiers) {
    for (const std::string_view good : {"a", "traefik", "home-page", "tool_2", "0"}) {
        EXPECT_TRUE(is_listener_name(good)) << good;
    }
    for (const std::string_view bad : {"", "Traefik", "a b", "a.b", "a/b", "a=b", "a,b", "\xc3\xa9",
                                       "a\n", "abcdefghijklmnopqrstuvwxyz0123456"}) {
        EXPECT_FALSE(is_listener_name(bad)) << bad;
    }
}

Client client_on(std::string_view listener, Client::Transport transport, uid_t uid = 1000) {
    Client client;
    client.transport = transport;
    client.listener = std::string(listener);
    if (transport == Client::Transport::unix_socket) {
        client.uid = uid;
        client.gid = uid;
    } else {
        client.ip = IpAddress::parse("127.0.0.1");
        client.address = "127.0.0.1:40000";
    }
    return client;
}

TEST(ListenerSelectorTest, MatchesTheClientsOfItsListenerAndTheOtherFields) {
    const Policy policy = parse_policy_file(R"(
rules:
  - {name: traefik, path: /a, clients: {listener: traefik}, action: allow}
  - {name: root-on-b, path: /b, clients: [{listener: b, uid: 0}], action: allow}
  - {name: api-local, path: /c, clients: [{listener: api, cidr: 127.0.0.0/8, transport: tcp}],
     action: allow}
  - {name: either, path: /d, clients: [{listener: traefik}, {uid: 7}], action: allow}
  - {name: default-socket, path: /e, clients: {listener: default}, action: allow}
)",
                                            "p.yaml");
    const auto allowed = [&](std::string_view target, const Client& client) {
        return decide(Request{"GET", target, "docker"}, client, policy).allowed();
    };
    using T = Client::Transport;
    EXPECT_TRUE(allowed("/a", client_on("traefik", T::unix_socket)));
    EXPECT_FALSE(allowed("/a", client_on("dozzle", T::unix_socket)));
    EXPECT_FALSE(allowed("/a", client_on("default", T::unix_socket)));
    EXPECT_TRUE(allowed("/b", client_on("b", T::unix_socket, 0)));
    EXPECT_FALSE(allowed("/b", client_on("b", T::unix_socket, 1000)));
    EXPECT_FALSE(allowed("/b", client_on("traefik", T::unix_socket, 0)));
    EXPECT_TRUE(allowed("/c", client_on("api", T::tcp)));
    EXPECT_FALSE(allowed("/c", client_on("tcp", T::tcp)));
    EXPECT_TRUE(allowed("/d", client_on("traefik", T::unix_socket)));
    EXPECT_TRUE(allowed("/d", client_on("other", T::unix_socket, 7)));
    EXPECT_FALSE(allowed("/d", client_on("other", T::unix_socket)));
    EXPECT_TRUE(allowed("/e", Client{}));  // a unix client is on the default socket unless told
    EXPECT_FALSE(allowed("/e", client_on("tcp", T::tcp)));
    EXPECT_NE(describe_rule(policy.rules[1]).find("clients listener=b+uid=0"), std::string::npos)
        << describe_rule(policy.rules[1]);
}

TEST(ListenerSelectorTest, RefusesNamesThatNoListenerCanHave) {
    const std::pair<std::string, std::string> rows[] = {
        {"{listener: Traefik}", "is not a listener name"},
        {"{listener: \"\"}", "is not a listener name"},
        {"{listener: [a]}", "clients.listener"},
        {"{listener: a.b}", "is not a listener name"},
        {"{listenr: a}", "listener, transport, uid"},
    };
    for (const auto& [selector, mention] : rows) {
        SCOPED_TRACE(selector);
        std::string message = "(no PolicyError)";
        try {
            (void)parse_policy_file(
                "rules:\n  - {name: r, clients: " + selector + ", action: allow}\n", "p.yaml");
        } catch (const PolicyError& error) {
            message = error.what();
        }
        EXPECT_NE(message.find(mention), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

TEST(ExplainClientTest, NamesTheListenerTheClientCameThrough) {
    Config config;
    config.uid = 1000;
    config.gid = 1001;
    config.listeners = {NamedListener{"traefik", "/run/traefik/docker.sock", std::nullopt},
                        NamedListener{"api", "", TcpEndpoint{"127.0.0.1", 2380}}};
    struct Row {
        std::string spec;
        std::string listener;
        Client::Transport transport;
        std::optional<uid_t> uid;
    };
    const Row rows[] = {
        {"", "default", Client::Transport::unix_socket, 1000},
        {"unix:uid=0", "default", Client::Transport::unix_socket, 0},
        {"tcp:10.0.0.5", "tcp", Client::Transport::tcp, std::nullopt},
        {"tls:cn=ci", "tcp", Client::Transport::tcp, std::nullopt},
        {"listener:traefik", "traefik", Client::Transport::unix_socket, 1000},
        {"listener:api", "api", Client::Transport::tcp, std::nullopt},
        {"unix:uid=0,listener=traefik", "traefik", Client::Transport::unix_socket, 0},
        {"unix:listener=traefik,uid=5", "traefik", Client::Transport::unix_socket, 5},
        {"tcp:10.0.0.5,listener=api", "api", Client::Transport::tcp, std::nullopt},
        {"tls:cn=ci,listener=api", "api", Client::Transport::tcp, std::nullopt},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(row.spec);
        const ExplainClient parsed = parse_explain_client(row.spec, config);
        ASSERT_TRUE(parsed.client);
        EXPECT_EQ(parsed.listener_problem, "");
        EXPECT_EQ(parsed.client->listener, row.listener);
        EXPECT_EQ(parsed.client->transport, row.transport);
        EXPECT_EQ(parsed.client->uid, row.uid);
    }
    EXPECT_EQ(parse_explain_client("listener:api", config).client->address, "127.0.0.1");
    EXPECT_EQ(
        parse_explain_client("tls:cn=ci,listener=api", config).client->certificate->common_name,
        "ci");
}

TEST(ExplainClientTest, RefusesListenersTheProxyWouldNotHave) {
    Config config;
    config.tcp.reset();
    config.listeners = {NamedListener{"traefik", "/run/traefik/docker.sock", std::nullopt}};
    const std::pair<std::string, std::string> problems[] = {
        {"listener:nope", "listener nope is not configured"},
        {"unix:uid=0,listener=nope", "listener nope is not configured"},
        {"tcp:10.0.0.5", "listener tcp is not configured"},  // SOCKET_PROXY_TCP is off
        {"tcp:10.0.0.5,listener=traefik", "is a unix listener"},
        {"listener:traefik,listener=traefik", ""},
        {"listener:", ""},
        {"unix:uid=0,listener=", ""},
        {"unix:uid=0,listener=Traefik", ""},
        {"unix:uid=0,listener=traefik,listener=x", ""},
    };
    for (const auto& [spec, problem] : problems) {
        SCOPED_TRACE(spec);
        const ExplainClient parsed = parse_explain_client(spec, config);
        if (problem.empty()) {
            EXPECT_FALSE(parsed.client);
        } else {
            EXPECT_NE(parsed.listener_problem.find(problem), std::string::npos)
                << parsed.listener_problem;
        }
    }
}

}  // namespace
}  // namespace socket_proxy
