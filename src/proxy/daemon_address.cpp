#include "daemon_address.hpp"

#include <sys/un.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "config_error.hpp"
#include "units.hpp"

namespace socket_proxy {
namespace {

// sun_path is NUL-terminated, so one byte of it is not available for the path.
constexpr std::size_t max_unix_socket_path = sizeof(sockaddr_un::sun_path) - 1;

constexpr std::string_view unix_scheme = "unix://";
constexpr std::string_view tcp_scheme = "tcp://";

DaemonAddress parse_unix(std::string_view what, std::string_view value, std::string_view path) {
    if (path.empty()) {
        throw ConfigError(std::string(what) + " is empty: give an absolute path");
    }
    if (path.front() != '/') {
        // Relative paths would depend on the working directory of whoever starts us.
        throw value_error(what, value, "is not an absolute path: start it with /");
    }
    if (path.find('\0') != std::string_view::npos) {
        throw value_error(what, value, "contains a NUL byte: give a plain absolute path");
    }
    if (path.size() > max_unix_socket_path) {
        throw value_error(what, value,
                          "is too long: the socket path would have " + std::to_string(path.size()) +
                              " bytes but a unix socket path holds at most " +
                              std::to_string(max_unix_socket_path) + ", so use a shorter path");
    }
    DaemonAddress address;
    address.unix_path = std::string(path);
    return address;
}

// RFC 1123 host names: letters, digits and hyphens in dot-separated labels of 1 to 63.
bool is_dns_name(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (std::size_t index = 0; index <= host.size(); ++index) {
        if (index == host.size() || host[index] == '.') {
            if (label == 0 || label > 63 || host[index - 1] == '-' || host[index - label] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        const char c = host[index];
        const bool allowed =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!allowed) {
            return false;
        }
        ++label;
    }
    return true;
}

DaemonAddress parse_tcp(std::string_view what, std::string_view value, std::string_view rest) {
    const std::string_view usage =
        "use tcp://HOST:PORT with a DNS name, an IPv4 address or an [IPv6] address in brackets "
        "(Docker listens on 2375 for plain HTTP, 2376 for TLS)";
    std::string_view host;
    std::string_view after_host;
    if (rest.starts_with('[')) {
        const std::size_t close = rest.find(']');
        if (close == std::string_view::npos) {
            throw value_error(what, value,
                              "has no ] after its IPv6 address: " + std::string(usage));
        }
        host = rest.substr(1, close - 1);
        after_host = rest.substr(close + 1);
        boost::system::error_code error;
        const auto address = boost::asio::ip::make_address_v6(std::string(host), error);
        if (error || address.scope_id() != 0) {
            throw value_error(what, value,
                              "has no IPv6 address in its brackets: " + std::string(usage));
        }
    } else {
        const std::size_t colon = rest.find(':');
        host = rest.substr(0, colon);
        after_host = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon);
        if (!is_dns_name(host)) {
            throw value_error(what, value, "does not name a host: " + std::string(usage));
        }
    }
    if (!after_host.starts_with(':')) {
        throw value_error(what, value,
                          after_host.empty()
                              ? "has no port: " + std::string(usage)
                              : "has more than a host and a port: " + std::string(usage));
    }
    const std::string_view port_text = after_host.substr(1);
    const auto port = parse_decimal<unsigned short>(port_text);
    if (!port || *port == 0) {
        throw value_error(what, value,
                          port_text.find('/') != std::string_view::npos
                              ? "has a path after its port: " + std::string(usage)
                              : "has no port from 1 to 65535: " + std::string(usage));
    }
    DaemonAddress address;
    address.host = std::string(host);
    address.port = *port;
    return address;
}

}  // namespace

bool DaemonAddress::host_is_numeric() const {
    boost::system::error_code error;
    boost::asio::ip::make_address(host, error);
    return !error;
}

bool DaemonAddress::host_is_loopback() const {
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(host, error);
    return !error && address.is_loopback();
}

std::string DaemonAddress::text() const {
    if (!tcp()) {
        return unix_path;
    }
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(tcp_scheme) + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

DaemonAddress parse_daemon_address(std::string_view what, std::string_view value) {
    if (value.starts_with(tcp_scheme)) {
        return parse_tcp(what, value, value.substr(tcp_scheme.size()));
    }
    if (value.starts_with(unix_scheme)) {
        return parse_unix(what, value, value.substr(unix_scheme.size()));
    }
    if (value.find("://") != std::string_view::npos) {
        throw value_error(what, value,
                          "is neither unix:// nor tcp://: give the engine's socket path, "
                          "unix:///PATH or tcp://HOST:PORT");
    }
    return parse_unix(what, value, value);
}

}  // namespace socket_proxy
