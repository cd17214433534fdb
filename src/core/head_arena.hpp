// Memory for the heads a connection has in flight. Beast keeps each header field in a node of
// its own, and a small request with its answer took a dozen malloc calls for them alone
// (bench/profile); here they are cut from one block instead, which the connection borrows from
// its thread's spares while a head is alive and gives back when the last field is freed, so an
// idle connection holds none.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>

namespace socket_proxy {

class HeadArena {
  public:
    // A request head and a daemon's answer head of the usual dozen fields, with their
    // serialised text, fit several times over; a larger head spills over into the heap.
    static constexpr std::size_t block_bytes = 4096;

    HeadArena() = default;
    HeadArena(const HeadArena&) = delete;
    HeadArena& operator=(const HeadArena&) = delete;
    ~HeadArena();

    [[nodiscard]] void* allocate(std::size_t bytes);
    void deallocate(void* pointer, std::size_t bytes) noexcept;

    // Whether a block is borrowed: only while something cut from it is alive.
    [[nodiscard]] bool holds_block() const { return block_ != nullptr; }

  private:
    [[nodiscard]] bool in_block(const std::byte* pointer) const;

    std::byte* block_ = nullptr;
    std::size_t used_ = 0;
    std::size_t live_ = 0;  // allocations in the block not yet freed
};

// When this thread is idle (release_thread_spares_when_idle): the blocks it keeps go back to
// the heap, to be trimmed.
void release_spare_head_blocks() noexcept;

// A std allocator over a HeadArena. Default-constructed it has none and uses the heap, so a
// head built by hand (a test's, a look-up's) needs no arena.
template <class T>
class HeadAllocator {
  public:
    using value_type = T;
    // A head moved or swapped takes its memory's arena along.
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    static_assert(alignof(T) <= alignof(std::max_align_t), "the arena aligns to max_align_t");

    HeadAllocator() noexcept = default;
    explicit HeadAllocator(HeadArena& arena) noexcept : arena_(&arena) {}
    template <class U>
    HeadAllocator(const HeadAllocator<U>& other) noexcept  // NOLINT: rebinding is implicit
        : arena_(other.arena()) {}

    [[nodiscard]] T* allocate(std::size_t count) {
        const std::size_t bytes = count * sizeof(T);
        return static_cast<T*>(arena_ ? arena_->allocate(bytes) : ::operator new(bytes));
    }
    void deallocate(T* pointer, std::size_t count) noexcept {
        if (arena_) {
            arena_->deallocate(pointer, count * sizeof(T));
        } else {
            ::operator delete(pointer);
        }
    }

    [[nodiscard]] HeadArena* arena() const noexcept { return arena_; }

    template <class U>
    bool operator==(const HeadAllocator<U>& other) const noexcept {
        return arena_ == other.arena();
    }

  private:
    HeadArena* arena_ = nullptr;
};

// A head's bytes, serialised into the arena its fields live in.
using HeadText = std::basic_string<char, std::char_traits<char>, HeadAllocator<char>>;

}  // namespace socket_proxy
