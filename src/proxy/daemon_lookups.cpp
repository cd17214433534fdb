#include "daemon_lookups.hpp"

#include <boost/beast/core/error.hpp>

#include "body_relay.hpp"
#include "daemon_request.hpp"
#include "target.hpp"

namespace socket_proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<ContainerLookup> look_up_container(DaemonPool& daemons, Duration timeout,
                                                   const std::string& reference,
                                                   const std::vector<LabelSelector>& labels) {
    const auto failed = [](http::status status, std::string message) {
        return ContainerLookup{ContainerLookup::Outcome::failed, {}, status, std::move(message)};
    };
    const std::string& path = daemons.socket_path();
    const DaemonAnswer answer = co_await daemon_request(
        daemons, timeout, http::verb::get, "/containers/" + encode_path(reference) + "/json",
        max_held_answer_bytes);
    if (answer.error) {
        co_return failed(answer.error == beast::error::timeout ? http::status::gateway_timeout
                                                               : http::status::bad_gateway,
                         "socket-proxy: the Docker engine at " + path +
                             " did not answer which container this is: " +
                             (answer.why.empty() ? answer.error.message() : answer.why));
    }
    if (answer.status == 404) {
        co_return ContainerLookup{ContainerLookup::Outcome::hidden, {}, {}, {}};
    }
    if (answer.status != 200) {
        co_return failed(http::status::bad_gateway,
                         "socket-proxy: the Docker engine answered " +
                             std::to_string(answer.status) +
                             " when asked which container this is: " + answer.body);
    }
    const std::optional<ContainerIdentity> identity = read_container_identity(answer.body, labels);
    if (!identity) {
        co_return failed(http::status::bad_gateway,
                         "socket-proxy: the Docker engine's description of the container "
                         "is not JSON the proxy can read; nothing was forwarded");
    }
    co_return ContainerLookup{
        identity->visible ? ContainerLookup::Outcome::visible : ContainerLookup::Outcome::hidden,
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
        if (auto refusal = judge_reference(reference, answer.status, answer.body)) {
            co_return refusal;
        }
        if (reference.kind == EngineReference::Kind::namespace_owner) {
            const std::optional<ContainerIdentity> identity =
                read_container_identity(answer.body, owned);
            if (!identity) {
                co_return WriteRefusal{502, reference.where + " names " + reference.name +
                                                ", and the engine's description of it "
                                                "has no id the proxy can read"};
            }
            if (!identity->visible) {
                co_return WriteRefusal{403, reference.where + " joins " + reference.name +
                                                ", a container this client did not create"};
            }
            resolved.emplace_back(reference, identity->id);
        }
    }
    co_return std::nullopt;
}

}  // namespace socket_proxy
