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

// What a client's name gets beyond what its connection says, for the limit key and the request
// log alike: ",listener=NAME" for a named listener's client, ",container=NAME" once the engine
// named its container (the engine's names are [a-zA-Z0-9_.-]: nothing to escape).
[[nodiscard]] std::string listener_and_container(const Client& client);

}  // namespace socket_proxy
