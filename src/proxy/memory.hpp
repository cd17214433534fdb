// Giving freed memory back to the system once a burst is over.
//
// Each request borrows relay buffers (32 KiB each way) and a head buffer; after a burst of a
// thousand connections glibc keeps the freed chunks in its heap, scattered between live ones,
// so the proxy's RSS would stay at the burst's high-water mark. malloc_trim returns the free
// pages inside the heap, not only its top. It is cheap on a small heap, and done at most once
// per second: at once when the proxy falls quiet, else when the second is up.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <optional>

namespace socket_proxy {

class MemoryTrimmer {
  public:
    explicit MemoryTrimmer(boost::asio::any_io_executor executor);

    // Called when a session or an ordinary request ends and nothing but streams is in flight,
    // from any serving thread: the trim itself runs on the trimmer's executor.
    void on_quiet();

    // From here on nothing is trimmed, and the timer is gone: call it while the io_context
    // still exists, since the trimmer itself outlives it.
    void stop();

  private:
    void on_quiet_here();
    boost::asio::awaitable<void> trim_later();
    void trim();

    boost::asio::any_io_executor executor_;
    // A trim is on its way (posted, or waiting for its second): until it ran, quiet moments
    // post nothing. At one connection every request ends quiet, and a post to the trimmer's
    // thread per request woke that thread each time (bench/profile: an epoll_ctl and a futex
    // wake per request).
    std::atomic<bool> pending_ = false;
    std::atomic<bool> stopped_ = false;
    std::optional<boost::asio::steady_timer> timer_;
    std::chrono::steady_clock::time_point last_trim_{};
};

// What this serving thread has in flight: requests, and of them streams. A thread keeps head
// blocks and relay buffers for its next requests while it is busy, whatever the other threads do.
struct ThreadLoad {
    std::size_t requests = 0;
    std::size_t streams = 0;
};
ThreadLoad& this_threads_load();

// Gives the head blocks and relay buffers this thread keeps back to the heap (for the trimmer),
// when nothing but streams is in flight on this thread. Each thread does it for itself: a thread
// whose last request ended while another was still busy kept them for good (the soak's second
// round grew by them).
void release_thread_spares_when_idle();

}  // namespace socket_proxy
