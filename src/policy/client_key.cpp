#include "client_key.hpp"

#include <cstddef>

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
    // An IPv6 host is handed a /64 and can pick any address in it: the /64 is one caller.
    const std::size_t significant = client.ip->v6 ? 8 : 4;
    static constexpr char hex[] = "0123456789abcdef";
    std::string key = client.ip->v6 ? "tcp6:" : "tcp4:";
    for (std::size_t i = 0; i < significant; ++i) {
        key += hex[client.ip->bytes[i] >> 4];
        key += hex[client.ip->bytes[i] & 0xf];
    }
    return key;
}

}  // namespace socket_proxy
