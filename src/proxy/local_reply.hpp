// Every answer the proxy makes itself instead of the daemon (Envoy's sendLocalReply): a status
// and Docker's {"message"} JSON, logged and counted, written within a deadline. One exit, so
// that a HEAD never gets a body and an answer that closes the connection always drains the
// client before the close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>
#include <string>
#include <vector>

#include "connection.hpp"
#include "log.hpp"
#include "policy.hpp"
#include "request_log.hpp"
#include "splice.hpp"
#include "units.hpp"

namespace socket_proxy {

// The complete error answer the docker CLI prints: {"message"} with exactly application/json,
// which is the only type it reads the message from.
[[nodiscard]] boost::beast::http::response<boost::beast::http::string_body, HeadFields>
docker_error_response(boost::beast::http::status status, const std::string& message,
                      bool keep_alive, unsigned version);

struct LocalReply {
    boost::beast::http::status status = boost::beast::http::status::bad_gateway;
    std::string message;      // what the client reads; also the log's error, when it is one
    bool keep_alive = false;  // the connection carries another request after it
    LogLevel level = LogLevel::error;
    std::vector<LogField> log_fields{};  // added to the request's own in its log line
    bool client_gone = false;            // nobody is there to read it: only logged
    unsigned retry_after_seconds = 0;    // a Retry-After field (RFC 9110 section 10.2.3); 0: none
};

// Answers a decided request: its log line and metrics sample (under `decision`), then the
// reply. Returns whether the connection can carry another request. Callers pass a named
// LocalReply: GCC 12 destroys a coroutine's argument twice when it is a temporary built in the
// co_await expression (a double free, seen on the denial path).
boost::asio::awaitable<bool> reply_locally(Connection& connection, RequestLog& log,
                                           const RequestFacts& request, const Decision& decision,
                                           const LocalReply& reply);

// Answers a request refused before it was decided, logged as a bad request; the connection
// closes after it.
boost::asio::awaitable<void> refuse_undecided(Connection& connection, const BadRequest& refusal);

// The daemon's failures, as replies. `socket_path` names the daemon's socket in each message.
// No connection to the daemon could be had.
[[nodiscard]] LocalReply daemon_unreachable(const boost::system::error_code& error,
                                            const std::string& why, const std::string& socket_path,
                                            Duration connect_timeout, bool keep_alive);
// The daemon took the request but did not produce an answer head. The request may be half-sent
// and its body half-read: the connection is spent.
[[nodiscard]] LocalReply daemon_failed(const boost::system::error_code& error,
                                       const std::string& socket_path, Duration answer_timeout);
// Relaying the request body broke off; the daemon holds half a request. A client that went away
// mid-body is not written to.
[[nodiscard]] LocalReply body_relay_failed(const RelayOutcome& sent,
                                           const std::string& socket_path);

}  // namespace socket_proxy
