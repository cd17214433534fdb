// Where the running policy comes from: a preset (SOCKET_PROXY_PRESET, alone), else the policy
// file (SOCKET_PROXY_POLICY), else the Tecnativa-style switches, else the built-in read-only
// policy. Reads the file: not pure.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "policy.hpp"

namespace socket_proxy {

struct LoadedPolicy {
    std::shared_ptr<const Policy> policy;
    std::vector<std::string> warnings;  // one sentence each, for the log
};

// Throws PolicyError (a bad file: which line, rule and field) or ConfigError.
[[nodiscard]] LoadedPolicy load_policy(const Config& config, const Environment& environment);

// Audit mode's candidate, SOCKET_PROXY_AUDIT_POLICY; nullptr when not in audit mode. Throws
// PolicyError as load_policy does.
[[nodiscard]] std::shared_ptr<const Policy> load_audit_policy(const Config& config);

}  // namespace socket_proxy
