#include "privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "listener.hpp"

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

// Empties the bounding set so that not even an exec'd setuid binary can regain a capability.
// Needs CAP_SETPCAP; without it (a trimmed container) the kernel clears the permitted set at
// the switch away from uid 0 all the same.
void drop_bounding_set() {
    for (int capability = 0; capability <= 63; ++capability) {
        if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno == EINVAL) {
            break;  // past the kernel's last capability
        }
    }
}

bool holds_any_capability() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        return true;  // cannot tell: assume the worst
    }
    for (const auto& part : data) {
        if (part.effective != 0 || part.permitted != 0 || part.inheritable != 0) {
            return true;
        }
    }
    return false;
}

std::string group_list() {
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

}  // namespace

std::string drop_privileges(const Config& config) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        throw StartupError("cannot set no_new_privs: " + errno_text(errno));
    }
    if (::geteuid() != 0) {
        return "running as uid " + std::to_string(::getuid()) + " gid " +
               std::to_string(::getgid()) + " (not root: nothing to drop)";
    }
    if (config.uid == 0) {
        return "SOCKET_PROXY_UID is 0: the proxy keeps running as root";
    }
    std::vector<gid_t> supplementary;
    if (const auto daemon_socket = stat_path(config.docker_socket)) {
        if (daemon_socket->st_gid != config.gid) {
            supplementary.push_back(daemon_socket->st_gid);
        }
    } else if (const gid_t started_as = ::getgid(); started_as != 0 && started_as != config.gid) {
        // The engine is not up yet, so its socket cannot say which group reaches it. The group
        // the proxy was started with (compose's `user: "0:<gid>"`) is the operator's answer;
        // group 0 never is, it opens too much.
        supplementary.push_back(started_as);
    }
    drop_bounding_set();
    if (::setgroups(supplementary.size(), supplementary.data()) != 0 ||
        ::setresgid(config.gid, config.gid, config.gid) != 0 ||
        ::setresuid(config.uid, config.uid, config.uid) != 0) {
        throw StartupError("cannot switch to uid " + std::to_string(config.uid) + " gid " +
                           std::to_string(config.gid) + ": " + errno_text(errno) +
                           "; check SOCKET_PROXY_UID and SOCKET_PROXY_GID");
    }
    if (::setuid(0) == 0 || holds_any_capability()) {
        throw StartupError("dropping root failed: the process could regain privileges");
    }
    return "dropped root: running as uid " + std::to_string(config.uid) + " gid " +
           std::to_string(config.gid) + " with supplementary groups " + group_list() +
           ", no capabilities, no_new_privs";
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
                    " (supplementary groups: " + group_list() + "): " + fix};
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
