#include "config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include "config_error.hpp"
#include "log_format.hpp"
#include "policy.hpp"
#include "units.hpp"

namespace socket_proxy {
namespace {

// Letters, digits, dots and hyphens with at least one letter: what DNS names look like.
bool looks_like_host_name(std::string_view host) {
    const auto is_letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    const bool only_name_bytes = std::all_of(host.begin(), host.end(), [&](char c) {
        return is_letter(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
    });
    return only_name_bytes && std::any_of(host.begin(), host.end(), is_letter);
}

ConfigError not_an_endpoint(std::string_view what, std::string_view value) {
    return value_error(what, value,
                       "is not a TCP endpoint: use a numeric address and port like "
                       "0.0.0.0:2375, 127.0.0.1:2375, [::]:2375, :2375, or off");
}

// An endpoint's text cut into its address and port, before either is read.
struct EndpointParts {
    int family = AF_INET;
    std::string_view host;
    std::string_view port;
};

// "[ADDRESS]:PORT" for IPv6; "ADDRESS:PORT" or ":PORT" (all addresses) for IPv4.
EndpointParts split_endpoint(std::string_view what, std::string_view value) {
    if (value.starts_with('[')) {
        const std::size_t close = value.find(']');
        if (close == std::string_view::npos) {
            throw not_an_endpoint(what, value);
        }
        const std::string_view after_host = value.substr(close + 1);
        if (!after_host.starts_with(':')) {
            throw value_error(what, value, "has no port: add one, as in [::]:2375");
        }
        return {AF_INET6, value.substr(1, close - 1), after_host.substr(1)};
    }
    const std::size_t colon = value.rfind(':');
    if (colon == std::string_view::npos) {
        throw value_error(what, value, "has no port: add one, as in 0.0.0.0:2375");
    }
    const std::string_view host = value.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
        // Without brackets, the last ':' of an IPv6 address is indistinguishable from the port
        // separator.
        throw value_error(what, value,
                          "needs brackets around an IPv6 address: write it as [::]:2375");
    }
    return {AF_INET, host.empty() ? std::string_view("0.0.0.0") : host, value.substr(colon + 1)};
}

// The address in canonical text, so "[0::1]" and "[::1]" log alike.
std::string canonical_address(std::string_view what, std::string_view value,
                              const EndpointParts& parts) {
    const std::string host_text(parts.host);
    std::array<unsigned char, sizeof(in6_addr)> binary{};
    if (parts.host.find('\0') != std::string_view::npos ||
        inet_pton(parts.family, host_text.c_str(), binary.data()) != 1) {
        if (parts.family == AF_INET && looks_like_host_name(parts.host)) {
            throw value_error(what, value,
                              "names a host, but only numeric addresses work because the static "
                              "binary does no name lookups: use e.g. 127.0.0.1:2375 or "
                              "[::1]:2375");
        }
        throw not_an_endpoint(what, value);
    }
    std::array<char, INET6_ADDRSTRLEN> canonical{};
    if (inet_ntop(parts.family, binary.data(), canonical.data(), canonical.size()) == nullptr) {
        throw not_an_endpoint(what, value);
    }
    return canonical.data();
}
constexpr std::string_view listener_forms =
    "use NAME=unix:PATH or NAME=tcp:ADDR:PORT, as in traefik=unix:/run/traefik/docker.sock or "
    "api=tcp:127.0.0.1:2380";

// sun_path is NUL-terminated, so one byte of it is not available for the path.
constexpr std::size_t max_unix_socket_path = sizeof(sockaddr_un::sun_path) - 1;

std::string parse_listener_path(std::string_view what, std::string_view item,
                                std::string_view path) {
    if (!path.starts_with('/') || path.ends_with('/')) {
        // Relative paths would depend on the working directory of whoever starts us.
        throw value_error(what, item,
                          "does not give an absolute socket path: write NAME=unix:/DIR/FILE");
    }
    if (path.find('\0') != std::string_view::npos) {
        throw value_error(what, item, "contains a NUL byte: give a plain absolute path");
    }
    if (path.size() > max_unix_socket_path) {
        throw value_error(what, item,
                          "has a socket path of " + std::to_string(path.size()) +
                              " bytes but a unix socket path holds at most " +
                              std::to_string(max_unix_socket_path) + ": use a shorter path");
    }
    return std::filesystem::path(path).lexically_normal().string();
}

NamedListener parse_named_listener(std::string_view what, std::string_view item) {
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
        throw value_error(what, item, "is not a named listener: " + std::string(listener_forms));
    }
    NamedListener listener;
    listener.name = std::string(item.substr(0, equals));
    const std::string_view socket = item.substr(equals + 1);
    if (!is_listener_name(listener.name)) {
        throw value_error(what, item,
                          "has a name that is not 1 to 32 of a-z, 0-9, _ and -: rename it, as in "
                          "traefik=unix:/run/traefik/docker.sock");
    }
    if (listener.name == default_unix_listener || listener.name == default_tcp_listener) {
        throw value_error(what, item,
                          "takes the name of a default listener (default: the unix socket in "
                          "SOCKET_PROXY_VOLUME, tcp: SOCKET_PROXY_TCP): choose another name");
    }
    if (socket.starts_with("unix:")) {
        listener.unix_path = parse_listener_path(what, item, socket.substr(5));
    } else if (socket.starts_with("tcp:")) {
        listener.tcp = parse_tcp_endpoint(what, socket.substr(4));
        if (!listener.tcp) {
            throw value_error(what, item,
                              "turns a listener off that it names: leave the item out instead");
        }
    } else {
        throw value_error(what, item,
                          "is neither a unix nor a tcp listener: " + std::string(listener_forms));
    }
    return listener;
}

}  // namespace

std::vector<NamedListener> parse_named_listeners(std::string_view what, std::string_view value) {
    std::vector<NamedListener> listeners;
    for (const std::string_view item : comma_list_items(value)) {
        listeners.push_back(parse_named_listener(what, item));
    }
    return listeners;
}

void check_named_listeners(const Config& config) {
    const auto same_endpoint = [](const std::optional<TcpEndpoint>& a, const TcpEndpoint& b) {
        return a && a->address == b.address && a->port == b.port;
    };
    const std::string own_socket =
        std::filesystem::path(config.listen_socket_path()).lexically_normal().string();
    const std::string daemon_socket =
        std::filesystem::path(config.docker_socket).lexically_normal().string();
    for (auto listener = config.listeners.begin(); listener != config.listeners.end(); ++listener) {
        const std::string named = "SOCKET_PROXY_LISTEN: listener " + listener->name;
        for (auto earlier = config.listeners.begin(); earlier != listener; ++earlier) {
            if (earlier->name == listener->name) {
                throw ConfigError(named + " is given twice: give each listener its own name");
            }
            if (!listener->unix_path.empty() && earlier->unix_path == listener->unix_path) {
                throw ConfigError(named + " has the socket " + listener->unix_path +
                                  " of listener " + earlier->name +
                                  ": give each listener its own path");
            }
            if (listener->tcp && same_endpoint(earlier->tcp, *listener->tcp)) {
                throw ConfigError(named + " has the TCP address of listener " + earlier->name +
                                  ": give each listener its own port");
            }
        }
        if (listener->unix_path == daemon_socket) {
            throw ConfigError(named + " would replace the Docker daemon's socket " +
                              config.docker_socket + ": give it a path of its own");
        }
        if (listener->unix_path == own_socket) {
            throw ConfigError(named + " has the path of the default socket " + own_socket +
                              " (SOCKET_PROXY_VOLUME): give it a path of its own");
        }
        if (listener->tcp && (same_endpoint(config.tcp, *listener->tcp) ||
                              same_endpoint(config.metrics, *listener->tcp))) {
            throw ConfigError(named +
                              " has the address of SOCKET_PROXY_TCP or "
                              "SOCKET_PROXY_METRICS: give it a port of its own");
        }
    }
}

std::vector<IpNetwork> parse_networks(std::string_view what, std::string_view value) {
    std::vector<IpNetwork> networks;
    for (const std::string_view item : comma_list_items(value)) {
        const auto network = IpNetwork::parse(item);
        if (!network) {
            throw value_error(
                what, value,
                "has " + quote_value(item) +
                    ", which is not a network: use comma-separated CIDRs like "
                    "172.18.0.0/16,127.0.0.1,fd00::/8 (no host bits below the prefix)");
        }
        networks.push_back(*network);
    }
    return networks;
}

std::optional<TcpEndpoint> parse_tcp_endpoint(std::string_view what, std::string_view value) {
    if (ascii_lowercase(value) == "off") {
        return std::nullopt;
    }
    const EndpointParts parts = split_endpoint(what, value);
    const auto port = parse_decimal<unsigned short>(parts.port);
    if (!port || *port == 0) {
        throw value_error(what, value,
                          "has no valid port: use a port from 1 to 65535, as in 0.0.0.0:2375");
    }
    return TcpEndpoint{canonical_address(what, value, parts), *port};
}
std::string format_tcp_endpoint(const std::optional<TcpEndpoint>& endpoint) {
    if (!endpoint) {
        return "off";
    }
    const bool is_ipv6 = endpoint->address.find(':') != std::string::npos;
    return (is_ipv6 ? "[" + endpoint->address + "]" : endpoint->address) + ":" +
           std::to_string(endpoint->port);
}

}  // namespace socket_proxy
