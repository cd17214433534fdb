// How the session relays a daemon answer to the client: the one choice, made from facts about
// the request and the answer's head, that decides which relay runs. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>

#include "label_scope.hpp"

namespace socket_proxy {

enum class AnswerStrategy {
    scoped_events,  // an /events stream filtered to the containers a label-scoped rule shows
    filtered_list,  // a container (volume, network) list held whole and filtered to those
    redacted,       // held whole and rewritten without secret values
    tunnel,         // after a 101 the client asked for: a raw pipe both ways
    buffered,       // no body, or one of known length under the splice threshold: read whole,
                    // then head and body in one write
    spliced,        // long, of known length, unread by the proxy, plain on both sides: socket
                    // to socket by splice(2)
    relayed,        // everything else, piece by piece as it arrives (streams included)
};

// Answers of known length at least this long are spliced; for shorter ones a pipe costs more
// syscalls than it saves copies, and they are held whole (so this also bounds what an answer
// holds in memory).
inline constexpr std::uint64_t splice_threshold_bytes = 256 * 1024;

struct AnswerFacts {
    bool get = false;                        // the request is a GET (HEAD has no body to rewrite)
    unsigned status = 0;                     // the daemon's final status
    std::optional<ScopedRouteKind> scope;    // a label-scoped rule's narrowing, if any
    bool redacts = false;                    // the rule redacts and the route carries secrets
    bool upgraded = false;                   // a 101 to a request that asked to upgrade
    bool no_body = false;                    // a HEAD's, a 204's, a 304's, or Content-Length: 0
    std::optional<std::uint64_t> remaining;  // the body still to come, when its length is known
    bool client_is_tls = false;  // TLS encrypts in the proxy: no bytes go socket to socket
    bool daemon_is_tls = false;  // ... and decrypts
};

// Only a GET's 200 is rewritten: an error answer carries no secrets and nothing to narrow.
[[nodiscard]] AnswerStrategy choose_answer_strategy(const AnswerFacts& facts);

}  // namespace socket_proxy
