#include "exchange.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "answer_relay.hpp"
#include "answer_strategy.hpp"
#include "body_relay.hpp"
#include "daemon_lookups.hpp"
#include "daemon_request.hpp"
#include "forwarded_head.hpp"
#include "head_check.hpp"
#include "label_scope.hpp"
#include "memory.hpp"
#include "nothrow.hpp"
#include "stream_routes.hpp"
#include "write_body.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// A forwarded request is in flight until its answer has ended.
class RequestInFlight {
  public:
    explicit RequestInFlight(Connection& client) : client_(client) {
        ++client_.context().state.requests_in_flight;
        ++this_threads_load().requests;
    }
    ~RequestInFlight() {
        --client_.context().state.requests_in_flight;
        --this_threads_load().requests;
        client_.give_back_memory_when_quiet();
    }
    RequestInFlight(const RequestInFlight&) = delete;
    RequestInFlight& operator=(const RequestInFlight&) = delete;

  private:
    Connection& client_;
};

// The daemon's answer head, past any interim (1xx) answers: those are the daemon's business
// with the proxy, and a 100 taken for the answer would leave the real one unread on a
// connection that goes back to the pool, to be read as another client's. A 101 is final only
// when the client asked to upgrade.
asio::awaitable<error_code> read_final_answer_head(DaemonStream& daemon,
                                                   DaemonBuffer& daemon_buffer,
                                                   std::optional<DaemonAnswerParser>& parser,
                                                   HeadAllocator<char> head_allocator, bool is_head,
                                                   bool upgrade_requested) {
    constexpr int max_interim_answers = 8;  // a daemon that sends only 1xx is lying
    for (int interim = 0;; ++interim) {
        parser.emplace(std::piecewise_construct, std::make_tuple(),
                       std::make_tuple(head_allocator));
        parser->header_limit(max_daemon_head_bytes);
        parser->body_limit(boost::none);  // image exports are gigabytes
        if (is_head) {
            parser->skip(true);
        }
        auto [error, ignored] =
            co_await http::async_read_header(daemon, daemon_buffer, *parser, nothrow);
        if (error) {
            co_return error;
        }
        const unsigned status = parser->get().result_int();
        if (status < 100 || status >= 200 || (status == 101 && upgrade_requested)) {
            co_return error_code();
        }
        if (status == 101 || interim + 1 == max_interim_answers) {
            co_return make_error_code(boost::system::errc::protocol_error);
        }
    }
}

}  // namespace

Exchange::Exchange(Connection& client, RequestParser& parser)
    : client_(client),
      parser_(parser),
      request_(parser.get()),
      asked_(read_request_facts(parser)),
      log_(request_, client.identity(), client.context().state.metrics) {}

asio::awaitable<bool> Exchange::answer() {
    if (const std::string problem = find_ambiguity(request_); !problem.empty()) {
        const BadRequest refusal{http::status::bad_request, problem, request_.method_string(),
                                 request_.target(), asked_};
        co_await refuse_undecided(client_, refusal);
        co_return false;
    }
    if (client_.may_need_container()) {
        co_await client_.learn_container();
    }
    const std::shared_ptr<const Decision> decided = decide_by_policy();
    const Decision& decision = *decided;
    if (!decision.allowed()) {
        // An unread request body would be taken for the next request: close instead.
        const bool keep_alive = asked_.keep_alive && parser_.is_done();
        const LocalReply denial{.status = static_cast<http::status>(decision.status),
                                .message = decision.message,
                                .keep_alive = keep_alive,
                                .level = LogLevel::warning};
        co_return co_await reply(decision, denial);
    }
    // Held until the answer ends: the client's concurrent (and stream) slot of its rule.
    std::optional<LimitHold> limit_hold;
    if (decision.limits) {
        if (const auto refused = co_await limit_client(decision, limit_hold)) {
            co_return *refused;
        }
    }
    if (decision.scope && names_one_object(decision.scope->kind)) {
        co_return co_await forward_scoped(decision);
    }
    co_return co_await forward(decision);
}

// Under the policy in force now: a reload while the request runs does not change its decision.
// In audit mode the candidate policy's verdict goes into the log line.
std::shared_ptr<const Decision> Exchange::decide_by_policy() {
    const std::shared_ptr<const Policy> policy = client_.policy();
    Request judged{request_.method_string(), request_.target(), request_[http::field::host]};
    const std::string_view content_type = request_[http::field::content_type];
    judged.form_body = may_be_form_body(content_type);
    DecisionCache& cache = client_.decisions();
    std::shared_ptr<const Decision> decision = cache.find(judged, policy);
    if (!decision) {
        decision = std::make_shared<const Decision>(decide(judged, client_.identity(), *policy));
        cache.store(judged, policy, decision);
    }
    if (const std::shared_ptr<const Policy> candidate = client_.audit_policy()) {
        const Decision audited = decide(judged, client_.identity(), *candidate);
        log_.audited(AuditVerdict{audited.allowed(), audited.rule});
    }
    return decision;
}

// A client past its rule's per-client limits is answered 429 before anything reaches the
// daemon. Returns nullopt when admitted (`hold` then keeps its slots), otherwise whether the
// connection can carry another request.
asio::awaitable<std::optional<bool>> Exchange::limit_client(const Decision& decision,
                                                            std::optional<LimitHold>& hold) {
    const ClientLimits& limits = *decision.limits;
    const Target& target = *decision.target;
    const bool stream =
        opens_stream(request_.method_string(), target.route_path, target.query, asked_.upgrade);
    ServerState& state = client_.context().state;
    const Admission admission = state.limiter.admit(
        decision.rule, client_limit_key(client_.identity()), limits, stream, hold);
    if (!admission.refused) {
        co_return std::nullopt;
    }
    const std::string_view limit = limit_name(*admission.refused);
    state.metrics.count_limited(decision.rule, limit);
    std::string over;
    switch (*admission.refused) {
        case LimitKind::rate:
            over = "sent more requests than " +
                   describe_client_limits(ClientLimits{
                       .requests_per_second = limits.requests_per_second, .burst = limits.burst}) +
                   " allow";
            break;
        case LimitKind::concurrent:
            over = "has concurrent=" + std::to_string(*limits.concurrent) + " requests in flight";
            break;
        case LimitKind::streams:
            over = "has streams=" + std::to_string(*limits.streams) +
                   " streams open (events, logs --follow, stats, attach, exec)";
            break;
    }
    Decision limited = decision;
    limited.verdict = Verdict::deny;
    limited.status = static_cast<int>(http::status::too_many_requests);
    limited.message = "socket-proxy limited " + std::string(request_.method_string()) + " " +
                      target.route_path + ": this client " + over + ", the most rule " +
                      decision.rule + " allows it; retry after " +
                      std::to_string(admission.retry_after_seconds) + "s";
    const LocalReply refusal{.status = http::status::too_many_requests,
                             .message = limited.message,
                             .keep_alive = asked_.keep_alive && parser_.is_done(),
                             .level = LogLevel::warning,
                             .log_fields = {{"limit", std::string(limit)}},
                             .retry_after_seconds = admission.retry_after_seconds};
    co_return co_await reply(limited, refusal);
}

// A request about one container or exec instance (or, under an owner rule, one volume or
// network) under a label-scoped rule: forwarded under the full id of the object the daemon
// resolved, or answered as the daemon answers for no such object.
asio::awaitable<bool> Exchange::forward_scoped(const Decision& decision) {
    const SessionContext& context = client_.context();
    const ScopedObject object = scoped_object(decision.scope->kind);
    const ObjectLookup found =
        co_await look_up_object(context.daemons, context.limits.daemon_timeout, object,
                                decision.scope->reference, decision.container_labels);
    if (found.outcome == ObjectLookup::Outcome::visible) {
        Decision pinned = decision;
        pinned.target = pinned_target(*decision.target, *decision.scope, found.id);
        co_return co_await forward(pinned);
    }
    LocalReply unseen =
        found.outcome == ObjectLookup::Outcome::hidden
            ? LocalReply{.status = http::status::not_found,
                         .message = absent_message(object, decision.scope->reference),
                         .keep_alive = asked_.keep_alive && parser_.is_done(),
                         .level = LogLevel::info,
                         .log_fields = {{"scope",
                                         std::string(object_noun(object)) + " not visible"}}}
            : LocalReply{.status = found.status,
                         .message = found.message,
                         .keep_alive = false,
                         .level = LogLevel::error,
                         .log_fields = {{"error", found.message}}};
    co_return co_await reply(decision, unseen);
}

asio::awaitable<bool> Exchange::forward(const Decision& decision) {
    const Expectation expectation = read_expectation(request_);
    if (expectation == Expectation::unsupported) {
        // Go's server answers 417 to any expectation but 100-continue; the body is unread.
        co_return co_await refuse_allowed(decision, http::status::expectation_failed,
                                          "socket-proxy refused the request: its Expect "
                                          "field asks for something other than 100-continue",
                                          false);
    }
    if (expectation == Expectation::continue_100 && asked_.has_body && asked_.version >= 11 &&
        !co_await client_.send_continue()) {
        co_return false;
    }

    RelayScratch scratch;
    // A write whose body says what will run is held, checked, and forwarded as checked.
    std::optional<std::string> held_body;
    if (write_body_is_checked(decision.write)) {
        held_body.emplace();
        if (const auto refused = co_await hold_checked_body(decision, scratch, *held_body)) {
            co_return *refused;
        }
    }

    prepare_forwarded_head(request_, *decision.target, parser_.content_length(), asked_.upgrade);
    if (held_body) {
        request_.erase(http::field::transfer_encoding);
        request_.set(http::field::content_length, std::to_string(held_body->size()));
    }
    const RequestInFlight in_flight(client_);
    co_return co_await send_to_daemon(decision, held_body, scratch);
}

// A pooled connection the daemon closed meanwhile fails before any answer; a request without a
// body (or with a held one) can then safely go out again on a fresh one.
asio::awaitable<bool> Exchange::send_to_daemon(const Decision& decision,
                                               const std::optional<std::string>& held_body,
                                               RelayScratch& scratch) {
    const SessionContext& context = client_.context();
    const std::string& socket_path = context.daemons.socket_path();
    const Duration daemon_timeout = context.limits.daemon_timeout;
    const bool streams_body = asked_.has_body && !held_body;
    const HeadText head_text =
        streams_body ? HeadText(request_.get_allocator()) : serialise_head(request_);

    // Such a request goes again when a reused connection fails before any answer byte
    // (may_retry below), so its first try can trust a connection released moments ago. The
    // second peeks: when the engine restarted, all the pooled connections are dead.
    const bool sent_again_if_lost = !asked_.has_body && (request_.method() == http::verb::get ||
                                                         request_.method() == http::verb::head);
    for (int attempt = 0;; ++attempt) {
        const DaemonPool::IdleCheck idle_check = sent_again_if_lost && attempt == 0
                                                     ? DaemonPool::IdleCheck::unless_just_released
                                                     : DaemonPool::IdleCheck::always;
        // An idle connection is taken without the coroutine acquire() is.
        boost::system::result<DaemonConnection> connection;
        if (std::optional<DaemonConnection> idle = context.daemons.take_idle(idle_check)) {
            connection = std::move(*idle);
        } else {
            connection = co_await context.daemons.acquire();
        }
        if (!connection) {
            const LocalReply unreachable =
                daemon_unreachable(connection.error(), context.daemons.last_failure(), socket_path,
                                   daemon_timeout, asked_.keep_alive && !asked_.has_body);
            co_return co_await reply(decision, unreachable);
        }
        DaemonStream& daemon = *connection->stream;
        const bool may_retry =
            connection->reused && (!asked_.has_body || held_body) && attempt == 0;

        expire_after(daemon, daemon_timeout);
        if (!streams_body) {
            // The head and a held body leave in one write.
            const std::array<asio::const_buffer, 2> out{
                asio::buffer(head_text),
                held_body ? asio::buffer(*held_body) : asio::const_buffer()};
            auto [write_error, written] = co_await asio::async_write(daemon, out, nothrow);
            if (write_error) {
                if (may_retry)
                    continue;
                co_return co_await reply_daemon_failed(decision, write_error);
            }
            log_.body_bytes_sent(held_body ? held_body->size() : 0);
        } else if (const std::optional<bool> answered =
                       co_await stream_request(decision, daemon, scratch)) {
            co_return *answered;
        }

        if (const std::optional<bool> answered =
                co_await read_and_relay_answer(decision, *connection, may_retry, scratch)) {
            co_return *answered;
        }
    }
}

// The daemon's answer to the request just sent on `connection`, relayed to the client. Returns
// nullopt when the connection, taken from the pool (`may_retry`), turns out closed before any
// answer: the request can go again on another.
asio::awaitable<std::optional<bool>> Exchange::read_and_relay_answer(const Decision& decision,
                                                                     DaemonConnection& connection,
                                                                     bool may_retry,
                                                                     RelayScratch& scratch) {
    DaemonStream& daemon = *connection.stream;
    std::optional<DaemonAnswerParser> answer_parser;
    DaemonBuffer daemon_buffer;
    // Beast reads as much as the buffer has room for, at least 512 bytes: an empty
    // buffer relays a 64 MB answer in 512-byte reads (61 MB/s, bench/).
    daemon_buffer.reserve(relay_chunk_bytes);
    const error_code head_error =
        co_await read_final_answer_head(daemon, daemon_buffer, answer_parser,
                                        client_.head_allocator(), asked_.head, asked_.upgrade);
    daemon.expires_never();  // from here on the answer flows: no deadline cuts it
    if (head_error) {
        if (may_retry && head_error != beast::error::timeout && daemon_buffer.size() == 0) {
            co_return std::nullopt;
        }
        co_return co_await reply_daemon_failed(decision, head_error);
    }
    const AnswerRelay relay{.client = client_,
                            .request = request_,
                            .asked = asked_,
                            .decision = decision,
                            .log = log_,
                            .daemon = connection,
                            .parser = *answer_parser,
                            .daemon_buffer = daemon_buffer,
                            .scratch = scratch};
    co_return co_await relay_answer(relay, choose_answer_strategy(answer_facts(relay)));
}

// The head, then the body as it arrives from the client. Returns nullopt when the whole request
// went out; otherwise it was answered here, and whether the connection can carry another.
asio::awaitable<std::optional<bool>> Exchange::stream_request(const Decision& decision,
                                                              DaemonStream& daemon,
                                                              RelayScratch& scratch) {
    const SessionContext& context = client_.context();
    const std::string& socket_path = context.daemons.socket_path();
    http::request_serializer<http::buffer_body, HeadFields> request_out(request_);
    auto [head_error, head_bytes] = co_await http::async_write_header(daemon, request_out, nothrow);
    if (head_error) {
        co_return co_await reply_daemon_failed(decision, head_error);
    }
    daemon.expires_never();  // a request body may legitimately take long to send
    // A request body that stops arriving is an idle client, not a flowing response.
    const RelayOutcome sent =
        co_await relay_body(client_.stream(), client_.buffer(), parser_, daemon, request_out,
                            scratch.bytes(), context.limits.idle_timeout);
    log_.body_bytes_sent(sent.bytes);
    if (sent.read_error || sent.write_error) {
        const LocalReply failed = body_relay_failed(sent, socket_path);
        co_return co_await reply(decision, failed);
    }
    expire_after(daemon, context.limits.daemon_timeout);
    co_return std::nullopt;
}

// Reads a checked write's whole body, at most its rule's body.max_size (a longer one is
// refused, never forwarded unchecked), and checks it. Returns whether the connection can go on
// when the request was answered here, nullopt when it may be forwarded.
asio::awaitable<std::optional<bool>> Exchange::hold_checked_body(const Decision& decision,
                                                                 RelayScratch& scratch,
                                                                 std::string& held) {
    // Beast adds the trailer fields of a chunked body to the head it parsed, and a held body's
    // head leaves after the body was read: the daemon gets the head the policy decided on, and
    // what a trailer says is dropped. (A streamed body's head has left before its trailer
    // arrives, and the relay writes no trailer.)
    std::optional<RequestHead> head_before_body;
    if (asked_.has_body && parser_.chunked()) {
        head_before_body.emplace(request_.base());
    }
    const std::size_t limit = decision.write_limits.max_body_bytes;
    if (const error_code error = co_await read_held_body(limit, scratch.bytes(), held)) {
        if (error == http::error::body_limit) {
            co_return co_await refuse_body(decision, http::status::payload_too_large,
                                           "the body is larger than " + format_size(limit) +
                                               " (body.max_size), too large to check",
                                           false);
        }
        const bool client_fault =
            error.category() == http::make_error_code(http::error::bad_chunk).category();
        if (!client_fault) {
            co_return false;  // the client left or idled out mid-body: nobody to answer
        }
        co_return co_await refuse_body(decision, http::status::bad_request,
                                       "the body cannot be read: " + error.message(), false);
    }
    WriteJudgement judged =
        judge_write_body(decision.write, decision.target->query, held, decision.write_limits);
    if (!judged.refusal && decision.owner) {
        WriteJudgement owned = owned_references(decision.write, held);
        judged.refusal = std::move(owned.refusal);
        judged.references.insert(judged.references.end(), owned.references.begin(),
                                 owned.references.end());
    }
    std::vector<std::pair<EngineReference, std::string>> resolved;
    if (!judged.refusal) {
        const SessionContext& context = client_.context();
        const std::vector<LabelSelector> owned =
            decision.owner ? std::vector{*decision.owner} : std::vector<LabelSelector>{};
        judged.refusal = co_await look_up_references(context.daemons, context.limits.daemon_timeout,
                                                     judged.references, owned, resolved);
    }
    const bool joins = std::ranges::any_of(resolved, [](const auto& reference) {
        return reference.first.kind == EngineReference::Kind::namespace_owner;
    });
    if (!judged.refusal && joins) {
        if (std::optional<std::string> pinned = pin_borrowed_namespaces(held, resolved)) {
            held = std::move(*pinned);
        } else {
            judged.refusal = WriteRefusal{403,
                                          "the body cannot be written back with the "
                                          "containers it joins named by their ids"};
        }
    }
    if (!judged.refusal && decision.owner) {
        if (std::optional<std::string> owned =
                owner_body(decision.write, held, *decision.owner, resolved)) {
            held = std::move(*owned);
        } else {
            judged.refusal = WriteRefusal{400,
                                          "its Labels (or a mount's VolumeOptions, or its "
                                          "networks) are not objects, so the owner label and "
                                          "the ids of what it names cannot be written into it"};
        }
    }
    if (judged.refusal) {
        co_return co_await refuse_body(decision, static_cast<http::status>(judged.refusal->status),
                                       judged.refusal->reason, request_.keep_alive());
    }
    if (head_before_body) {
        request_.base() = *head_before_body;
    }
    co_return std::nullopt;
}

// Returns http::error::body_limit for a body over `limit` (told by its Content-Length before
// anything is read, when it has one).
asio::awaitable<error_code> Exchange::read_held_body(std::size_t limit, std::span<char> scratch,
                                                     std::string& held) {
    const Duration idle_timeout = client_.context().limits.idle_timeout;
    ClientStream& client = client_.stream();
    const bool too_long_to_read = parser_.content_length() && *parser_.content_length() > limit;
    error_code error = too_long_to_read ? error_code(http::error::body_limit) : error_code();
    while (!error && !parser_.is_done()) {
        auto& body = parser_.get().body();
        body.data = scratch.data();
        body.size = scratch.size();
        expire_after(client, idle_timeout);
        auto [read_error, ignored] =
            co_await http::async_read_some(client, client_.buffer(), parser_, nothrow);
        client.expires_never();
        error = read_error == http::error::need_buffer ? error_code() : read_error;
        held.append(scratch.data(), scratch.size() - body.size);
        if (!error && held.size() > limit) {
            error = http::error::body_limit;
        }
    }
    co_return error;
}

asio::awaitable<bool> Exchange::refuse_body(const Decision& decision, http::status status,
                                            const std::string& why, bool keep_alive) {
    co_return co_await refuse_allowed(decision, status,
                                      "socket-proxy refused the body of " +
                                          std::string(request_.method_string()) + " " +
                                          decision.target->route_path + ": " + why + "; rule " +
                                          decision.rule + " does not allow it",
                                      keep_alive);
}

// A request the policy allowed that the proxy refuses all the same (its Expect, its body):
// logged as a denial with that status, answered with the message.
asio::awaitable<bool> Exchange::refuse_allowed(const Decision& decision, http::status status,
                                               std::string message, bool keep_alive) {
    Decision refused = decision;
    refused.verdict = Verdict::deny;
    refused.status = static_cast<int>(status);
    refused.message = std::move(message);
    const LocalReply refusal{.status = status,
                             .message = refused.message,
                             .keep_alive = keep_alive,
                             .level = LogLevel::warning};
    co_return co_await reply(refused, refusal);
}

asio::awaitable<bool> Exchange::reply(const Decision& decision, const LocalReply& local) {
    co_return co_await reply_locally(client_, log_, asked_, decision, local);
}

// Built here rather than in the callers: a reply held across their co_await would make each
// caller's coroutine frame larger than the size Asio recycles.
asio::awaitable<bool> Exchange::reply_daemon_failed(const Decision& decision,
                                                    const error_code& error) {
    const SessionContext& context = client_.context();
    const LocalReply failed =
        daemon_failed(error, context.daemons.socket_path(), context.limits.daemon_timeout);
    co_return co_await reply(decision, failed);
}

}  // namespace socket_proxy
