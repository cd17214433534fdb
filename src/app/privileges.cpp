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

#include "daemon_socket.hpp"
#include "listener.hpp"

namespace socket_proxy {
namespace {

std::string errno_text(int error) {
    return std::strerror(error);
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
    if (config.daemon_address().tcp()) {
        // A remote engine is reached over the network: no socket group to join.
    } else if (const auto daemon_socket = stat_path(config.docker_socket)) {
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
           std::to_string(config.gid) + " with supplementary groups " + describe_groups() +
           ", no capabilities, no_new_privs";
}

}  // namespace socket_proxy
