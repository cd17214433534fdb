#include "policy_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "policy_file.hpp"
#include "policy_switches.hpp"
#include "presets.hpp"

namespace socket_proxy {
namespace {

// A policy is a few hundred lines at most; a bigger file is a wrong path (a log, an image).
constexpr std::streamoff max_policy_bytes = 1024 * 1024;

std::string read_policy_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw PolicyError("cannot read the policy file " + path + ": " + std::strerror(errno) +
                          "; check SOCKET_PROXY_POLICY and that the file is mounted");
    }
    std::ostringstream text;
    text << file.rdbuf();
    if (text.tellp() > max_policy_bytes) {
        throw PolicyError("the policy file " + path +
                          " is larger than 1 MiB: is it the right file?");
    }
    return text.str();
}

}  // namespace

namespace {

// The health check asks GET /_ping through the proxy's own socket, decided like any request;
// judged for the proxy's own user, whom the container's processes usually run as.
bool allows_health_check(const Policy& policy, const Config& config) {
    Client health_check;
    health_check.transport = Client::Transport::unix_socket;
    health_check.uid = config.uid;
    health_check.gid = config.gid;
    return decide(Request{"GET", "/_ping", "docker"}, health_check, policy).allowed();
}

// The listeners a client can arrive on: the default unix socket, the TCP port unless it is off,
// and SOCKET_PROXY_LISTEN's.
std::vector<std::string> configured_listeners(const Config& config) {
    std::vector<std::string> names{std::string(default_unix_listener)};
    if (config.tcp) {
        names.emplace_back(default_tcp_listener);
    }
    for (const NamedListener& listener : config.listeners) {
        names.push_back(listener.name);
    }
    return names;
}

// A rule for a listener that does not exist would never match, and a typo in a name would
// silently take a tool's rules away: refused like any other mistake in the file.
void check_listeners_exist(const Policy& policy, const Config& config) {
    const std::vector<std::string> names = configured_listeners(config);
    for (const Rule& rule : policy.rules) {
        for (const ClientSelector& selector : rule.clients) {
            if (!selector.listener ||
                std::find(names.begin(), names.end(), *selector.listener) != names.end()) {
                continue;
            }
            std::string known;
            for (const std::string& name : names) {
                known += (known.empty() ? "" : ", ") + name;
            }
            throw PolicyError(policy.source + ": rule " + rule.name + " selects listener " +
                              *selector.listener + ", which is not configured (the listeners are " +
                              known +
                              "): add it to SOCKET_PROXY_LISTEN (or --listen), or correct the "
                              "name");
        }
    }
}

std::shared_ptr<const Policy> with_settings(Policy policy, const Config& config) {
    check_listeners_exist(policy, config);
    if (config.redact) {
        policy.redact = *config.redact;
    }
    return std::make_shared<const Policy>(std::move(policy));
}

// A preset is the whole policy: beside a file or a switch one of them would be silently ignored.
std::shared_ptr<const Policy> load_preset(const Config& config, const Environment& environment) {
    if (!config.policy_file.empty()) {
        throw ConfigError("both SOCKET_PROXY_PRESET (" + config.preset +
                          ") and SOCKET_PROXY_POLICY are set: use the preset or the policy file, "
                          "not both");
    }
    if (auto switches = policy_from_switches(environment)) {
        for (const std::string& name : switch_names()) {
            const bool ignored = std::find(switches->ignored.begin(), switches->ignored.end(),
                                           name) != switches->ignored.end();
            if (environment(name) && !ignored) {
                throw ConfigError("both SOCKET_PROXY_PRESET (" + config.preset +
                                  ") and the switch " + name +
                                  " are set: use the preset or the switches, not both");
            }
        }
    }
    const Preset* preset = find_preset(config.preset);
    if (preset == nullptr) {
        throw ConfigError("SOCKET_PROXY_PRESET=\"" + config.preset +
                          "\" is not a preset: use one of " + preset_names() +
                          ", or a policy file (SOCKET_PROXY_POLICY)");
    }
    return with_settings(preset_policy(*preset), config);
}

}  // namespace

LoadedPolicy load_policy(const Config& config, const Environment& environment) {
    LoadedPolicy loaded;
    if (!config.preset.empty()) {
        loaded.policy = load_preset(config, environment);
        return loaded;
    }
    if (!config.policy_file.empty()) {
        // Checked first, so that a switch set beside a policy file is an error, not ignored.
        (void)policy_from_switches([&](std::string_view name) -> std::optional<std::string> {
            if (name == "SOCKET_PROXY_POLICY") {
                return config.policy_file;
            }
            return environment(name);
        });
        loaded.policy = with_settings(
            parse_policy_file(read_policy_file(config.policy_file), config.policy_file), config);
        if (!allows_health_check(*loaded.policy, config)) {
            loaded.warnings.push_back(
                "the policy file " + config.policy_file +
                " refuses GET /_ping to a unix client with uid " + std::to_string(config.uid) +
                ", so `socket-proxy healthcheck` (the image's HEALTHCHECK) will report "
                "unhealthy: add a rule {methods: [GET, HEAD], path: /_ping, action: allow}");
        }
        return loaded;
    }
    if (auto switches = policy_from_switches(environment)) {
        for (const std::string& name : switches->ignored) {
            loaded.warnings.push_back(name +
                                      " is set but not to a boolean (0/1, true/false): "
                                      "it is not read as a switch");
        }
        loaded.policy = with_settings(std::move(switches->policy), config);
        return loaded;
    }
    loaded.policy = with_settings(Policy::read_only(), config);
    return loaded;
}

std::shared_ptr<const Policy> load_audit_policy(const Config& config) {
    if (!config.audit) {
        return nullptr;
    }
    return with_settings(
        parse_policy_file(read_policy_file(config.audit_policy_file), config.audit_policy_file),
        config);
}

}  // namespace socket_proxy
