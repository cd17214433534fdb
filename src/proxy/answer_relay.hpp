// Carrying the daemon's answer to the client, once its head has arrived: the strategy
// choose_answer_strategy() picks (answer_strategy.hpp) decides how, and the relay for it runs
// here. Each relay writes the request's log line and gives the daemon connection back to the
// pool, or closes it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <span>

#include "answer_strategy.hpp"
#include "body_relay.hpp"
#include "connection.hpp"
#include "daemon_pool.hpp"
#include "policy.hpp"
#include "request_log.hpp"

namespace socket_proxy {

// A daemon's answer on its way to the client: what every relay needs.
struct AnswerRelay {
    Connection& client;  // also holds what the client sent past its head (a tunnel's bytes)
    const ClientRequest& request;
    const RequestFacts& asked;  // the request as the client sent it
    const Decision& decision;
    RequestLog& log;
    DaemonConnection& daemon;
    DaemonAnswerParser& parser;  // its head read; the body, if any, is next
    DaemonBuffer& daemon_buffer;
    RelayScratch& scratch;  // one relay buffer, holding nothing of value
};

// The facts choose_answer_strategy() decides on, read off the request and the answer's head.
[[nodiscard]] AnswerFacts answer_facts(const AnswerRelay& relay);

// Relays the answer by `strategy`. Returns whether the client connection can carry another
// request.
[[nodiscard]] boost::asio::awaitable<bool> relay_answer(const AnswerRelay& relay,
                                                        AnswerStrategy strategy);

}  // namespace socket_proxy
