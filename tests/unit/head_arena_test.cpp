// The arena a connection's heads are cut from: what it holds while they live, and that Beast's
// fields built in it read, change and serialise as they do on the heap.
#include "head_arena.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "forwarded_head.hpp"

namespace socket_proxy {
namespace {

namespace http = boost::beast::http;

using ArenaRequestParser = http::request_parser<http::empty_body, HeadAllocator<char>>;

TEST(HeadArenaTest, HoldsABlockOnlyWhileSomethingCutFromItLives) {
    HeadArena arena;
    EXPECT_FALSE(arena.holds_block());
    void* first = arena.allocate(100);
    void* second = arena.allocate(50);
    EXPECT_TRUE(arena.holds_block());
    arena.deallocate(first, 100);
    EXPECT_TRUE(arena.holds_block());
    arena.deallocate(second, 50);
    EXPECT_FALSE(arena.holds_block());
}

TEST(HeadArenaTest, TheLatestAllocationFreedLeavesItsRoomToTheNext) {
    HeadArena arena;
    void* kept = arena.allocate(16);
    void* freed = arena.allocate(40);
    arena.deallocate(freed, 40);
    void* next = arena.allocate(40);
    EXPECT_EQ(next, freed);
    arena.deallocate(next, 40);
    arena.deallocate(kept, 16);
}

TEST(HeadArenaTest, WhatDoesNotFitComesFromTheHeap) {
    HeadArena arena;
    void* too_large = arena.allocate(HeadArena::block_bytes + 1);
    EXPECT_FALSE(arena.holds_block());  // nothing was cut from a block
    void* filling = arena.allocate(HeadArena::block_bytes - 64);
    void* spilled = arena.allocate(128);
    EXPECT_TRUE(arena.holds_block());
    arena.deallocate(spilled, 128);
    arena.deallocate(too_large, HeadArena::block_bytes + 1);
    EXPECT_TRUE(arena.holds_block());
    arena.deallocate(filling, HeadArena::block_bytes - 64);
    EXPECT_FALSE(arena.holds_block());
}

HeadText forwarded(ArenaRequestParser& parser, std::string_view bytes) {
    parser.eager(false);
    boost::system::error_code error;
    parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
    EXPECT_FALSE(error) << error.message();
    RequestHead& head = parser.get().base();
    const NormaliseResult normalised =
        normalise_target(std::string(head.target()), head[http::field::host]);
    EXPECT_TRUE(normalised.ok());
    prepare_forwarded_head(head, *normalised.target, parser.content_length(),
                           requests_upgrade(head));
    head.set("X-Replaced", std::string(300, 'b'));  // Beast frees and allocates again
    return serialise_head(head);
}

// Rewritten in the arena, a head comes out byte for byte as it does on the heap, and when the
// parser and its text are gone the block is given back, however the fields were changed.
TEST(HeadArenaTest, BeastFieldsInTheArenaAreTheFieldsOnTheHeap) {
    std::string request =
        "POST /v1.41/containers/c%31/start HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive, "
        "X-Gone\r\nX-Gone: 1\r\nExpect: 100-continue\r\nContent-Length: 2\r\nX-Replaced: a\r\n";
    for (int field = 0; field < 60; ++field) {  // more than one block's worth
        request += "X-Field-" + std::to_string(field) + ": " + std::string(40, 'v') + "\r\n";
    }
    request += "\r\n";

    ArenaRequestParser on_heap;
    const HeadText expected = forwarded(on_heap, request);

    HeadArena arena;
    {
        ArenaRequestParser in_arena(std::piecewise_construct, std::make_tuple(),
                                    std::make_tuple(HeadAllocator<char>(arena)));
        const HeadText text = forwarded(in_arena, request);
        EXPECT_EQ(std::string_view(text), std::string_view(expected));
        EXPECT_TRUE(arena.holds_block());
        // A copy of the head, as a held body keeps one, is cut from the same arena.
        std::optional<RequestHead> copy(in_arena.get().base());
        EXPECT_EQ(copy->get_allocator(), HeadAllocator<char>(arena));
    }
    EXPECT_FALSE(arena.holds_block());
}

}  // namespace
}  // namespace socket_proxy
