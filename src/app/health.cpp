#include "health.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace socket_proxy {
namespace {

// Below the image's HEALTHCHECK timeout (3 s), so the check reports instead of being killed.
constexpr int deadline_ms = 2500;

int fail(const std::string& why) {
    std::fprintf(stderr, "socket-proxy healthcheck: %s\n", why.c_str());
    return 1;
}

class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_;
};

}  // namespace

int run_healthcheck(const Config& config) {
    const std::string path = config.listen_socket_path();
    FileDescriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (socket.get() < 0) {
        return fail(std::string("cannot create a socket: ") + std::strerror(errno));
    }
    timeval timeout{deadline_ms / 1000, (deadline_ms % 1000) * 1000};
    ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        return fail("cannot connect to " + path + ": " + std::strerror(errno));
    }
    const std::string request = "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
    if (::send(socket.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        return fail("cannot send to " + path + ": " + std::strerror(errno));
    }
    std::string answer;
    char buffer[512];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
    while (answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return fail("no answer from " + path + " within " + std::to_string(deadline_ms) +
                        " ms");
        }
        const ssize_t received = ::recv(socket.get(), buffer, sizeof buffer, 0);
        if (received < 0 && errno == EINTR)
            continue;
        if (received <= 0) {
            return fail("no answer from " + path +
                        (received < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
        }
        answer.append(buffer, static_cast<std::size_t>(received));
    }
    // Drain the rest of the answer so the proxy's write never meets a closed socket (which it
    // would log as a client error every few seconds).
    while (std::chrono::steady_clock::now() < deadline) {
        const ssize_t received = ::recv(socket.get(), buffer, sizeof buffer, 0);
        if (received < 0 && errno == EINTR)
            continue;
        if (received <= 0)
            break;
    }
    const std::string status_line = answer.substr(0, answer.find("\r\n"));
    if (status_line.rfind("HTTP/1.1 200 ", 0) == 0 || status_line == "HTTP/1.1 200") {
        return 0;
    }
    if (status_line.rfind("HTTP/1.1 403", 0) == 0) {
        return fail("GET /_ping through " + path +
                    " answered 403: the policy refuses it; add a rule allowing GET /_ping "
                    "(docs/tools.md)");
    }
    return fail("GET /_ping through " + path + " answered \"" + status_line + "\"");
}

}  // namespace socket_proxy
