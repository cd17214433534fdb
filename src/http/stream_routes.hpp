// Which requests open a long-lived answer: one that stays open until the client or the daemon
// ends it (an event stream, followed logs, streamed stats, an attach or exec tunnel). Told
// before the request is forwarded, from the request alone, so that a per-client streams limit
// can refuse it before the daemon starts anything. Facts: ../shared/docker-api.md. Pure.
#pragma once

#include <string_view>

namespace socket_proxy {

// `route_path` is normalised (target.hpp), `query` the raw query. A query the proxy cannot read
// as the daemon does counts as opening a stream: the limit errs on the side of counting.
[[nodiscard]] bool opens_stream(std::string_view method, std::string_view route_path,
                                std::string_view query, bool upgrade_requested);

}  // namespace socket_proxy
