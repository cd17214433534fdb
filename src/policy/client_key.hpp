// Who "one client" is for a rule's per-client limits (client_limits.hpp): a stable text per
// caller. Pure.
#pragma once

#include <string>

#include "policy.hpp"

namespace socket_proxy {

// Unix clients by uid and gid (several processes of one user share an allowance; a pid is
// reused and cheap to change), TCP clients by source address without the port (each connection
// has a new one), TLS clients by their certificate's fingerprint (one certificate is one
// caller, wherever it connects from); then ",listener=NAME" for a named listener's client and
// ",container=NAME" once the engine named its container, so that tools on sockets or in
// containers of their own are callers of their own even when they share a uid.
[[nodiscard]] std::string client_limit_key(const Client& client);

}  // namespace socket_proxy
