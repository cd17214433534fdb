// Tecnativa-compatible environment switches (CONTAINERS=1, POST=1, ...), so that a compose
// file written for tecnativa/docker-socket-proxy keeps working when the image is swapped.
//
// The same sections, defaults (EVENTS, PING, VERSION on) and POST semantics, decided on the
// normalised route; stricter where Tecnativa's regular expressions are loose (docs/policy.md:
// the mapping). Pure: the environment is passed in.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config_error.hpp"
#include "policy.hpp"

namespace socket_proxy {

struct SwitchPolicy {
    Policy policy;
    // Variables that look like switches but hold no boolean (VERSION=1.2.3 set by a base
    // image, say): ignored, and logged so that a typo does not go unseen.
    std::vector<std::string> ignored;
};

// nullopt when no switch is set to a boolean: then the switches are not in use. Throws
// ConfigError when a switch is set together with SOCKET_PROXY_POLICY.
[[nodiscard]] std::optional<SwitchPolicy> policy_from_switches(const Environment& environment);

// Every switch the proxy reads, for docs/policy.md and --help.
[[nodiscard]] const std::vector<std::string>& switch_names();

}  // namespace socket_proxy
