#include "head_arena.hpp"

#include <array>
#include <cassert>
#include <cstdint>

namespace socket_proxy {

namespace {

constexpr std::size_t alignment = alignof(std::max_align_t);

constexpr std::size_t rounded_up(std::size_t bytes) {
    return (bytes + alignment - 1) / alignment * alignment;
}

// Blocks given back, kept for the thread's next heads: as many as its connections have heads
// in flight at once, up to a bound, so that a burst does not leave its high-water mark behind.
// Each serving thread runs its own connections, so no lock.
class SpareBlocks {
  public:
    static constexpr std::size_t most_kept = 32;

    SpareBlocks() = default;
    SpareBlocks(const SpareBlocks&) = delete;
    SpareBlocks& operator=(const SpareBlocks&) = delete;
    ~SpareBlocks() { release(); }

    std::byte* take() {
        if (count_ > 0) {
            return blocks_[--count_];
        }
        return static_cast<std::byte*>(::operator new(HeadArena::block_bytes));
    }

    void give_back(std::byte* block) {
        if (count_ < most_kept) {
            blocks_[count_++] = block;
        } else {
            ::operator delete(block);
        }
    }

    void release() noexcept {
        while (count_ > 0) {
            ::operator delete(blocks_[--count_]);
        }
    }

  private:
    std::array<std::byte*, most_kept> blocks_{};
    std::size_t count_ = 0;
};

thread_local SpareBlocks spare_blocks;

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
        block_ = spare_blocks.take();
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
