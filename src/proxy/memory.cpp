#include "memory.hpp"

#include <malloc.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "body_relay.hpp"
#include "head_arena.hpp"

namespace socket_proxy {
namespace asio = boost::asio;

namespace {

constexpr auto min_trim_interval = std::chrono::seconds(1);

// glibc trims the heap's top whenever more than 128 KiB is free there: under load that is
// a brk() down and up again per request (bench/). The trimmer gives memory back once the
// proxy falls quiet, so the heap may keep this much between requests.
constexpr int heap_kept_while_busy = 16 * 1024 * 1024;

}  // namespace

MemoryTrimmer::MemoryTrimmer(asio::any_io_executor executor) : executor_(std::move(executor)) {
    ::mallopt(M_TRIM_THRESHOLD, heap_kept_while_busy);
    timer_.emplace(executor_);
}

void MemoryTrimmer::on_quiet() {
    if (stopped_ || pending_.exchange(true)) {
        return;
    }
    asio::post(executor_, [this] { on_quiet_here(); });
}

void MemoryTrimmer::on_quiet_here() {
    if (stopped_) {
        return;
    }
    if (std::chrono::steady_clock::now() - last_trim_ >= min_trim_interval) {
        trim();
        return;
    }
    asio::co_spawn(timer_->get_executor(), trim_later(), asio::detached);
}

void MemoryTrimmer::stop() {
    stopped_ = true;
    timer_.reset();
}

asio::awaitable<void> MemoryTrimmer::trim_later() {
    timer_->expires_at(last_trim_ + min_trim_interval);
    auto [error] = co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (!error && !stopped_) {
        trim();
    } else {
        pending_ = false;
    }
}

ThreadLoad& this_threads_load() {
    thread_local ThreadLoad load;
    return load;
}

void release_thread_spares_when_idle() {
    const ThreadLoad& load = this_threads_load();
    if (load.requests > load.streams) {
        return;
    }
    release_spare_head_blocks();
    release_spare_relay_buffers();
}

void MemoryTrimmer::trim() {
    last_trim_ = std::chrono::steady_clock::now();
    ::malloc_trim(0);
    pending_ = false;
}

}  // namespace socket_proxy
