// Freed blocks of one size, kept for the thread's next use: a busy thread takes none from the
// heap, and a burst does not leave its high-water mark behind (past `MostKept` they are freed).
// Each serving thread runs its own connections, so a thread_local one needs no lock.
#pragma once

#include <array>
#include <cstddef>
#include <new>

namespace socket_proxy {

template <std::size_t BlockBytes, std::size_t MostKept>
class SpareBlocks {
  public:
    static constexpr std::size_t block_bytes = BlockBytes;

    SpareBlocks() = default;
    SpareBlocks(const SpareBlocks&) = delete;
    SpareBlocks& operator=(const SpareBlocks&) = delete;
    ~SpareBlocks() { release(); }

    [[nodiscard]] void* take() {
        if (count_ > 0) {
            return blocks_[--count_];
        }
        return ::operator new(BlockBytes);
    }

    void give_back(void* block) noexcept {
        if (count_ < MostKept) {
            blocks_[count_++] = block;
        } else {
            ::operator delete(block);
        }
    }

    // When nothing but streams is in flight on the thread: back to the heap, to be trimmed.
    void release() noexcept {
        while (count_ > 0) {
            ::operator delete(blocks_[--count_]);
        }
    }

  private:
    std::array<void*, MostKept> blocks_{};
    std::size_t count_ = 0;
};

}  // namespace socket_proxy
