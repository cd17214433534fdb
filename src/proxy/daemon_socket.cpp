#include "daemon_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

namespace socket_proxy {
namespace {

std::string errno_text(int error) {
    return std::strerror(error);
}

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

std::optional<struct stat> stat_path(const std::string& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) {
        return std::nullopt;
    }
    return status;
}

}  // namespace

std::string describe_groups() {
    const int count = ::getgroups(0, nullptr);
    if (count <= 0) {
        return "none";
    }
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    const int filled = ::getgroups(count, groups.data());
    std::string text;
    for (int i = 0; i < filled; ++i) {
        if (!text.empty())
            text += ",";
        text += std::to_string(groups[static_cast<std::size_t>(i)]);
    }
    return text.empty() ? "none" : text;
}

DaemonSocketCheck check_daemon_socket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return {DaemonSocketState::unreachable, "cannot create a socket: " + errno_text(errno)};
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const int result = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    const int error = errno;
    ::close(fd);
    if (result == 0) {
        return {};
    }
    const auto status = stat_path(path);
    if ((error == EACCES || error == EPERM) && status) {
        const std::string owner =
            std::to_string(status->st_uid) + ":" + std::to_string(status->st_gid);
        const bool group_can_connect = (status->st_mode & 0060) == 0060;
        std::string fix =
            group_can_connect
                ? "run the proxy as root with the socket's group, in compose.yml: "
                  "user: \"0:" +
                      std::to_string(status->st_gid) + "\""
                : "the socket's group cannot use it either (mode " + octal_mode(status->st_mode) +
                      "); run the proxy as its owner, in compose.yml: user: \"" + owner +
                      "\" with SOCKET_PROXY_UID=" + std::to_string(status->st_uid);
        return {DaemonSocketState::permission_denied,
                "cannot open the Docker socket " + path + " (owner " + owner + ", mode " +
                    octal_mode(status->st_mode) + ") as uid " + std::to_string(::getuid()) +
                    " gid " + std::to_string(::getgid()) +
                    " (supplementary groups: " + describe_groups() + "): " + fix};
    }
    if (error == EACCES || error == EPERM) {
        return {DaemonSocketState::permission_denied,
                "cannot open the Docker socket " + path + ": " + errno_text(error) +
                    "; check the permissions of its directory"};
    }
    return {DaemonSocketState::unreachable,
            "the Docker engine is not reachable at " + path + " (" + errno_text(error) +
                "); requests get 502 until it is, check SOCKET_PROXY_DOCKER_SOCKET and the mount"};
}

}  // namespace socket_proxy
