#include "daemon_lookups.hpp"

#include <boost/beast/core/error.hpp>

#include "body_relay.hpp"
#include "daemon_request.hpp"
#include "target.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<ObjectLookup> look_up_object(DaemonPool& daemons, Duration timeout,
                                             ScopedObject object, const std::string& reference,
                                             const std::vector<LabelSelector>& labels) {
    const std::string noun(object_noun(object));
    const auto failed = [](http::status status, std::string message) {
        return ObjectLookup{ObjectLookup::Outcome::failed, {}, status, std::move(message)};
    };
    const std::string& path = daemons.socket_path();
    const DaemonAnswer answer =
        co_await daemon_request(daemons, timeout, http::verb::get,
                                describe_target(object, reference), max_held_answer_bytes);
    if (answer.error) {
        co_return failed(
            answer.error == beast::error::timeout ? http::status::gateway_timeout
                                                  : http::status::bad_gateway,
            "socket-proxy: the Docker engine at " + path + " did not answer which " + noun +
                " this is: " + (answer.why.empty() ? answer.error.message() : answer.why));
    }
    if (answer.status == 404) {
        co_return ObjectLookup{ObjectLookup::Outcome::hidden, {}, {}, {}};
    }
    if (answer.status != 200) {
        co_return failed(http::status::bad_gateway, "socket-proxy: the Docker engine answered " +
                                                        std::to_string(answer.status) +
                                                        " when asked which " + noun +
                                                        " this is: " + answer.body);
    }
    const std::optional<ObjectIdentity> identity = read_identity(object, answer.body, labels);
    if (!identity) {
        co_return failed(http::status::bad_gateway,
                         "socket-proxy: the Docker engine's description of the " + noun +
                             " is not JSON the proxy can read; nothing was forwarded");
    }
    if (!identity->container.empty()) {
        // An exec instance is its container's: visible when that container is.
        ObjectLookup container = co_await look_up_object(daemons, timeout, ScopedObject::container,
                                                         identity->container, labels);
        if (container.outcome == ObjectLookup::Outcome::visible) {
            container.id = identity->id;
        }
        co_return container;
    }
    co_return ObjectLookup{
        identity->visible ? ObjectLookup::Outcome::visible : ObjectLookup::Outcome::hidden,
        identity->id,
        {},
        {}};
}

asio::awaitable<std::optional<WriteRefusal>> look_up_references(
    DaemonPool& daemons, Duration timeout, const std::vector<EngineReference>& references,
    const std::vector<LabelSelector>& owned,
    std::vector<std::pair<EngineReference, std::string>>& resolved) {
    for (const EngineReference& reference : references) {
        const DaemonAnswer answer = co_await daemon_request(
            daemons, timeout, http::verb::get, reference_target(reference), max_held_answer_bytes);
        if (answer.error) {
            co_return WriteRefusal{answer.error == beast::error::timeout ? 504 : 502,
                                   reference.where + " names " + reference.name +
                                       ", and the Docker engine did not say what it is: " +
                                       (answer.why.empty() ? answer.error.message() : answer.why)};
        }
        if (answer.status == 404 && reference.may_be_absent) {
            continue;
        }
        if (auto refusal = judge_reference(reference, answer.status, answer.body)) {
            co_return refusal;
        }
        const bool joins = reference.kind == EngineReference::Kind::namespace_owner;
        if (joins || !owned.empty()) {
            const ScopedObject object = reference_object(reference);
            const std::optional<ObjectIdentity> identity =
                read_identity(object, answer.body, owned);
            if (!identity) {
                co_return WriteRefusal{502, reference.where + " names " + reference.name +
                                                ", and the engine's description of it "
                                                "has no id the proxy can read"};
            }
            if (!identity->visible) {
                co_return WriteRefusal{403, reference.where + (joins ? " joins " : " names ") +
                                                reference.name + ", a " +
                                                std::string(object_noun(object)) +
                                                " this client did not create"};
            }
            resolved.emplace_back(reference, identity->id);
        }
    }
    co_return std::nullopt;
}

}  // namespace socket_proxy
