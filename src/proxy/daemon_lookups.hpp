// What the proxy asks the daemon itself before it forwards a request, on connections of its
// own (daemon_request): which container a label-scoped request names, and what the containers
// and networks a checked write body names are.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon_pool.hpp"
#include "label_scope.hpp"
#include "units.hpp"
#include "write_body.hpp"

namespace socket_proxy {

// What the daemon said a label-scoped request's container is.
struct ContainerLookup {
    enum class Outcome { visible, hidden, failed } outcome = Outcome::failed;
    std::string id;  // visible: the full id
    boost::beast::http::status status = boost::beast::http::status::bad_gateway;  // failed
    std::string message;                                                          // failed
};

// Which container `reference` names (id, id prefix or name, resolved as for the client's
// request) and whether `labels` make it visible.
[[nodiscard]] boost::asio::awaitable<ContainerLookup> look_up_container(
    DaemonPool& daemons, Duration timeout, const std::string& reference,
    const std::vector<LabelSelector>& labels);

// The containers and networks a checked body names, as the daemon resolves them: the first
// refusal their descriptions call for. Each container whose namespace is joined comes back in
// `resolved` with its full id, to pin the body to. Under an owner rule `owned` holds the
// owner's label: a container without it is not one the client may join.
[[nodiscard]] boost::asio::awaitable<std::optional<WriteRefusal>> look_up_references(
    DaemonPool& daemons, Duration timeout, const std::vector<EngineReference>& references,
    const std::vector<LabelSelector>& owned,
    std::vector<std::pair<EngineReference, std::string>>& resolved);

}  // namespace socket_proxy
