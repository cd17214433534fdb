#include "policy_switches.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace socket_proxy {
namespace {

struct Section {
    std::string_view variable;
    std::string_view path;  // a PathPattern on the normalised route
    bool on_by_default;
    // GET and HEAD even with POST=1: the proxy does not check libpod write bodies (a privileged
    // container in /libpod/containers/create), so only a policy file opens those writes.
    bool reads_only = false;
};

// Tecnativa's list, each a route tree instead of a regular-expression prefix: /containers/**
// does not also match /containersfoo, nor /anything/containers.
constexpr std::array sections{
    Section{"AUTH", "/auth", false},
    Section{"BUILD", "/build/**", false},
    Section{"COMMIT", "/commit", false},
    Section{"CONFIGS", "/configs/**", false},
    Section{"CONTAINERS", "/containers/**", false},
    Section{"DISTRIBUTION", "/distribution/**", false},
    Section{"EVENTS", "/events", true},
    Section{"EXEC", "/exec/**", false},
    Section{"GRPC", "/grpc", false},
    Section{"IMAGES", "/images/**", false},
    Section{"INFO", "/info", false},
    Section{"NETWORKS", "/networks/**", false},
    Section{"NODES", "/nodes/**", false},
    Section{"PING", "/_ping", true},
    Section{"PLUGINS", "/plugins/**", false},
    Section{"SECRETS", "/secrets/**", false},
    Section{"SERVICES", "/services/**", false},
    Section{"SESSION", "/session", false},
    Section{"SWARM", "/swarm/**", false},
    Section{"SYSTEM", "/system/**", false},
    Section{"TASKS", "/tasks/**", false},
    Section{"VERSION", "/version", true},
    Section{"VOLUMES", "/volumes/**", false},
    // The LinuxServer fork's LIBPOD_* sections, for Podman's /v{version}/libpod/ API; PING and
    // VERSION on by default there too.
    Section{"LIBPOD_CONTAINERS", "/libpod/containers/**", false, true},
    Section{"LIBPOD_EVENTS", "/libpod/events", false, true},
    Section{"LIBPOD_EXEC", "/libpod/exec/**", false, true},
    Section{"LIBPOD_GENERATE", "/libpod/generate/**", false, true},
    Section{"LIBPOD_IMAGES", "/libpod/images/**", false, true},
    Section{"LIBPOD_INFO", "/libpod/info", false, true},
    Section{"LIBPOD_MANIFESTS", "/libpod/manifests/**", false, true},
    Section{"LIBPOD_NETWORKS", "/libpod/networks/**", false, true},
    Section{"LIBPOD_PING", "/libpod/_ping", true, true},
    Section{"LIBPOD_PLAY", "/libpod/play/**", false, true},
    Section{"LIBPOD_PODS", "/libpod/pods/**", false, true},
    Section{"LIBPOD_SECRETS", "/libpod/secrets/**", false, true},
    Section{"LIBPOD_SYSTEM", "/libpod/system/**", false, true},
    Section{"LIBPOD_VERSION", "/libpod/version", true, true},
    Section{"LIBPOD_VOLUMES", "/libpod/volumes/**", false, true},
};

// The read-only policy's deny rules that a section exists to lift: SECRETS=1 is asked for
// precisely to read /secrets.
constexpr std::array<std::string_view, 5> lifted_by_section{
    "deny-secrets", "deny-configs", "deny-libpod-secrets", "deny-libpod-generate-kube",
    "deny-libpod-generate-systemd"};

constexpr std::array<std::string_view, 15> method_switches{"POST",
                                                           "DELETE",
                                                           "ALLOW_START",
                                                           "ALLOW_STOP",
                                                           "ALLOW_RESTARTS",
                                                           "LIBPOD_ALLOW_START",
                                                           "LIBPOD_ALLOW_STOP",
                                                           "LIBPOD_ALLOW_RESTARTS",
                                                           "LIBPOD_ALLOW_PAUSE",
                                                           "LIBPOD_ALLOW_UNPAUSE",
                                                           "LIBPOD_ALLOW_POD_START",
                                                           "LIBPOD_ALLOW_POD_STOP",
                                                           "LIBPOD_ALLOW_POD_RESTARTS",
                                                           "LIBPOD_ALLOW_POD_PAUSE",
                                                           "LIBPOD_ALLOW_POD_UNPAUSE"};

// The LinuxServer fork's libpod actions, each a POST without a body on one container or pod.
struct Action {
    std::string_view variable;
    std::string_view path;
};
constexpr std::array libpod_actions{
    Action{"LIBPOD_ALLOW_START", "/libpod/containers/{name}/start"},
    Action{"LIBPOD_ALLOW_STOP", "/libpod/containers/{name}/stop"},
    Action{"LIBPOD_ALLOW_RESTARTS", "/libpod/containers/{name}/stop"},
    Action{"LIBPOD_ALLOW_RESTARTS", "/libpod/containers/{name}/restart"},
    Action{"LIBPOD_ALLOW_RESTARTS", "/libpod/containers/{name}/kill"},
    Action{"LIBPOD_ALLOW_PAUSE", "/libpod/containers/{name}/pause"},
    Action{"LIBPOD_ALLOW_UNPAUSE", "/libpod/containers/{name}/unpause"},
    Action{"LIBPOD_ALLOW_POD_START", "/libpod/pods/{name}/start"},
    Action{"LIBPOD_ALLOW_POD_STOP", "/libpod/pods/{name}/stop"},
    Action{"LIBPOD_ALLOW_POD_RESTARTS", "/libpod/pods/{name}/stop"},
    Action{"LIBPOD_ALLOW_POD_RESTARTS", "/libpod/pods/{name}/restart"},
    Action{"LIBPOD_ALLOW_POD_RESTARTS", "/libpod/pods/{name}/kill"},
    Action{"LIBPOD_ALLOW_POD_PAUSE", "/libpod/pods/{name}/pause"},
    Action{"LIBPOD_ALLOW_POD_UNPAUSE", "/libpod/pods/{name}/unpause"},
};

std::optional<bool> as_boolean(std::string_view value) {
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") {
        return true;
    }
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") {
        return false;
    }
    return std::nullopt;
}

Rule make_rule(std::string name, std::vector<std::string> methods, std::string_view path,
               Verdict verdict, std::string why = {}) {
    Rule rule;
    rule.name = std::move(name);
    rule.methods = std::move(methods);
    if (!path.empty()) {
        rule.path = PathPattern::parse(path);
    }
    rule.verdict = verdict;
    rule.why = std::move(why);
    return rule;
}

// The switches the environment sets to a boolean, in the order of switch_names().
struct SwitchValues {
    std::vector<std::pair<std::string, bool>> set;

    [[nodiscard]] bool is_on(std::string_view name, bool fallback) const {
        for (const auto& [variable, flag] : set) {
            if (variable == name) {
                return flag;
            }
        }
        return fallback;
    }
    [[nodiscard]] bool explicitly_off(std::string_view name) const {
        return std::any_of(set.begin(), set.end(),
                           [&](const auto& entry) { return entry.first == name && !entry.second; });
    }
};

// Stricter than Tecnativa: these reads leak files or secrets even where the section is on
// (CONTAINERS=1 there also hands out /containers/{id}/export). A policy file can allow them.
void add_read_only_denials(Policy& policy) {
    const Policy read_only = Policy::read_only();
    for (const Rule& rule : read_only.rules) {
        const bool section_rule = std::find(lifted_by_section.begin(), lifted_by_section.end(),
                                            rule.name) != lifted_by_section.end();
        if (rule.verdict == Verdict::deny && rule.path && !section_rule) {
            policy.rules.push_back(rule);
        }
    }
}

// Tecnativa checks POST first, so these only act with POST=1; the same here.
void add_write_rules(Policy& policy, const SwitchValues& values) {
    if (values.explicitly_off("DELETE")) {
        policy.rules.push_back(make_rule("switch-DELETE", {"DELETE"}, "", Verdict::deny,
                                         "DELETE=0: nothing may be deleted"));
    }
    if (values.is_on("ALLOW_RESTARTS", false)) {
        for (const std::string_view action : {"stop", "restart", "kill"}) {
            policy.rules.push_back(make_rule("switch-ALLOW_RESTARTS", {"POST"},
                                             "/containers/{id...}/" + std::string(action),
                                             Verdict::allow));
        }
    }
    if (values.is_on("ALLOW_START", false)) {
        policy.rules.push_back(
            make_rule("switch-ALLOW_START", {"POST"}, "/containers/{id...}/start", Verdict::allow));
    }
    if (values.is_on("ALLOW_STOP", false)) {
        policy.rules.push_back(
            make_rule("switch-ALLOW_STOP", {"POST"}, "/containers/{id...}/stop", Verdict::allow));
    }
    for (const Action& action : libpod_actions) {
        if (values.is_on(action.variable, false)) {
            policy.rules.push_back(make_rule("switch-" + std::string(action.variable), {"POST"},
                                             action.path, Verdict::allow));
        }
    }
}

// POST=0 is GET and HEAD only (HAProxy's METH_GET is both); POST=1 is any method.
void add_section_rules(Policy& policy, const SwitchValues& values, bool writes) {
    const std::vector<std::string> reads{"GET", "HEAD"};
    const std::vector<std::string> section_methods = writes ? std::vector<std::string>{} : reads;
    for (const Section& section : sections) {
        if (values.is_on(section.variable, section.on_by_default)) {
            policy.rules.push_back(make_rule("switch-" + std::string(section.variable),
                                             section.reads_only ? reads : section_methods,
                                             section.path, Verdict::allow));
        }
    }
    if (!writes) {
        Rule read_only_methods = make_rule("switch-POST", {}, "", Verdict::deny,
                                           "POST=0: only GET and HEAD are allowed");
        read_only_methods.methods = {"POST", "PUT", "DELETE", "PATCH"};
        policy.rules.push_back(std::move(read_only_methods));
    }
}

}  // namespace

const std::vector<std::string>& switch_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> all;
        for (const Section& section : sections) {
            all.emplace_back(section.variable);
        }
        for (const std::string_view name : method_switches) {
            all.emplace_back(name);
        }
        return all;
    }();
    return names;
}

std::optional<SwitchPolicy> policy_from_switches(const Environment& environment) {
    SwitchPolicy result;
    SwitchValues values;
    for (const std::string& name : switch_names()) {
        if (const auto value = environment(name)) {
            if (const auto flag = as_boolean(*value)) {
                values.set.emplace_back(name, *flag);
            } else {
                result.ignored.push_back(name);
            }
        }
    }
    if (values.set.empty()) {
        return std::nullopt;
    }
    if (const auto file = environment("SOCKET_PROXY_POLICY"); file && !file->empty()) {
        throw ConfigError("both SOCKET_PROXY_POLICY and the switch " + values.set.front().first +
                          " are set: use the policy file or the switches, not both");
    }
    Policy& policy = result.policy;
    policy.source = "Tecnativa-style switches";
    add_read_only_denials(policy);
    const bool writes = values.is_on("POST", false);
    if (writes) {
        add_write_rules(policy, values);
    }
    add_section_rules(policy, values, writes);
    policy.default_verdict = Verdict::deny;
    return result;
}

}  // namespace socket_proxy
