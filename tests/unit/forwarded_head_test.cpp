// The head the daemon receives: framing checks and the rebuilt request, one table each.
#include "forwarded_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "target.hpp"

namespace socket_proxy {
namespace {

namespace http = boost::beast::http;

struct Parsed {
    RequestHead head;
    boost::optional<std::uint64_t> content_length;
};

Parsed parse(std::string_view bytes) {
    http::request_parser<http::empty_body, HeadAllocator<char>> parser;
    parser.eager(false);
    boost::system::error_code error;
    parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
    EXPECT_FALSE(error) << error.message() << " in " << bytes;
    return {parser.get().base(), parser.content_length()};
}

template <class Head>
std::string serialised(const Head& head) {
    const HeadText text = serialise_head(head);
    return std::string(text.begin(), text.end());
}

struct FramingRow {
    std::string_view name;
    std::string_view head;
    bool ambiguous;
};

TEST(AmbiguityTest, RefusesEveryHeadTheDaemonCouldReadAnotherWay) {
    const FramingRow rows[] = {
        {"no body", "GET / HTTP/1.1\r\nHost: d\r\n\r\n", false},
        {"content-length", "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", false},
        {"chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        {"chunked, any case", "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", false},
        {"gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", true},
        {"identity", "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", true},
        {"two fields",
         "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         true},
        {"host and port", "GET / HTTP/1.1\r\nHost: localhost:2375\r\n\r\n", false},
        {"IPv6 host", "GET / HTTP/1.1\r\nHost: [::1]:2375\r\n\r\n", false},
        {"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false},
        {"two hosts", "GET / HTTP/1.1\r\nHost: docker\r\nHost: evil\r\n\r\n", true},
        {"space in host", "GET / HTTP/1.1\r\nHost: doc ker\r\n\r\n", true},
        {"slash in host", "GET / HTTP/1.1\r\nHost: docker/x\r\n\r\n", true},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name);
        http::request_parser<http::empty_body, HeadAllocator<char>> parser;
        parser.eager(false);
        boost::system::error_code error;
        parser.put(boost::asio::buffer(row.head.data(), row.head.size()), error);
        if (error) {
            // Beast refuses it itself: the session answers 400 all the same.
            EXPECT_TRUE(row.ambiguous) << error.message();
            continue;
        }
        EXPECT_EQ(!find_ambiguity(parser.get().base()).empty(), row.ambiguous);
    }
}

struct ForwardRow {
    std::string_view name;
    std::string_view client_head;
    std::string_view daemon_head;  // exactly what the daemon receives
};

TEST(ForwardHeadTest, RebuildsTheHeadFromWhatWasDecided) {
    const ForwardRow rows[] = {
        {"plain", "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"},
        {"target re-encoded as decided",
         "GET /v1.41/containers/c%31/json HTTP/1.1\r\nHost: docker\r\n\r\n",
         "GET /v1.41/containers/c1/json HTTP/1.1\r\nHost: docker\r\n\r\n"},
        {"HTTP/1.0 without Host becomes 1.1 with one", "GET /_ping HTTP/1.0\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"},
        {"hop-by-hop fields and the ones Connection names are dropped",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive, X-Secret\r\n"
         "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: x\r\n"
         "X-Kept: 2\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Kept: 2\r\n\r\n"},
        {"Connection cannot remove the framing",
         "POST /x HTTP/1.1\r\nHost: docker\r\nConnection: content-length\r\nContent-Length: "
         "2\r\n\r\n",
         "POST /x HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n"},
        {"listed identical lengths become one number",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 2, 2\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n"},
        {"repeated identical lengths become one field",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n"},
        {"Upgrade without Connection: upgrade is dropped",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\n\r\n",
         "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"},
        {"an upgrade keeps its pair",
         "POST /exec/e1/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
         "Content-Length: 0\r\n\r\n",
         "POST /exec/e1/start HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n"
         "Content-Length: 0\r\n\r\n"},
        {"Expect never reaches the daemon: its 100 would stand in front of the real answer",
         "POST /containers/create HTTP/1.1\r\nHost: docker\r\nExpect: 100-continue\r\n"
         "Content-Length: 2\r\n\r\n",
         "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.name);
        Parsed parsed = parse(row.client_head);
        const std::string raw_target(parsed.head.target());
        const NormaliseResult normalised =
            normalise_target(raw_target, parsed.head[http::field::host]);
        ASSERT_TRUE(normalised.ok()) << normalised.reason;
        prepare_forwarded_head(parsed.head, *normalised.target, parsed.content_length,
                               requests_upgrade(parsed.head));
        EXPECT_EQ(serialised(parsed.head), row.daemon_head);
    }
}

TEST(ExpectationTest, OnlyOneExactHundredContinueIsHonoured) {
    const std::pair<std::string_view, Expectation> rows[] = {
        {"", Expectation::none},
        {"Expect: 100-continue\r\n", Expectation::continue_100},
        {"Expect: 100-Continue\r\n", Expectation::continue_100},
        {"Expect: 100-continue, x\r\n", Expectation::unsupported},
        {"Expect: 100-continue\r\nExpect: 100-continue\r\n", Expectation::unsupported},
        {"Expect: 102-processing\r\n", Expectation::unsupported},
        {"Expect:\r\n", Expectation::unsupported},
    };
    for (const auto& [fields, expected] : rows) {
        SCOPED_TRACE(fields);
        const Parsed parsed = parse("POST /x HTTP/1.1\r\nHost: docker\r\n" + std::string(fields) +
                                    "Content-Length: 0\r\n\r\n");
        EXPECT_EQ(read_expectation(parsed.head), expected);
    }
}

// serialise_head replaces Beast's serializer on the hot path: byte for byte the same heads.
template <class Head>
std::string written_by_beast(const Head& head) {
    std::ostringstream bytes;
    bytes << head;
    return bytes.str();
}

TEST(SerialiseHeadTest, WritesTheBytesBeastsSerializerWrites) {
    const std::string_view requests[] = {
        "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n",
        "HEAD /_ping HTTP/1.0\r\nUser-Agent: x\r\nX-Odd: spaced  value\r\n\r\n",
        "POST /containers/create?name=a%20b HTTP/1.1\r\nHost: d\r\nContent-Type: "
        "application/json\r\nContent-Length: 2\r\n\r\n",
        "PROPFIND /x HTTP/1.1\r\nHost: d\r\nx-lower: 1\r\nX-LOWER: 2\r\n\r\n",
    };
    for (const std::string_view bytes : requests) {
        SCOPED_TRACE(bytes);
        const Parsed parsed = parse(bytes);
        EXPECT_EQ(serialised(parsed.head), written_by_beast(parsed.head));
        EXPECT_EQ(serialised(parsed.head), std::string(bytes));
    }

    const std::string_view responses[] = {
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n",
        "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        "HTTP/1.1 599 Custom Reason\r\nX: y\r\n\r\n",
    };
    for (const std::string_view bytes : responses) {
        SCOPED_TRACE(bytes);
        http::response_parser<http::empty_body, HeadAllocator<char>> parser;
        parser.skip(true);
        boost::system::error_code error;
        parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
        ASSERT_FALSE(error) << error.message();
        const ResponseHead& head = parser.get().base();
        EXPECT_EQ(serialised(head), written_by_beast(head));
        EXPECT_EQ(serialised(head), std::string(bytes));
    }

    ResponseHead built;  // no reason phrase stored: both write the status's own
    built.result(http::status::forbidden);
    built.version(11);
    built.set(http::field::content_type, "application/json");
    EXPECT_EQ(serialised(built), written_by_beast(built));
}

}  // namespace
}  // namespace socket_proxy
