#include "client_key.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

namespace socket_proxy {

namespace {

// The caller as the connection tells it, before what the proxy learned about it.
std::string peer_key(const Client& client) {
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
    if (!client.ip->v6) {
        return "tcp:" + client.ip->text();
    }
    // An IPv6 host is handed a /64 and can pick any address in it: the /64 is one caller.
    IpAddress network = *client.ip;
    std::fill(network.bytes.begin() + 8, network.bytes.end(), 0);
    return "tcp:" + network.text() + "/64";
}

}  // namespace

std::string client_limit_key(const Client& client) {
    // Two tools on sockets of their own, or in containers of their own, are two callers even
    // when they run as one uid.
    return peer_key(client) + listener_and_container(client);
}

std::string listener_and_container(const Client& client) {
    std::string parts;
    if (client.came_through_named_listener()) {
        parts += ",listener=" + client.listener;
    }
    if (client.container) {
        parts += ",container=" + client.container->name;
    }
    return parts;
}

}  // namespace socket_proxy
