#include "splice.hpp"

#include <fcntl.h>

#include <utility>

namespace socket_proxy {

namespace {

// The kernel's default pipe holds 64 KiB; a larger one halves the syscalls per megabyte.
// An unprivileged process may have 1 MiB (fs.pipe-max-size); failing that the default stays.
constexpr int wanted_pipe_bytes = 1024 * 1024;

}  // namespace

std::optional<SplicePipe> SplicePipe::open() {
    int ends[2];
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) {
        return std::nullopt;
    }
    (void)::fcntl(ends[1], F_SETPIPE_SZ, wanted_pipe_bytes);
    const int capacity = ::fcntl(ends[1], F_GETPIPE_SZ);
    return SplicePipe(ends[0], ends[1], capacity > 0 ? std::size_t(capacity) : 65536);
}

SplicePipe::SplicePipe(SplicePipe&& other) noexcept
    : read_end_(std::exchange(other.read_end_, -1)),
      write_end_(std::exchange(other.write_end_, -1)),
      capacity_(other.capacity_) {}

SplicePipe::~SplicePipe() {
    if (read_end_ >= 0) {
        ::close(read_end_);
    }
    if (write_end_ >= 0) {
        ::close(write_end_);
    }
}

ssize_t SplicePipe::fill_from(int socket, std::size_t most) {
    return ::splice(socket, nullptr, write_end_, nullptr, most, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

ssize_t SplicePipe::drain_to(int socket, std::size_t most) {
    return ::splice(read_end_, nullptr, socket, nullptr, most, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

}  // namespace socket_proxy
