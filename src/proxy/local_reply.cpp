#include "local_reply.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include "daemon_socket.hpp"
#include "json_text.hpp"
#include "nothrow.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// The one writer of the proxy's own answers.
asio::awaitable<void> send(Connection& connection, const RequestFacts& request, http::status status,
                           const std::string& message, bool keep_alive,
                           unsigned retry_after_seconds = 0) {
    auto response = docker_error_response(status, message, keep_alive,
                                          request.version < 10 ? 11u : request.version);
    if (retry_after_seconds > 0) {
        response.set(http::field::retry_after, std::to_string(retry_after_seconds));
    }
    connection.drain_before_close(!keep_alive);
    if (request.head) {
        // RFC 9110 section 9.3.2: the same header fields as for GET, and no body; a body
        // here would be read as the next response on a keep-alive connection.
        response.body().clear();
    }
    ClientStream& client = connection.stream();
    client.expires_after(own_write_timeout);
    co_await http::async_write(client, response, nothrow);
    client.expires_never();
}

}  // namespace

http::response<http::string_body, HeadFields> docker_error_response(http::status status,
                                                                    const std::string& message,
                                                                    bool keep_alive,
                                                                    unsigned version) {
    http::response<http::string_body, HeadFields> response{status, version};
    response.set(http::field::content_type, "application/json");
    response.body() = docker_error_body(message);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
}

asio::awaitable<bool> reply_locally(Connection& connection, RequestLog& log,
                                    const RequestFacts& request, const Decision& decision,
                                    const LocalReply& reply) {
    log.record(reply.level, decision, static_cast<int>(reply.status), 0, reply.log_fields);
    if (!reply.client_gone) {
        co_await send(connection, request, reply.status, reply.message, reply.keep_alive,
                      reply.retry_after_seconds);
    }
    co_return reply.keep_alive;
}

asio::awaitable<void> refuse_undecided(Connection& connection, const BadRequest& refusal) {
    log_bad_request(connection.identity(), connection.context().state.metrics, refusal.status,
                    refusal.why, refusal.method, refusal.path);
    co_await send(connection, refusal.facts, refusal.status,
                  "socket-proxy refused the request: " + refusal.why, false);
}

LocalReply daemon_unreachable(const error_code& error, const std::string& why,
                              const std::string& socket_path, Duration connect_timeout,
                              bool keep_alive) {
    const bool timed_out = error == beast::error::timeout;
    std::string message = timed_out
                              ? "socket-proxy could not connect to the Docker engine at " +
                                    socket_path + " within " + format_duration(connect_timeout)
                              : "socket-proxy cannot reach the Docker engine at " + socket_path +
                                    ": " + (why.empty() ? error.message() : why);
    if (error == asio::error::access_denied && socket_path.starts_with('/')) {
        // Started before the engine existed, the proxy could not know the socket's group:
        // say who it runs as, who owns the socket, and the setting that fixes it.
        if (const DaemonSocketCheck check = check_daemon_socket(socket_path);
            check.state == DaemonSocketState::permission_denied) {
            message = "socket-proxy " + check.message;
        }
    }
    return LocalReply{
        .status = timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
        .message = message,
        .keep_alive = keep_alive,
        .level = LogLevel::error,
        .log_fields = {{"error", message}}};
}

LocalReply daemon_failed(const error_code& error, const std::string& socket_path,
                         Duration answer_timeout) {
    const bool timed_out = error == beast::error::timeout;
    std::string message = timed_out
                              ? "socket-proxy: the Docker engine at " + socket_path +
                                    " did not answer within " + format_duration(answer_timeout)
                              : "socket-proxy: the Docker engine at " + socket_path +
                                    " sent no valid response: " + error.message();
    return LocalReply{
        .status = timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
        .message = message,
        .keep_alive = false,
        .level = LogLevel::error,
        .log_fields = {{"error", message}}};
}

LocalReply body_relay_failed(const RelayOutcome& sent, const std::string& socket_path) {
    const bool client_fault =
        sent.read_error.category() == http::make_error_code(http::error::bad_chunk).category();
    std::string message =
        client_fault      ? "socket-proxy refused the request body: " + sent.read_error.message()
        : sent.read_error ? std::string("socket-proxy lost the client while sending its body")
                          : "socket-proxy: the Docker engine at " + socket_path +
                                " stopped reading the request body: " + sent.write_error.message();
    return LocalReply{
        .status = client_fault ? http::status::bad_request : http::status::bad_gateway,
        .message = message,
        .keep_alive = false,
        .level = LogLevel::warning,
        .log_fields = {{"error", message}},
        .client_gone = !client_fault && !sent.write_error};
}

}  // namespace socket_proxy
