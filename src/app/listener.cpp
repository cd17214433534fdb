#include "listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace socket_proxy {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::string errno_text(int error) {
    return std::strerror(error);
}

// The proxy drops root after binding, yet must remove its socket file at exit, which needs
// write access to the directory. A volume that holds nothing but our socket is ours to own;
// any other directory (say, someone set the volume to /run) is left alone.
void own_dedicated_volume(const std::filesystem::path& directory, const std::string& socket_name,
                          uid_t uid, gid_t gid) {
    if (geteuid() != 0) {
        return;
    }
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        if (entry.path().filename() != socket_name) {
            return;
        }
    }
    if (!error) {
        (void)::chown(directory.c_str(), uid, gid);
    }
}

void prepare_volume(const std::string& path, uid_t uid, gid_t gid, std::string_view setting) {
    const std::string named(setting);
    const std::filesystem::path socket_path(path);
    const auto directory = socket_path.parent_path();
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error) {
        throw StartupError("cannot create the socket directory " + directory.string() + ": " +
                           error.message() + "; set " + named + " to a writable directory");
    }
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) {
            throw StartupError(path + " exists and is not a socket; remove it or change " + named);
        }
        // A socket file left by a previous run that did not exit cleanly.
        if (::unlink(path.c_str()) != 0) {
            throw StartupError("cannot replace the stale socket " + path + ": " +
                               errno_text(errno));
        }
    }
    own_dedicated_volume(directory, socket_path.filename().string(), uid, gid);
}

}  // namespace

asio::local::stream_protocol::acceptor bind_unix_listener(asio::io_context& io,
                                                          const std::string& path, uid_t uid,
                                                          gid_t gid, std::string_view setting) {
    prepare_volume(path, uid, gid, setting);
    asio::local::stream_protocol::acceptor acceptor(io);
    error_code error;
    acceptor.open(asio::local::stream_protocol(), error);
    if (!error) {
        // Created as 0660 from the start: no window in which anyone else could connect.
        const mode_t previous = ::umask(0117);
        acceptor.bind(asio::local::stream_protocol::endpoint(path), error);
        ::umask(previous);
    }
    if (error) {
        throw StartupError("cannot create the socket " + path + ": " + error.message() +
                           "; check that " + std::string(setting) + " is writable");
    }
    if (::chown(path.c_str(), uid, gid) != 0) {
        if (geteuid() == 0 || errno != EPERM) {
            throw StartupError("cannot give " + path + " to " + std::to_string(uid) + ":" +
                               std::to_string(gid) + ": " + errno_text(errno));
        }
        // Not root: the socket stays ours, which is what a rootless set-up wants.
    }
    ::chmod(path.c_str(), 0660);
    return acceptor;
}

asio::ip::tcp::acceptor bind_tcp_listener(asio::io_context& io, const TcpEndpoint& endpoint,
                                          std::string_view variable) {
    const std::string setting(variable);
    // A named listener cannot be turned off, only left out.
    const std::string fix = setting.starts_with("SOCKET_PROXY_LISTEN")
                                ? "give it a free address:port in " + setting
                                : "set " + setting + " to a free address:port, or off";
    error_code error;
    const auto address = asio::ip::make_address(endpoint.address, error);
    const std::string shown = (address.is_v6() ? "[" + endpoint.address + "]" : endpoint.address) +
                              ":" + std::to_string(endpoint.port);
    if (error) {
        throw StartupError(setting + " address " + shown + " is not valid: " + error.message());
    }
    const asio::ip::tcp::endpoint bind_endpoint(address, endpoint.port);
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.open(bind_endpoint.protocol(), error);
    if (!error) {
        acceptor.set_option(asio::socket_base::reuse_address(true), error);
    }
    if (!error && address.is_v6()) {
        // "[::]:2375" serves IPv4 too, as users expect from a dual-stack wildcard.
        acceptor.set_option(asio::ip::v6_only(false), error);
    }
    if (!error) {
        acceptor.bind(bind_endpoint, error);
    }
    if (error) {
        throw StartupError("cannot listen on TCP " + shown + ": " + error.message() + "; " + fix);
    }
    return acceptor;
}

Client identify_unix_client(asio::local::stream_protocol::socket& socket) {
    Client client;
    client.transport = Client::Transport::unix_socket;
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
        client.uid = credentials.uid;
        client.gid = credentials.gid;
        client.pid = credentials.pid;
    }
    return client;
}

Client identify_tcp_client(asio::ip::tcp::socket& socket) {
    Client client;
    client.transport = Client::Transport::tcp;
    client.listener = std::string(default_tcp_listener);
    error_code error;
    const auto remote = socket.remote_endpoint(error);
    if (!error) {
        const auto address = remote.address();
        client.ip = IpAddress::parse(address.to_string());
        client.address = (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) +
                         ":" + std::to_string(remote.port());
    }
    return client;
}

}  // namespace socket_proxy
