// One request on a client connection, from its parsed head to the end of its answer: decided,
// its container looked up when a label-scoped rule names one, its body checked when its rule
// says so, forwarded to the daemon, and answered by the relay the answer calls for
// (answer_relay.hpp). Everything it keeps belongs to this request and ends with it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "body_relay.hpp"
#include "client_key.hpp"
#include "client_limiter.hpp"
#include "connection.hpp"
#include "daemon_pool.hpp"
#include "local_reply.hpp"
#include "policy.hpp"
#include "request_log.hpp"

namespace socket_proxy {

class Exchange {
  public:
    // `parser` holds the request's head, read by `client`; its body, if any, is still unread.
    Exchange(Connection& client, RequestParser& parser);
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    // Returns whether the client connection can carry another request.
    boost::asio::awaitable<bool> answer();

  private:
    std::shared_ptr<const Decision> decide_by_policy();
    boost::asio::awaitable<std::optional<bool>> limit_client(const Decision& decision,
                                                             std::optional<LimitHold>& hold);
    boost::asio::awaitable<bool> forward_scoped(const Decision& decision);
    boost::asio::awaitable<bool> forward(const Decision& decision);
    boost::asio::awaitable<bool> send_to_daemon(const Decision& decision,
                                                const std::optional<std::string>& held_body,
                                                RelayScratch& scratch);
    boost::asio::awaitable<std::optional<bool>> read_and_relay_answer(const Decision& decision,
                                                                      DaemonConnection& connection,
                                                                      bool may_retry,
                                                                      RelayScratch& scratch);
    boost::asio::awaitable<std::optional<bool>> stream_request(const Decision& decision,
                                                               DaemonStream& daemon,
                                                               RelayScratch& scratch);
    boost::asio::awaitable<std::optional<bool>> hold_checked_body(const Decision& decision,
                                                                  RelayScratch& scratch,
                                                                  std::string& held);
    boost::asio::awaitable<boost::system::error_code> read_held_body(std::size_t limit,
                                                                     std::span<char> scratch,
                                                                     std::string& held);
    boost::asio::awaitable<bool> refuse_body(const Decision& decision,
                                             boost::beast::http::status status,
                                             const std::string& why, bool keep_alive);
    boost::asio::awaitable<bool> refuse_allowed(const Decision& decision,
                                                boost::beast::http::status status,
                                                std::string message, bool keep_alive);
    boost::asio::awaitable<bool> reply(const Decision& decision, const LocalReply& local);
    boost::asio::awaitable<bool> reply_daemon_failed(const Decision& decision,
                                                     const boost::system::error_code& error);

    Connection& client_;
    RequestParser& parser_;
    ClientRequest& request_;    // rewritten into the daemon's head before it is forwarded
    const RequestFacts asked_;  // as the client sent it
    RequestLog log_;
};

}  // namespace socket_proxy
