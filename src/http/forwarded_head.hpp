// The request head the daemon receives: rebuilt from what the proxy parsed and decided on,
// never the client's bytes passed through. Pure: no I/O, so the fuzzer checks the very head
// the proxy would send.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>
#include <cstdint>
#include <string>

#include "head_arena.hpp"
#include "target.hpp"

namespace socket_proxy {

// The fields of the heads the proxy parses and forwards, cut from their connection's arena.
using HeadFields = boost::beast::http::basic_fields<HeadAllocator<char>>;
using RequestHead = boost::beast::http::request_header<HeadFields>;
using ResponseHead = boost::beast::http::response_header<HeadFields>;

// Why the daemon could read this head differently from the proxy, as the sentence for a 400;
// empty when it cannot. RFC 9112 section 6.3: framed two ways (Content-Length and
// Transfer-Encoding), or with a transfer coding the proxy cannot delimit. Section 3.2: more
// than one Host, or a Host that is not a host (Go refuses those; the absolute-form check
// compares against the first).
[[nodiscard]] std::string find_ambiguity(const RequestHead& request);

// `Connection: upgrade` with an `Upgrade` field: after a 101 the connection is a raw pipe.
[[nodiscard]] bool requests_upgrade(const HeadFields& fields);

// RFC 9110 section 7.6.1: hop-by-hop fields describe one connection and are not forwarded,
// nor any field the Connection header names. An upgrade keeps its Connection/Upgrade pair.
void remove_hop_by_hop_fields(HeadFields& fields, bool keep_upgrade);

// What a request's Expect field asks of the proxy (RFC 9110 section 10.1.1).
enum class Expectation {
    none,
    continue_100,  // "100-continue": the proxy answers 100 itself before it reads the body
    unsupported,   // anything else: 417, as Go's server answers it
};
[[nodiscard]] Expectation read_expectation(const HeadFields& fields);

// Turns the client's parsed request head into the daemon's: the normalised target, HTTP/1.1
// keep-alive, one Content-Length (the number the body is framed by), a Host, and no Expect:
// the proxy has the body in hand or is relaying it, so the daemon's interim 100 would only be
// one more answer in front of the real one on a pooled connection.
// `content_length` is the parser's (Beast's optional), the number the body is framed by.
void prepare_forwarded_head(RequestHead& request, const Target& target,
                            const boost::optional<std::uint64_t>& content_length, bool upgrade);

// The head's bytes as Beast's serializer would write them: the request for the daemon
// socket, the answer for the client's. Cut from the arena the head's fields live in.
[[nodiscard]] HeadText serialise_head(const RequestHead& request);
[[nodiscard]] HeadText serialise_head(const ResponseHead& response);

}  // namespace socket_proxy
