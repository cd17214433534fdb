#include "client_key.hpp"

#include <cstddef>
#include <string>

namespace socket_proxy {

std::string client_limit_key(const Client& client) {
    if (client.certificate) {
        return "tls:sha256=" + client.certificate->sha256;
    }
    if (client.transport == Client::Transport::unix_socket) {
        return "unix:uid=" + (client.uid ? std::to_string(*client.uid) : std::string("?")) +
               ",gid=" + (client.gid ? std::to_string(*client.gid) : std::string("?"));
    }
    if (!client.ip) {
        return "tcp:" + client.address;
    }
    const auto& bytes = client.ip->bytes;
    if (!client.ip->v6) {
        return "tcp:" + std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." +
               std::to_string(bytes[2]) + "." + std::to_string(bytes[3]);
    }
    // An IPv6 host is handed a /64 and can pick any address in it: the /64 is one caller.
    static constexpr char hex[] = "0123456789abcdef";
    std::string key = "tcp:";
    for (std::size_t group = 0; group < 4; ++group) {
        const unsigned value = (unsigned{bytes[2 * group]} << 8) | bytes[2 * group + 1];
        std::string digits;
        for (int shift = 12; shift >= 0; shift -= 4) {
            if (!digits.empty() || ((value >> shift) & 0xf) != 0 || shift == 0) {
                digits += hex[(value >> shift) & 0xf];
            }
        }
        key += digits + ":";
    }
    return key + ":/64";
}

}  // namespace socket_proxy
