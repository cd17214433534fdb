#include "config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "environment_of.hpp"

namespace socket_proxy {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

using test_support::environment_of;
using test_support::Variables;

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no ConfigError)";
}

// Every expectation about an error: it names the source, quotes the value, and is one line.
void expect_error_mentions(const std::string& message, const std::vector<std::string>& parts) {
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const auto& part : parts) {
        EXPECT_NE(message.find(part), std::string::npos)
            << "message: " << message << "\nmissing: " << part;
    }
}

void expect_same_config(const Config& actual, const Config& expected) {
    EXPECT_EQ(actual.volume, expected.volume);
    EXPECT_EQ(actual.docker_socket, expected.docker_socket);
    EXPECT_EQ(actual.docker_cert_path, expected.docker_cert_path);
    EXPECT_EQ(actual.uid, expected.uid);
    EXPECT_EQ(actual.gid, expected.gid);
    EXPECT_EQ(format_tcp_endpoint(actual.tcp), format_tcp_endpoint(expected.tcp));
    EXPECT_EQ(format_tcp_endpoint(actual.metrics), format_tcp_endpoint(expected.metrics));
    EXPECT_EQ(actual.keepalive.count(), expected.keepalive.count());
    EXPECT_EQ(actual.timeout.count(), expected.timeout.count());
    EXPECT_EQ(actual.debug, expected.debug);
    EXPECT_EQ(actual.max_head_bytes, expected.max_head_bytes);
    EXPECT_EQ(actual.max_header_fields, expected.max_header_fields);
    EXPECT_EQ(actual.head_timeout.count(), expected.head_timeout.count());
    EXPECT_EQ(actual.idle_timeout.count(), expected.idle_timeout.count());
    EXPECT_EQ(actual.max_connections, expected.max_connections);
    EXPECT_EQ(actual.policy_file, expected.policy_file);
    EXPECT_EQ(actual.tls_cert, expected.tls_cert);
    EXPECT_EQ(actual.tls_key, expected.tls_key);
    EXPECT_EQ(actual.tls_ca, expected.tls_ca);
    EXPECT_EQ(actual.redact, expected.redact);
    ASSERT_EQ(actual.allow_from.size(), expected.allow_from.size());
    for (std::size_t i = 0; i < actual.allow_from.size(); ++i) {
        EXPECT_EQ(actual.allow_from[i].text, expected.allow_from[i].text);
    }
}

// --- sizes ------------------------------------------------------------------------------

TEST(SizeTest, AcceptsBytesAndBinaryUnits) {
    const std::pair<std::string_view, std::size_t> rows[] = {
        {"65536", 65536}, {"64KiB", 65536},  {"64k", 65536},  {"64K", 65536},
        {"64kb", 65536},  {"1MiB", 1048576}, {"1m", 1048576}, {"1M", 1048576},
        {"1500", 1500},   {"1500b", 1500},   {"0", 0},
    };
    for (const auto& [text, expected] : rows) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_size("SOCKET_PROXY_MAX_HEAD_SIZE", text), expected);
    }
}

TEST(SizeTest, RejectsGarbageQuotingTheValue) {
    for (const std::string_view text : {"", "k", "64 KiB", "-1", "1.5k", "64GiB", "64x", "0x10",
                                        "99999999999999999999", "18014398509481984k"}) {
        SCOPED_TRACE(text);
        const std::string message =
            error_of([&] { (void)parse_size("SOCKET_PROXY_MAX_HEAD_SIZE", text); });
        expect_error_mentions(message,
                              {"SOCKET_PROXY_MAX_HEAD_SIZE=\"" + std::string(text) + "\""});
    }
}

TEST(SizeTest, FormatsTheWayHelpPrintsIt) {
    EXPECT_EQ(format_size(65536), "64KiB");
    EXPECT_EQ(format_size(1048576), "1MiB");
    EXPECT_EQ(format_size(1500), "1500");
    EXPECT_EQ(format_size(0), "0");
}

// --- durations --------------------------------------------------------------------------

struct DurationRow {
    std::string_view input;
    Duration expected;
};

TEST(DurationTest, AcceptsUnitsAndBareSeconds) {
    const DurationRow rows[] = {
        {"30s", 30s},    {"500ms", 500ms}, {"2m", 2min},        {"1h", 1h},
        {"30", 30s},     {"0.5", 500ms},   {"0", 0ms},          {"0s", 0ms},
        {"0ms", 0ms},    {"0.0", 0ms},     {"1.5s", 1500ms},    {"0.25m", 15s},
        {"1.5h", 90min}, {"0.001", 1ms},   {"1.0009", 1000ms},  // below a millisecond is truncated
        {"007", 7s},     {"8760h", 8760h}, {"31536000", 8760h}, {"31536000000ms", 8760h},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.input);
        Duration parsed{};
        EXPECT_NO_THROW(parsed = parse_duration("--timeout", row.input)) << row.input;
        EXPECT_EQ(parsed.count(), row.expected.count());
    }
}

struct RejectedRow {
    std::string_view input;
    std::string_view reason;  // a word the message must contain
};

TEST(DurationTest, RejectsGarbageNamingTheSourceAndQuotingTheValue) {
    const RejectedRow rows[] = {
        {"", "not a duration"},         {"30x", "not a duration"},
        {"-5s", "not a duration"},      {"-0", "not a duration"},
        {"+5s", "not a duration"},      {" 30s", "not a duration"},
        {"30s ", "not a duration"},     {"5 s", "not a duration"},
        {"1.", "not a duration"},       {".5", "not a duration"},
        {"1,5", "not a duration"},  // a comma locale's decimal separator
        {"1e3", "not a duration"},      {"inf", "not a duration"},
        {"nan", "not a duration"},      {"0x10", "not a duration"},
        {"s", "not a duration"},        {"30S", "not a duration"},
        {"1h30m", "not a duration"},    {"10d", "not a duration"},
        {"8761h", "too long"},          {"31536001", "too long"},
        {"8760.5h", "too long"},        {"99999999999999999999999", "too long"},
        {"0.0001", "shorter than 1ms"}, {"0.5ms", "shorter than 1ms"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.input);
        const std::string message =
            error_of([&] { (void)parse_duration("SOCKET_PROXY_TIMEOUT", row.input); });
        expect_error_mentions(message, {"SOCKET_PROXY_TIMEOUT=\"" + std::string(row.input) + "\"",
                                        std::string(row.reason)});
    }
}

TEST(DurationTest, MessageSaysWhatIsAccepted) {
    EXPECT_EQ(error_of([] { (void)parse_duration("SOCKET_PROXY_TIMEOUT", "30x"); }),
              "SOCKET_PROXY_TIMEOUT=\"30x\" is not a duration: use a number of seconds or a value "
              "like 500ms, 30s, 2m, 1h");
}

TEST(DurationTest, FormatsTheWayHelpPrintsIt) {
    const std::pair<Duration, std::string_view> rows[] = {
        {0ms, "0"},   {500ms, "500ms"}, {1500ms, "1500ms"}, {30s, "30s"},
        {90s, "90s"}, {2min, "2m"},     {1h, "1h"},         {90min, "90m"},
    };
    for (const auto& [duration, text] : rows) {
        EXPECT_EQ(format_duration(duration), text);
        EXPECT_EQ(parse_duration("test", text).count(), duration.count()) << text;
    }
}

// --- TCP endpoints ----------------------------------------------------------------------

struct EndpointRow {
    std::string_view input;
    std::optional<TcpEndpoint> expected;
};

TEST(TcpEndpointTest, AcceptsNumericAddressesAndOff) {
    const EndpointRow rows[] = {
        {"off", std::nullopt},
        {"OFF", std::nullopt},
        {"Off", std::nullopt},
        {"0.0.0.0:2375", TcpEndpoint{"0.0.0.0", 2375}},
        {"127.0.0.1:2375", TcpEndpoint{"127.0.0.1", 2375}},
        {"192.168.1.10:65535", TcpEndpoint{"192.168.1.10", 65535}},
        {"10.0.0.1:1", TcpEndpoint{"10.0.0.1", 1}},
        {":2375", TcpEndpoint{"0.0.0.0", 2375}},
        {"[::]:2375", TcpEndpoint{"::", 2375}},
        {"[::1]:2375", TcpEndpoint{"::1", 2375}},
        {"[0:0:0:0:0:0:0:1]:80", TcpEndpoint{"::1", 80}},
        {"[::ffff:127.0.0.1]:2375", TcpEndpoint{"::ffff:127.0.0.1", 2375}},
        {"[2001:DB8::1]:443", TcpEndpoint{"2001:db8::1", 443}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.input);
        std::optional<TcpEndpoint> parsed;
        EXPECT_NO_THROW(parsed = parse_tcp_endpoint("--tcp", row.input));
        ASSERT_EQ(parsed.has_value(), row.expected.has_value());
        if (parsed) {
            EXPECT_EQ(parsed->address, row.expected->address);
            EXPECT_EQ(parsed->port, row.expected->port);
        }
    }
}

TEST(TcpEndpointTest, RejectsHostNamesAndMalformedEndpoints) {
    const RejectedRow rows[] = {
        {"localhost:2375", "only numeric addresses"},
        {"docker.example.com:2375", "only numeric addresses"},
        {"127.0.0.1", "no port"},
        {"[::1]", "no port"},
        {"[::1]2375", "no port"},
        {"", "no port"},
        {"on", "no port"},
        {"0.0.0.0:", "valid port"},
        {"0.0.0.0:0", "valid port"},
        {"0.0.0.0:65536", "valid port"},
        {"0.0.0.0:99999999999", "valid port"},
        {"0.0.0.0:abc", "valid port"},
        {"0.0.0.0:+80", "valid port"},
        {"0.0.0.0:-1", "valid port"},
        {"0.0.0.0: 80", "valid port"},
        {"0.0.0.0:2375 ", "valid port"},
        {"::1:2375", "brackets"},
        {"::", "brackets"},
        {"[::1:2375", "not a TCP endpoint"},
        {"[]:2375", "not a TCP endpoint"},
        {"[127.0.0.1]:2375", "not a TCP endpoint"},
        {"[fe80::1%eth0]:2375", "not a TCP endpoint"},
        {"[::g]:2375", "not a TCP endpoint"},
        {"1.2.3.256:80", "not a TCP endpoint"},
        {"1.2.3:80", "not a TCP endpoint"},
        {"1.2.3.4.5:80", "not a TCP endpoint"},
        {"01.2.3.4:80", "not a TCP endpoint"},  // inet_aton would read 01 as octal
        {"my_host:80", "not a TCP endpoint"},
        {" 0.0.0.0:2375", "not a TCP endpoint"},
        {"127.0.0.1\0x:80"sv, "not a TCP endpoint"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.input);
        const std::string message =
            error_of([&] { (void)parse_tcp_endpoint("SOCKET_PROXY_TCP", row.input); });
        expect_error_mentions(message, {"SOCKET_PROXY_TCP=\"", std::string(row.reason)});
    }
}

TEST(TcpEndpointTest, FormatsWithBracketsForIpv6) {
    EXPECT_EQ(format_tcp_endpoint(std::nullopt), "off");
    EXPECT_EQ(format_tcp_endpoint(TcpEndpoint{"0.0.0.0", 2375}), "0.0.0.0:2375");
    EXPECT_EQ(format_tcp_endpoint(TcpEndpoint{"::", 2375}), "[::]:2375");
}

// --- environment ------------------------------------------------------------------------

const std::string longest_volume = "/" + std::string(94, 'v');  // + "/docker.sock" = 107 bytes

struct EnvRow {
    std::string_view name;
    Variables variables;
    std::function<void(Config&)> expect;  // applied to Config{}
};

TEST(ConfigEnvTest, ReadsEveryVariable) {
    const EnvRow rows[] = {
        {"nothing set keeps the defaults", {}, [](Config&) {}},
        {"volume",
         {{"SOCKET_PROXY_VOLUME", "/srv/proxy"}},
         [](Config& c) { c.volume = "/srv/proxy"; }},
        {"longest volume that fits sockaddr_un",
         {{"SOCKET_PROXY_VOLUME", longest_volume}},
         [](Config& c) { c.volume = longest_volume; }},
        {"docker socket",
         {{"SOCKET_PROXY_DOCKER_SOCKET", "/var/run/docker.sock"}},
         [](Config& c) { c.docker_socket = "/var/run/docker.sock"; }},
        {"docker socket as DOCKER_HOST writes it",
         {{"SOCKET_PROXY_DOCKER_SOCKET", "unix:///var/run/docker.sock"}},
         [](Config& c) { c.docker_socket = "/var/run/docker.sock"; }},
        {"a remote engine over TLS",
         {{"SOCKET_PROXY_DOCKER_SOCKET", "tcp://docker.example:2376"},
          {"SOCKET_PROXY_DOCKER_CERT_PATH", "/certs"}},
         [](Config& c) {
             c.docker_socket = "tcp://docker.example:2376";
             c.docker_cert_path = "/certs";
         }},
        {"uid and gid",
         {{"SOCKET_PROXY_UID", "0"}, {"SOCKET_PROXY_GID", "4294967294"}},
         [](Config& c) {
             c.uid = 0;
             c.gid = 4294967294;
         }},
        {"tcp off", {{"SOCKET_PROXY_TCP", "off"}}, [](Config& c) { c.tcp = std::nullopt; }},
        {"tcp ipv6",
         {{"SOCKET_PROXY_TCP", "[::1]:2376"}},
         [](Config& c) {
             c.tcp = TcpEndpoint{"::1", 2376};
         }},
        {"an empty SOCKET_PROXY_REDACT leaves redaction on",
         {{"SOCKET_PROXY_REDACT", ""}},
         [](Config& c) { c.redact.reset(); }},
        {"metrics listener",
         {{"SOCKET_PROXY_METRICS", "127.0.0.1:9102"}},
         [](Config& c) {
             c.metrics = TcpEndpoint{"127.0.0.1", 9102};
         }},
        {"durations",
         {{"SOCKET_PROXY_KEEPALIVE", "0"}, {"SOCKET_PROXY_TIMEOUT", "500ms"}},
         [](Config& c) {
             c.keepalive = 0ms;
             c.timeout = 500ms;
         }},
        {"debug", {{"DEBUG", "1"}}, [](Config& c) { c.debug = true; }},
        {"client limits",
         {{"SOCKET_PROXY_MAX_HEAD_SIZE", "16KiB"},
          {"SOCKET_PROXY_MAX_HEADERS", "20"},
          {"SOCKET_PROXY_HEAD_TIMEOUT", "3s"},
          {"SOCKET_PROXY_IDLE_TIMEOUT", "0"},
          {"SOCKET_PROXY_MAX_CONNECTIONS", "5000"}},
         [](Config& c) {
             c.max_head_bytes = 16 * 1024;
             c.max_header_fields = 20;
             c.head_timeout = 3s;
             c.idle_timeout = 0ms;
             c.max_connections = 5000;
         }},
        {"policy and allowed networks",
         {{"SOCKET_PROXY_POLICY", "/etc/socket-proxy/policy.yaml"},
          {"SOCKET_PROXY_ALLOW_FROM", "172.18.0.0/16, 127.0.0.1,fd00::/8,"}},
         [](Config& c) {
             c.policy_file = "/etc/socket-proxy/policy.yaml";
             c.allow_from = {*IpNetwork::parse("172.18.0.0/16"), *IpNetwork::parse("127.0.0.1"),
                             *IpNetwork::parse("fd00::/8")};
         }},
        {"head size bounds",
         {{"SOCKET_PROXY_MAX_HEAD_SIZE", "1KiB"}},
         [](Config& c) { c.max_head_bytes = 1024; }},
        {"unrelated variables are ignored",
         {{"SOCKET_PROXY_BOGUS", "x"}, {"TZ", "UTC"}},
         [](Config&) {}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name);
        CommandLine parsed;
        EXPECT_NO_THROW(parsed = parse_command_line({}, environment_of(row.variables)));
        EXPECT_EQ(parsed.command, Command::serve);
        Config expected;
        row.expect(expected);
        expect_same_config(parsed.config, expected);
    }
}

struct EnvErrorRow {
    Variables variables;
    std::vector<std::string> mentions;
};

TEST(ConfigEnvTest, RejectsBadValuesNamingTheVariable) {
    const EnvErrorRow rows[] = {
        {{{"SOCKET_PROXY_VOLUME", ""}}, {"SOCKET_PROXY_VOLUME", "empty"}},
        {{{"SOCKET_PROXY_VOLUME", "run/proxy"}}, {"SOCKET_PROXY_VOLUME=\"run/proxy\"", "absolute"}},
        {{{"SOCKET_PROXY_VOLUME", longest_volume + "v"}},
         {"SOCKET_PROXY_VOLUME=\"" + longest_volume + "v\"", "108 bytes", "107"}},
        {{{"SOCKET_PROXY_DOCKER_SOCKET", "docker.sock"}},
         {"SOCKET_PROXY_DOCKER_SOCKET=\"docker.sock\"", "absolute"}},
        {{{"SOCKET_PROXY_DOCKER_SOCKET", "/" + std::string(107, 'd')}},
         {"SOCKET_PROXY_DOCKER_SOCKET=", "too long"}},
        {{{"SOCKET_PROXY_UID", "-1"}}, {"SOCKET_PROXY_UID=\"-1\"", "numeric user id"}},
        {{{"SOCKET_PROXY_UID", "4294967295"}}, {"SOCKET_PROXY_UID=\"4294967295\"", "4294967294"}},
        {{{"SOCKET_PROXY_UID", "4294967296"}}, {"SOCKET_PROXY_UID=\"4294967296\""}},
        {{{"SOCKET_PROXY_UID", "nobody"}}, {"SOCKET_PROXY_UID=\"nobody\"", "names are not"}},
        {{{"SOCKET_PROXY_UID", " 1"}}, {"SOCKET_PROXY_UID=\" 1\""}},
        {{{"SOCKET_PROXY_UID", ""}}, {"SOCKET_PROXY_UID=\"\""}},
        {{{"SOCKET_PROXY_GID", "1.5"}}, {"SOCKET_PROXY_GID=\"1.5\"", "numeric group id"}},
        {{{"SOCKET_PROXY_TCP", "localhost:2375"}},
         {"SOCKET_PROXY_TCP=\"localhost:2375\"", "numeric"}},
        {{{"SOCKET_PROXY_TCP", ""}}, {"SOCKET_PROXY_TCP=\"\""}},
        {{{"SOCKET_PROXY_MODE", "audit"}},
         {"SOCKET_PROXY_MODE=audit", "SOCKET_PROXY_AUDIT_POLICY"}},
        {{{"SOCKET_PROXY_AUDIT_POLICY", "/p.yaml"}}, {"SOCKET_PROXY_MODE is not audit"}},
        {{{"SOCKET_PROXY_MODE", "spy"}}, {"SOCKET_PROXY_MODE=\"spy\"", "enforce or audit"}},
        {{{"SOCKET_PROXY_TIMEOUT", "30x"}}, {"SOCKET_PROXY_TIMEOUT=\"30x\"", "not a duration"}},
        {{{"SOCKET_PROXY_KEEPALIVE", "-1"}}, {"SOCKET_PROXY_KEEPALIVE=\"-1\"", "not a duration"}},
        {{{"SOCKET_PROXY_KEEPALIVE", ""}}, {"SOCKET_PROXY_KEEPALIVE=\"\""}},
        {{{"DEBUG", "maybe"}}, {"DEBUG=\"maybe\"", "true or false"}},
        {{{"SOCKET_PROXY_TIMEOUT", "1\n2"}}, {"SOCKET_PROXY_TIMEOUT=\"1\\n2\""}},
        {{{"SOCKET_PROXY_MAX_HEAD_SIZE", "512"}},
         {"SOCKET_PROXY_MAX_HEAD_SIZE=\"512\"", "from 1KiB to 1MiB"}},
        {{{"SOCKET_PROXY_MAX_HEAD_SIZE", "2MiB"}}, {"SOCKET_PROXY_MAX_HEAD_SIZE=\"2MiB\"", "1MiB"}},
        {{{"SOCKET_PROXY_MAX_HEAD_SIZE", "lots"}}, {"SOCKET_PROXY_MAX_HEAD_SIZE=\"lots\"", "size"}},
        {{{"SOCKET_PROXY_MAX_HEADERS", "0"}},
         {"SOCKET_PROXY_MAX_HEADERS=\"0\"", "from 1 to 10000"}},
        {{{"SOCKET_PROXY_MAX_HEADERS", "10001"}}, {"SOCKET_PROXY_MAX_HEADERS=\"10001\""}},
        {{{"SOCKET_PROXY_MAX_CONNECTIONS", "-5"}},
         {"SOCKET_PROXY_MAX_CONNECTIONS=\"-5\"", "whole number"}},
        {{{"SOCKET_PROXY_MAX_CONNECTIONS", "0"}}, {"SOCKET_PROXY_MAX_CONNECTIONS=\"0\""}},
        {{{"SOCKET_PROXY_HEAD_TIMEOUT", "soon"}},
         {"SOCKET_PROXY_HEAD_TIMEOUT=\"soon\"", "not a duration"}},
        {{{"SOCKET_PROXY_IDLE_TIMEOUT", "1y"}}, {"SOCKET_PROXY_IDLE_TIMEOUT=\"1y\""}},
        {{{"SOCKET_PROXY_ALLOW_FROM", "10.0.0.1/8"}},
         {"SOCKET_PROXY_ALLOW_FROM=\"10.0.0.1/8\"", "\"10.0.0.1/8\"", "not a network"}},
        {{{"SOCKET_PROXY_ALLOW_FROM", "docker-net"}}, {"SOCKET_PROXY_ALLOW_FROM=", "CIDRs"}},
        {{{"SOCKET_PROXY_POLICY", ""}}, {"SOCKET_PROXY_POLICY=\"\"", "file"}},
        {{{"SOCKET_PROXY_TLS_CERT", "cert.pem"}},
         {"SOCKET_PROXY_TLS_CERT=\"cert.pem\"", "absolute"}},
        {{{"SOCKET_PROXY_TLS_CERT", "/c.pem"}}, {"SOCKET_PROXY_TLS_CERT is set without", "_KEY"}},
        {{{"SOCKET_PROXY_TLS_KEY", "/k.pem"}}, {"SOCKET_PROXY_TLS_KEY is set without", "_CERT"}},
        {{{"SOCKET_PROXY_TLS_CA", "/ca.pem"}}, {"SOCKET_PROXY_TLS_CA is set without"}},
        {{{"SOCKET_PROXY_DOCKER_CERT_PATH", "/certs"}},
         {"SOCKET_PROXY_DOCKER_CERT_PATH is set", "/run/docker.sock is a unix socket"}},
        {{{"SOCKET_PROXY_DOCKER_CERT_PATH", "certs"}},
         {"SOCKET_PROXY_DOCKER_CERT_PATH=\"certs\"", "absolute"}},
        {{{"SOCKET_PROXY_DOCKER_SOCKET", "tcp://docker:"}},
         {"SOCKET_PROXY_DOCKER_SOCKET=\"tcp://docker:\"", "port"}},
        {{{"SOCKET_PROXY_TLS_CERT", "/c.pem"},
          {"SOCKET_PROXY_TLS_KEY", "/k.pem"},
          {"SOCKET_PROXY_TCP", "off"}},
         {"SOCKET_PROXY_TCP is off", "TLS is served on the TCP listener"}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.mentions.front());
        const std::string message =
            error_of([&] { (void)parse_command_line({}, environment_of(row.variables)); });
        expect_error_mentions(message, row.mentions);
    }
}

TEST(ConfigEnvTest, ReadsOnlyThroughTheCallback) {
    const char* previous = std::getenv("SOCKET_PROXY_UID");
    const std::optional<std::string> saved =
        previous ? std::optional<std::string>(previous) : std::nullopt;
    ::setenv("SOCKET_PROXY_UID", "4242", 1);
    const CommandLine parsed = parse_command_line({}, environment_of({}));
    if (saved) {
        ::setenv("SOCKET_PROXY_UID", saved->c_str(), 1);
    } else {
        ::unsetenv("SOCKET_PROXY_UID");
    }
    EXPECT_EQ(parsed.config.uid, Config{}.uid);
}

// --- booleans ---------------------------------------------------------------------------

TEST(ConfigBooleanTest, DebugVariableAndFlag) {
    const std::pair<std::string_view, bool> rows[] = {
        {"true", true},   {"TRUE", true},   {"True", true}, {"1", true},
        {"yes", true},    {"YES", true},    {"on", true},   {"On", true},
        {"false", false}, {"FALSE", false}, {"0", false},   {"no", false},
        {"No", false},    {"off", false},   {"OFF", false}, {"", false},
    };
    for (const auto& [text, expected] : rows) {
        SCOPED_TRACE(text);
        const auto from_variable =
            parse_command_line({}, environment_of({{"DEBUG", std::string(text)}}));
        EXPECT_EQ(from_variable.config.debug, expected);
        const std::string flag = "--debug=" + std::string(text);
        // The flag overrides the variable in both directions.
        const auto from_flag =
            parse_command_line({flag}, environment_of({{"DEBUG", expected ? "false" : "true"}}));
        EXPECT_EQ(from_flag.config.debug, expected);
    }

    const std::string_view rejected[] = {"maybe", "2",   "-1", " true",
                                         "true ", "tru", "y",  "enabled"};
    for (const auto text : rejected) {
        SCOPED_TRACE(text);
        expect_error_mentions(
            error_of([&] {
                (void)parse_command_line({}, environment_of({{"DEBUG", std::string(text)}}));
            }),
            {"DEBUG=\"" + std::string(text) + "\"", "true or false"});
        const std::string flag = "--debug=" + std::string(text);
        expect_error_mentions(
            error_of([&] { (void)parse_command_line({flag}, environment_of({})); }),
            {"--debug=\"" + std::string(text) + "\""});
    }
}

// --- flags ------------------------------------------------------------------------------

struct FlagRow {
    std::vector<std::string_view> args;
    Variables variables;
    Command command;
    std::function<void(Config&)> expect;  // applied to Config{}
};

TEST(ConfigFlagsTest, FlagsOverrideTheEnvironment) {
    const FlagRow rows[] = {
        {{}, {}, Command::serve, [](Config&) {}},
        {{"--volume", "/a"}, {}, Command::serve, [](Config& c) { c.volume = "/a"; }},
        {{"--volume=/a"}, {}, Command::serve, [](Config& c) { c.volume = "/a"; }},
        {{"--volume=/a=b"}, {}, Command::serve, [](Config& c) { c.volume = "/a=b"; }},
        {{"--docker-socket", "/x.sock"},
         {},
         Command::serve,
         [](Config& c) { c.docker_socket = "/x.sock"; }},
        {{"--uid", "0", "--gid=10"},
         {},
         Command::serve,
         [](Config& c) {
             c.uid = 0;
             c.gid = 10;
         }},
        {{"--tcp", "off"}, {}, Command::serve, [](Config& c) { c.tcp = std::nullopt; }},
        {{"--tls-cert", "/t/cert.pem", "--tls-key=/t/key.pem"},
         {{"SOCKET_PROXY_TLS_CA", "/t/ca.pem"}},
         Command::serve,
         [](Config& c) {
             c.tls_cert = "/t/cert.pem";
             c.tls_key = "/t/key.pem";
             c.tls_ca = "/t/ca.pem";
         }},
        {{"--tcp=[::]:2375"},
         {},
         Command::serve,
         [](Config& c) {
             c.tcp = TcpEndpoint{"::", 2375};
         }},
        {{"--keepalive", "0", "--timeout=2m"},
         {},
         Command::serve,
         [](Config& c) {
             c.keepalive = 0ms;
             c.timeout = 2min;
         }},
        {{"--debug"}, {}, Command::serve, [](Config& c) { c.debug = true; }},
        {{"--debug"}, {{"DEBUG", "false"}}, Command::serve, [](Config& c) { c.debug = true; }},
        {{"--timeout", "1s"},
         {{"SOCKET_PROXY_TIMEOUT", "5s"}},
         Command::serve,
         [](Config& c) { c.timeout = 1s; }},
        {{"--tcp", "off"},
         {{"SOCKET_PROXY_TCP", "127.0.0.1:1"}},
         Command::serve,
         [](Config& c) { c.tcp = std::nullopt; }},
        {{"--uid", "5"},
         {{"SOCKET_PROXY_GID", "6"}},
         Command::serve,
         [](Config& c) {
             c.uid = 5;
             c.gid = 6;
         }},
        {{"--uid", "1", "--uid", "2"}, {}, Command::serve, [](Config& c) { c.uid = 2; }},
        {{"--max-connections", "3", "--max-head-size=2k", "--max-headers", "7",
          "--head-timeout=500ms", "--idle-timeout", "1m"},
         {{"SOCKET_PROXY_MAX_CONNECTIONS", "9"}},
         Command::serve,
         [](Config& c) {
             c.max_connections = 3;
             c.max_head_bytes = 2048;
             c.max_header_fields = 7;
             c.head_timeout = 500ms;
             c.idle_timeout = 1min;
         }},
        {{"healthcheck"}, {}, Command::healthcheck, [](Config&) {}},
        {{"healthcheck", "--volume", "/h"},
         {{"SOCKET_PROXY_UID", "7"}},
         Command::healthcheck,
         [](Config& c) {
             c.volume = "/h";
             c.uid = 7;
         }},
        {{"--volume", "/h", "--healthcheck"},
         {},
         Command::healthcheck,
         [](Config& c) { c.volume = "/h"; }},
        {{"--healthcheck", "--volume", "/h"},
         {},
         Command::healthcheck,
         [](Config& c) { c.volume = "/h"; }},
        {{"--help"}, {}, Command::help, [](Config&) {}},
        {{"-h"}, {}, Command::help, [](Config&) {}},
        {{"--version"}, {}, Command::version, [](Config&) {}},
        // Help and version work even when the environment or the other flags are broken.
        {{"--help"}, {{"SOCKET_PROXY_TIMEOUT", "30x"}}, Command::help, [](Config&) {}},
        {{"--bogus", "--help"}, {}, Command::help, [](Config&) {}},
        {{"--version"}, {{"SOCKET_PROXY_UID", "root"}}, Command::version, [](Config&) {}},
    };
    for (const auto& row : rows) {
        std::string trace;
        for (const auto arg : row.args) {
            trace += std::string(arg) + " ";
        }
        SCOPED_TRACE(trace);
        CommandLine parsed;
        EXPECT_NO_THROW(parsed = parse_command_line(row.args, environment_of(row.variables)));
        EXPECT_EQ(parsed.command, row.command);
        Config expected;
        row.expect(expected);
        expect_same_config(parsed.config, expected);
    }
}

struct FlagErrorRow {
    std::vector<std::string_view> args;
    Variables variables;
    std::vector<std::string> mentions;
};

TEST(ConfigFlagsTest, RejectsMistakesNamingTheFlag) {
    const FlagErrorRow rows[] = {
        {{"--bogus"}, {}, {"unknown flag \"--bogus\"", "--help"}},
        {{"--bogus=1"}, {}, {"unknown flag \"--bogus\"", "--help"}},
        {{"-x"}, {}, {"unknown flag \"-x\"", "--help"}},
        {{"--"}, {}, {"unknown flag \"--\""}},
        {{"--Volume", "/a"}, {}, {"unknown flag \"--Volume\""}},
        {{"--volume"}, {}, {"--volume needs a value", "--volume DIR", "--help"}},
        {{"--volume", "--debug"}, {}, {"--volume needs a value"}},
        {{"--tcp"}, {}, {"--tcp needs a value", "--tcp ADDR|off"}},
        {{"--timeout"}, {}, {"--timeout needs a value", "--help"}},
        {{"serve"}, {}, {"unexpected argument \"serve\"", "--help"}},
        {{"--volume", "/a", "healthcheck"}, {}, {"unexpected argument \"healthcheck\""}},
        {{"--debug", "true"}, {}, {"unexpected argument \"true\""}},
        {{"--healthcheck=yes"}, {}, {"--healthcheck takes no value", "\"yes\""}},
        {{"--timeout", "30x"}, {}, {"--timeout=\"30x\"", "not a duration"}},
        {{"--timeout=30x"}, {}, {"--timeout=\"30x\"", "not a duration"}},
        {{"--keepalive="}, {}, {"--keepalive=\"\"", "not a duration"}},
        {{"--uid="}, {}, {"--uid=\"\"", "numeric user id"}},
        {{"--gid", "staff"}, {}, {"--gid=\"staff\"", "numeric group id"}},
        {{"--tcp", "localhost:2375"}, {}, {"--tcp=\"localhost:2375\"", "numeric"}},
        {{"--volume", "relative"}, {}, {"--volume=\"relative\"", "absolute"}},
        {{"--docker-socket="}, {}, {"--docker-socket is empty"}},
        // The health check needs the same settings as the proxy, so their errors still count.
        {{"healthcheck"}, {{"SOCKET_PROXY_VOLUME", "rel"}}, {"SOCKET_PROXY_VOLUME=\"rel\""}},
        // A bad variable is reported even when a flag would override it: it is still a mistake.
        {{"--timeout", "1s"}, {{"SOCKET_PROXY_TIMEOUT", "30x"}}, {"SOCKET_PROXY_TIMEOUT=\"30x\""}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.mentions.front());
        expect_error_mentions(
            error_of([&] { (void)parse_command_line(row.args, environment_of(row.variables)); }),
            row.mentions);
    }
}

TEST(ConfigFlagsTest, ExactMessages) {
    const auto message = [](std::vector<std::string_view> args) {
        return error_of([&] { (void)parse_command_line(args, environment_of({})); });
    };
    EXPECT_EQ(message({"--bogus"}),
              "unknown flag \"--bogus\": run socket-proxy --help for the list of flags");
    EXPECT_EQ(message({"--volume"}),
              "flag --volume needs a value, as in --volume DIR: run socket-proxy --help for the "
              "list of flags");
}

// --- usage ------------------------------------------------------------------------------

TEST(ConfigUsageTest, ListsEveryFlagVariableAndDefault) {
    const Config defaults;
    const std::string text = usage();
    // Defaults are computed from Config{}, so changing one there cannot leave --help stale.
    const std::string required[] = {
        "--volume DIR",
        "SOCKET_PROXY_VOLUME, default " + defaults.volume,
        "--docker-socket PATH",
        "SOCKET_PROXY_DOCKER_SOCKET, default " + defaults.docker_socket,
        "--uid N",
        "SOCKET_PROXY_UID, default " + std::to_string(defaults.uid),
        "--gid N",
        "SOCKET_PROXY_GID, default " + std::to_string(defaults.gid),
        "--tcp ADDR|off",
        "SOCKET_PROXY_TCP, default " + format_tcp_endpoint(defaults.tcp),
        "--keepalive D",
        "SOCKET_PROXY_KEEPALIVE, default " + format_duration(defaults.keepalive),
        "--timeout D",
        "SOCKET_PROXY_TIMEOUT, default " + format_duration(defaults.timeout),
        "--max-head-size SIZE",
        "SOCKET_PROXY_MAX_HEAD_SIZE, default " + format_size(defaults.max_head_bytes),
        "--max-headers N",
        "SOCKET_PROXY_MAX_HEADERS, default " + std::to_string(defaults.max_header_fields),
        "--head-timeout D",
        "SOCKET_PROXY_HEAD_TIMEOUT, default " + format_duration(defaults.head_timeout),
        "--idle-timeout D",
        "SOCKET_PROXY_IDLE_TIMEOUT, default " + format_duration(defaults.idle_timeout),
        "--max-connections N",
        "SOCKET_PROXY_MAX_CONNECTIONS, default " + std::to_string(defaults.max_connections),
        "--debug",
        std::string("DEBUG, default ") + (defaults.debug ? "true" : "false"),
        "healthcheck",
        "--healthcheck",
        "--help, -h",
        "--version",
        "0 turns it off",
    };
    for (const auto& part : required) {
        EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
    }
    // Each documented value flag is one the parser knows (it asks for the value).
    for (const std::string_view flag :
         {"--volume", "--docker-socket", "--uid", "--gid", "--tcp", "--keepalive", "--timeout",
          "--max-head-size", "--max-headers", "--head-timeout", "--idle-timeout",
          "--max-connections"}) {
        const std::string message =
            error_of([&] { (void)parse_command_line({flag}, environment_of({})); });
        EXPECT_NE(message.find("needs a value"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace socket_proxy

namespace socket_proxy {
namespace {

TEST(ConfigCommandsTest, CheckAndExplainTakeTheirArguments) {
    const auto environment = [](std::string_view) -> std::optional<std::string> {
        return std::nullopt;
    };
    const CommandLine check = parse_command_line({"check", "--policy", "p.yaml"}, environment);
    EXPECT_EQ(check.command, Command::check);
    EXPECT_EQ(check.config.policy_file, "p.yaml");

    const CommandLine explain = parse_command_line(
        {"explain", "GET", "/v1.41/containers/json", "--client", "unix:uid=5"}, environment);
    EXPECT_EQ(explain.command, Command::explain);
    EXPECT_EQ(explain.arguments, (std::vector<std::string>{"GET", "/v1.41/containers/json"}));
    EXPECT_EQ(explain.client, "unix:uid=5");
    EXPECT_EQ(parse_command_line({"explain", "--client=tcp:1.2.3.4", "HEAD", "/_ping"}, environment)
                  .client,
              "tcp:1.2.3.4");

    for (const std::vector<std::string_view>& wrong :
         {std::vector<std::string_view>{"explain", "GET"},
          {"explain"},
          {"check", "GET"},
          {"explain", "GET", "/", "extra"},
          {"--client", "unix:uid=1"}}) {
        try {
            (void)parse_command_line(wrong, environment);
            ADD_FAILURE() << "accepted " << wrong.size() << " arguments starting " << wrong.front();
        } catch (const ConfigError& error) {
            EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
        }
    }
}

}  // namespace
}  // namespace socket_proxy
