// Start-up configuration: environment variables, overridden by command-line flags.
// Pure: the environment is passed in, so every rule is unit-tested.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "config_error.hpp"
#include "daemon_address.hpp"
#include "log_format.hpp"
#include "units.hpp"

namespace socket_proxy {

struct TcpEndpoint {
    std::string address;  // numeric IPv4 or IPv6 without brackets: "0.0.0.0", "::"
    unsigned short port = 0;
};

// A listener beside the default ones (SOCKET_PROXY_LISTEN): rules select its clients by name.
struct NamedListener {
    std::string name;                // is_listener_name(); never "default" or "tcp"
    std::string unix_path;           // a unix socket, created like the default one; or
    std::optional<TcpEndpoint> tcp;  // a TCP port, served like SOCKET_PROXY_TCP
};

// Every default lives here, and --help prints them from this struct.
struct Config {
    std::string volume = "/run/proxy";  // the listening socket is volume + "/docker.sock"
    // The real engine: a unix socket's path, or tcp://HOST:PORT (daemon_address.hpp).
    std::string docker_socket = "/run/docker.sock";
    // DOCKER_CERT_PATH's layout: ca.pem verifies a tcp:// engine, cert.pem and key.pem are the
    // proxy's client certificate. Empty: plain TCP (or a unix socket).
    std::string docker_cert_path;
    uid_t uid = 1000;  // owner of the listening socket, and who we drop to
    gid_t gid = 1000;
    std::optional<TcpEndpoint> tcp = TcpEndpoint{"0.0.0.0", 2375};  // nullopt: "off"
    // PEM files that make the TCP listener TLS; with tls_ca, clients need a certificate it
    // signed. Empty: plain TCP.
    std::string tls_cert;
    std::string tls_key;
    std::string tls_ca;
    std::optional<TcpEndpoint> metrics;  // Prometheus listener; nullopt: "off" (the default)
    Duration keepalive = std::chrono::seconds(10);  // idle pooled daemon connections; 0: no pooling
    Duration timeout = std::chrono::seconds(30);    // daemon connect + response head; 0: none
    bool debug = false;                             // log every request, not only denials
    std::optional<LogFormat> log_format;  // unset: text on a terminal, JSON lines otherwise

    // Limits on what a client may make the proxy hold or wait for (hostile clients).
    std::size_t max_head_bytes =
        64 * 1024;  // request line + header block; X-Registry-Auth is a few KB
    std::size_t max_header_fields = 100;
    Duration head_timeout =
        std::chrono::seconds(10);  // first byte (or accept) to complete head; 0: none
    Duration idle_timeout = std::chrono::minutes(2);  // idle keep-alive client connection; 0: none
    std::size_t max_connections = 1024;               // concurrent client connections, unix + TCP
    // Threads serving connections; 0: auto (the CPUs it may use, at most 4).
    std::size_t threads = 0;

    std::string policy_file;            // empty: the Tecnativa switches, else the built-in policy
    bool audit = false;                 // SOCKET_PROXY_MODE=audit: log what audit_policy_file says
    std::string audit_policy_file;      // the candidate policy audit mode compares with
    std::string preset;                 // SOCKET_PROXY_PRESET (presets.hpp); empty: none
    std::vector<IpNetwork> allow_from;  // TCP clients outside these are refused; empty: any
    std::vector<NamedListener> listeners;  // beside the default unix socket and TCP port
    std::optional<bool> redact;  // SOCKET_PROXY_REDACT; unset: the policy says (default on)

    [[nodiscard]] std::string listen_socket_path() const { return volume + "/docker.sock"; }
    [[nodiscard]] bool tls() const { return !tls_cert.empty(); }
    [[nodiscard]] DaemonAddress daemon_address() const {
        return parse_daemon_address("SOCKET_PROXY_DOCKER_SOCKET", docker_socket);
    }
    [[nodiscard]] bool daemon_tls() const { return !docker_cert_path.empty(); }
};

enum class Command { serve, healthcheck, check, explain, learn, help, version };

struct CommandLine {
    Command command = Command::serve;
    Config config;
    // explain: METHOD and TARGET, and the client to decide for ("unix:uid=1000,gid=1000",
    // "tcp:172.18.0.5"; default: a unix client with the proxy's SOCKET_PROXY_UID:GID).
    std::vector<std::string> arguments;
    std::string client;
};

// args excludes argv[0]. Throws ConfigError.
[[nodiscard]] CommandLine parse_command_line(const std::vector<std::string_view>& args,
                                             const Environment& environment);

// "off", "0.0.0.0:2375", "[::]:2375", "127.0.0.1:2375", ":2375" (all IPv4 addresses).
// Numeric addresses only: the static binary does no name lookups.
[[nodiscard]] std::optional<TcpEndpoint> parse_tcp_endpoint(std::string_view what,
                                                            std::string_view value);

// "traefik=unix:/run/traefik/docker.sock,api=tcp:127.0.0.1:2380": each item NAME=unix:PATH or
// NAME=tcp:ADDR:PORT. Each item alone is checked here; check_named_listeners() checks them
// against each other and the other settings. Throws ConfigError.
[[nodiscard]] std::vector<NamedListener> parse_named_listeners(std::string_view what,
                                                               std::string_view value);

// Names and sockets unique, apart from the default listeners and the daemon's socket. Throws
// ConfigError.
void check_named_listeners(const Config& config);

// "10.0.0.0/8,192.168.1.5, fd00::/8"; empty: no restriction. Throws ConfigError.
[[nodiscard]] std::vector<IpNetwork> parse_networks(std::string_view what, std::string_view value);

// The --help text: every flag and variable with its default, taken from Config{}.
[[nodiscard]] std::string usage();

// The way --help writes endpoints: "0.0.0.0:2375", "[::]:2375", "off".
[[nodiscard]] std::string format_tcp_endpoint(const std::optional<TcpEndpoint>& endpoint);

}  // namespace socket_proxy
