// IP addresses and networks (CIDR), for rules that select TCP clients by source address and
// for SOCKET_PROXY_ALLOW_FROM. Pure: parsing and matching only, no name lookups.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace socket_proxy {

struct IpAddress {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{};  // IPv4 in the first four

    // "127.0.0.1", "::1", "[::1]"; an IPv4-mapped IPv6 address ("::ffff:10.0.0.1", what a
    // dual-stack listener reports for IPv4 clients) becomes the IPv4 address it maps.
    [[nodiscard]] static std::optional<IpAddress> parse(std::string_view text);

    // "10.0.0.1", "fd00::3": the canonical text, the same for every spelling parse() took.
    [[nodiscard]] std::string text() const;
};

struct IpNetwork {
    IpAddress base;
    unsigned prefix_length = 0;
    std::string text;  // canonical, for messages: "10.0.0.0/8"

    // "10.0.0.0/8", "fd00::/8", or one address ("127.0.0.1" is "127.0.0.1/32"). Host bits set
    // below the prefix ("10.0.0.1/8") are refused: they usually mean a typo.
    [[nodiscard]] static std::optional<IpNetwork> parse(std::string_view text);

    [[nodiscard]] bool contains(const IpAddress& address) const;
};

}  // namespace socket_proxy
