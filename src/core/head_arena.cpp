#include "head_arena.hpp"

#include <cassert>
#include <cstdint>

#include "spare_blocks.hpp"

namespace socket_proxy {

namespace {

constexpr std::size_t alignment = alignof(std::max_align_t);

constexpr std::size_t rounded_up(std::size_t bytes) {
    return (bytes + alignment - 1) / alignment * alignment;
}

// Blocks given back, kept for the thread's next heads: as many as its connections have heads
// in flight at once, up to a bound.
thread_local SpareBlocks<HeadArena::block_bytes, 32> spare_blocks;

}  // namespace

void release_spare_head_blocks() noexcept {
    spare_blocks.release();
}

bool HeadArena::in_block(const std::byte* pointer) const {
    // Compared as integers: a heap pointer and the block are unrelated objects.
    const auto address = reinterpret_cast<std::uintptr_t>(pointer);
    const auto start = reinterpret_cast<std::uintptr_t>(block_);
    return block_ && address >= start && address < start + block_bytes;
}

HeadArena::~HeadArena() {
    // Everything cut from the block is freed by then: the heads die before their connection.
    assert(live_ == 0);
    if (block_) {
        spare_blocks.give_back(block_);
    }
}

void* HeadArena::allocate(std::size_t bytes) {
    const std::size_t needed = rounded_up(bytes);
    if (needed > block_bytes) {
        return ::operator new(bytes);
    }
    if (!block_) {
        block_ = static_cast<std::byte*>(spare_blocks.take());
        used_ = 0;
    }
    if (needed > block_bytes - used_) {
        return ::operator new(bytes);  // the block stays: what was cut from it is alive
    }
    void* const pointer = block_ + used_;
    used_ += needed;
    ++live_;
    return pointer;
}

void HeadArena::deallocate(void* pointer, std::size_t bytes) noexcept {
    auto* const freed = static_cast<std::byte*>(pointer);
    if (!in_block(freed)) {
        ::operator delete(pointer);
        return;
    }
    if (freed + rounded_up(bytes) == block_ + used_) {
        used_ = static_cast<std::size_t>(freed - block_);  // the latest: its room is reused
    }
    if (--live_ == 0) {
        spare_blocks.give_back(block_);
        block_ = nullptr;
    }
}

}  // namespace socket_proxy
