// What the proxy asks the daemon itself before it forwards a request, on connections of its
// own (daemon_request): which container, volume or network a label-scoped request names, and
// what the containers, networks and volumes a checked write body names are.
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

// What the daemon said a label-scoped request's container, volume, network or exec instance is.
struct ObjectLookup {
    enum class Outcome { visible, hidden, failed } outcome = Outcome::failed;
    std::string id;  // visible: the full id (a volume's name)
    boost::beast::http::status status = boost::beast::http::status::bad_gateway;  // failed
    std::string message;                                                          // failed
};

// Which object `reference` names (for containers and networks an id, id prefix or name, for
// volumes a name, for exec instances the full id, resolved as for the client's request) and
// whether `labels` make it visible (an exec instance: its container's labels).
[[nodiscard]] boost::asio::awaitable<ObjectLookup> look_up_object(
    DaemonPool& daemons, Duration timeout, ScopedObject object, const std::string& reference,
    const std::vector<LabelSelector>& labels);

// The containers, networks and volumes a checked body names, as the daemon resolves them: the
// first refusal their descriptions call for. Each container whose namespace is joined comes
// back in `resolved` with its full id, to pin the body to. Under an owner rule `owned` holds
// the owner's label: an object without it is not one the client may use, and every reference
// comes back resolved.
[[nodiscard]] boost::asio::awaitable<std::optional<WriteRefusal>> look_up_references(
    DaemonPool& daemons, Duration timeout, const std::vector<EngineReference>& references,
    const std::vector<LabelSelector>& owned,
    std::vector<std::pair<EngineReference, std::string>>& resolved);

}  // namespace socket_proxy
