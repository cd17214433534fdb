// Where the Docker engine listens: SOCKET_PROXY_DOCKER_SOCKET, as the docker CLI's DOCKER_HOST
// writes it (unix:///run/docker.sock, tcp://HOST:PORT) or a plain absolute path. Pure: parsing
// only, a name is looked up at each connect (DNS may change while the proxy runs).
#pragma once

#include <string>
#include <string_view>

namespace socket_proxy {

struct DaemonAddress {
    std::string unix_path;  // set for a unix socket, empty for TCP
    std::string host;       // TCP: a DNS name, or a numeric address (IPv6 without brackets)
    unsigned short port = 0;

    [[nodiscard]] bool tcp() const { return unix_path.empty(); }
    // A numeric host needs no lookup, and is verified against the certificate's IP names.
    [[nodiscard]] bool host_is_numeric() const;
    [[nodiscard]] bool host_is_loopback() const;
    // How settings, logs and messages write it: the socket's path, or tcp://HOST:PORT with an
    // IPv6 address in brackets.
    [[nodiscard]] std::string text() const;
};

// Throws ConfigError naming `what`: a relative path, a path too long for a unix socket, a
// tcp:// without a port (there is no default: 2375 is Docker's plain port, 2376 its TLS one)
// or with a path, a host that is neither a DNS name nor a numeric address.
[[nodiscard]] DaemonAddress parse_daemon_address(std::string_view what, std::string_view value);

}  // namespace socket_proxy
