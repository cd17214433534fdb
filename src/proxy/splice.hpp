// Moves a body of known length from one socket to another through a pipe with splice(2):
// the bytes never enter the proxy's memory. For answers the policy does not read (an image
// export, a 64 MB log), where copying through a buffer cost four fifths of the throughput
// (bench/).
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "nothrow.hpp"

namespace socket_proxy {

// A non-blocking pipe, closed with the object.
class SplicePipe {
  public:
    // Nullopt when no pipe can be had (out of descriptors): the caller copies instead.
    static std::optional<SplicePipe> open();
    SplicePipe(SplicePipe&& other) noexcept;
    SplicePipe& operator=(SplicePipe&&) = delete;
    SplicePipe(const SplicePipe&) = delete;
    ~SplicePipe();

    // One step each way; bytes moved, 0 at end of input, -1 with errno set.
    ssize_t fill_from(int socket, std::size_t most);
    ssize_t drain_to(int socket, std::size_t most);
    [[nodiscard]] std::size_t capacity() const { return capacity_; }

  private:
    SplicePipe(int read_end, int write_end, std::size_t capacity)
        : read_end_(read_end), write_end_(write_end), capacity_(capacity) {}
    int read_end_ = -1;
    int write_end_ = -1;
    std::size_t capacity_ = 0;
};

// How a body relay ended: the first error on each side, and the bytes that reached `to`.
struct RelayOutcome {
    boost::system::error_code read_error;
    boost::system::error_code write_error;
    std::uint64_t bytes = 0;
};

// Moves exactly `length` bytes from `from` to `to` (asio sockets). Waits for readiness the
// asio way, so it never blocks the thread; reads only as fast as `to` takes the bytes.
template <class From, class To>
boost::asio::awaitable<RelayOutcome> splice_body(From& from, To& to, SplicePipe& pipe,
                                                 std::uint64_t length) {
    namespace asio = boost::asio;
    using boost::system::error_code;
    RelayOutcome outcome;
    std::uint64_t remaining = length;
    std::size_t in_pipe = 0;
    const auto errno_code = [] { return error_code(errno, boost::system::system_category()); };
    // splice(2) on a TCP socket blocks unless the descriptor itself is non-blocking.
    error_code mode_error;
    from.native_non_blocking(true, mode_error);
    if (!mode_error) {
        to.native_non_blocking(true, mode_error);
    }
    if (mode_error) {
        outcome.write_error = mode_error;
        co_return outcome;
    }
    while (remaining > 0 || in_pipe > 0) {
        bool read_blocked = remaining == 0;
        if (remaining > 0 && in_pipe < pipe.capacity()) {
            const std::size_t room = pipe.capacity() - in_pipe;
            const ssize_t got = pipe.fill_from(from.native_handle(),
                                               remaining < room ? std::size_t(remaining) : room);
            if (got > 0) {
                remaining -= static_cast<std::uint64_t>(got);
                in_pipe += static_cast<std::size_t>(got);
            } else if (got == 0) {
                outcome.read_error = asio::error::eof;  // the body ended short
                remaining = 0;
            } else if (errno == EAGAIN) {
                read_blocked = true;
            } else if (errno != EINTR) {
                outcome.read_error = errno_code();
                remaining = 0;
            }
        }
        bool write_blocked = in_pipe == 0;
        if (in_pipe > 0) {
            const ssize_t sent = pipe.drain_to(to.native_handle(), in_pipe);
            if (sent > 0) {
                in_pipe -= static_cast<std::size_t>(sent);
                outcome.bytes += static_cast<std::uint64_t>(sent);
            } else if (sent < 0 && errno == EAGAIN) {
                write_blocked = true;
            } else if (sent < 0 && errno != EINTR) {
                outcome.write_error = errno_code();
                co_return outcome;
            }
        }
        if (outcome.read_error && in_pipe == 0) {
            co_return outcome;
        }
        if (in_pipe > 0 && write_blocked) {
            auto [error] = co_await to.async_wait(asio::socket_base::wait_write, nothrow);
            if (error) {
                outcome.write_error = error;
                co_return outcome;
            }
        } else if (read_blocked && remaining > 0) {
            auto [error] = co_await from.async_wait(asio::socket_base::wait_read, nothrow);
            if (error) {
                outcome.read_error = error;
                co_return outcome;
            }
        }
    }
    co_return outcome;
}

}  // namespace socket_proxy
