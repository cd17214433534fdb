#include "policy_file.hpp"

#include "config_error.hpp"
#include "units.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <utility>

namespace socket_proxy {
namespace {

constexpr std::string_view selector_fields =
    "listener, transport, uid, gid, cidr, cert_cn, cert_san, cert_sha256, container, "
    "container_label, compose_service, compose_project";

// Where a node is, for messages: "policy.yaml line 7".
std::string where(std::string_view source, const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    std::string text(source);
    if (mark.line >= 0) {
        text += " line " + std::to_string(mark.line + 1);
    }
    return text;
}

// A mapping's key as text. YAML lets a list or a mapping be a key (`? {a: 1}`), which no field
// of a policy is: refused here, where yaml-cpp's conversion would throw past PolicyError.
std::string key_text(std::string_view source, const YAML::Node& key) {
    if (!key.IsScalar()) {
        throw PolicyError(where(source, key) +
                          ": a key must be a name, not a list, a mapping or null (~)");
    }
    return key.Scalar();
}

class RuleReader {
  public:
    RuleReader(std::string_view source, std::size_t index, const YAML::Node& node)
        : source_(source), index_(index), node_(node) {}

    [[noreturn]] void fail(const YAML::Node& at, std::string_view field,
                           std::string_view problem) const {
        std::string label = "rule " + std::to_string(index_ + 1);
        if (!name_.empty()) {
            label += " (" + name_ + ")";
        }
        throw PolicyError(where(source_, at) + ": " + label + ", field \"" + std::string(field) +
                          "\": " + std::string(problem));
    }

    Rule read() {
        if (!node_.IsMap()) {
            throw PolicyError(where(source_, node_) + ": rule " + std::to_string(index_ + 1) +
                              " is not a mapping of fields (name, methods, path, query, clients, "
                              "action, reason)");
        }
        Rule rule;
        rule.name = read_name();
        name_ = rule.name;
        for (const auto& entry : node_) {
            const std::string key = key_text(source_, entry.first);
            static const std::set<std::string> known{
                "name",   "methods",          "path", "query", "clients", "action", "reason",
                "redact", "container_labels", "body", "owner", "limits"};
            if (!known.contains(key)) {
                fail(entry.first, key,
                     "is not a rule field: use name, methods, path, query, clients, action, "
                     "reason, redact, container_labels, body, owner, limits");
            }
        }
        rule.methods = read_methods();
        rule.path = read_path();
        rule.query = read_query();
        rule.clients = read_clients();
        rule.verdict = read_action();
        if (const YAML::Node reason = node_["reason"]) {
            rule.why = scalar(reason, "reason");
        }
        if (const YAML::Node redact = node_["redact"]) {
            const std::string value = scalar(redact, "redact");
            if (value != "true" && value != "false") {
                fail(redact, "redact", "\"" + value + "\" is neither true nor false");
            }
            rule.redact = value == "true";
        }
        rule.container_labels = read_container_labels(rule.verdict);
        rule.owner = read_owner(rule.verdict);
        rule.body = read_body_limits(rule.verdict);
        rule.limits = read_client_limits(rule.verdict);
        return rule;
    }

  private:
    // A field that takes one value or a list of them: `methods: GET` or `methods: [GET, HEAD]`.
    template <class Add>
    static void each_item(const YAML::Node& node, const Add& add) {
        if (node.IsSequence()) {
            for (const auto& item : node) {
                add(item);
            }
        } else {
            add(node);
        }
    }

    std::string scalar(const YAML::Node& node, std::string_view field) const {
        if (!node.IsScalar()) {
            fail(node, field, "must be a single value");
        }
        return node.Scalar();
    }

    std::string read_name() const {
        const YAML::Node node = node_["name"];
        if (!node) {
            fail(node_, "name",
                 "is missing: every rule needs a name, which decisions are logged with");
        }
        const std::string name = scalar(node, "name");
        const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_';
        });
        if (!valid) {
            fail(node, "name", "\"" + name + "\" is not a name: use letters, digits, '-' and '_'");
        }
        return name;
    }

    std::vector<std::string> read_methods() const {
        const YAML::Node node = node_["methods"];
        if (!node) {
            return {};
        }
        std::vector<std::string> methods;
        const auto add = [&](const YAML::Node& item) {
            const std::string method = scalar(item, "methods");
            const bool token =
                !method.empty() && std::all_of(method.begin(), method.end(),
                                               [](char c) { return c >= 'A' && c <= 'Z'; });
            if (!token) {
                fail(item, "methods",
                     "\"" + method +
                         "\" is not an HTTP method in capitals (the daemon's methods are "
                         "case-sensitive): write GET, HEAD, POST, PUT or DELETE");
            }
            methods.push_back(method);
        };
        if (node.IsSequence() && node.size() == 0) {
            fail(node, "methods",
                 "is an empty list, which no request matches: leave it out for any method");
        }
        each_item(node, add);
        return methods;
    }

    std::optional<PathPattern> read_path() const {
        const YAML::Node node = node_["path"];
        if (!node) {
            return std::nullopt;
        }
        try {
            return PathPattern::parse(scalar(node, "path"));
        } catch (const std::invalid_argument& error) {
            fail(node, "path", error.what());
        }
    }

    std::vector<QueryCondition> read_query() const {
        const YAML::Node node = node_["query"];
        if (!node) {
            return {};
        }
        if (!node.IsMap()) {
            fail(node, "query",
                 "must map parameter names to lists of values, as in {follow: [~, \"0\"]}");
        }
        std::vector<QueryCondition> conditions;
        for (const auto& entry : node) {
            QueryCondition condition;
            condition.name = key_text(source_, entry.first);
            const auto add = [&](const YAML::Node& item) {
                if (item.IsNull()) {
                    condition.values.emplace_back(std::nullopt);
                } else {
                    condition.values.emplace_back(scalar(item, "query"));
                }
            };
            each_item(entry.second, add);
            if (condition.values.empty()) {
                fail(entry.second, "query",
                     "parameter \"" + condition.name +
                         "\" lists no value, which no request matches");
            }
            conditions.push_back(std::move(condition));
        }
        return conditions;
    }

    template <typename Id>
    Id read_id(const YAML::Node& node, std::string_view field) const {
        const std::string text = scalar(node, field);
        Id id{};
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
            fail(node, field, "\"" + text + "\" is not a numeric id");
        }
        return id;
    }

    // A value compared with a certificate's names. An empty one would select certificates
    // without a CN, which is never what a rule means.
    std::string certificate_name(const YAML::Node& node, std::string_view field) const {
        std::string name = scalar(node, field);
        if (name.empty()) {
            fail(node, field, "is empty: write the name the certificate carries");
        }
        return name;
    }

    // Docker's own rule for names ([a-zA-Z0-9][a-zA-Z0-9_.-]*), so that a selector that can never
    // match a container is refused at load rather than silently matching nobody.
    std::string container_name(const YAML::Node& node) const {
        std::string name = scalar(node, "clients.container");
        if (name.starts_with('/')) {
            name.erase(0, 1);
        }
        const auto allowed = [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == '-';
        };
        if (name.empty() || !allowed(name.front()) || name.front() == '_' || name.front() == '.' ||
            name.front() == '-' || !std::ranges::all_of(name, allowed)) {
            fail(node, "clients.container",
                 "\"" + name +
                     "\" is not a container name: Docker's names are letters, digits, _ . and -, "
                     "starting with a letter or digit");
        }
        return name;
    }

    ClientSelector read_selector(const YAML::Node& node) const {
        if (!node.IsMap()) {
            fail(node, "clients", "each selector is a mapping of " + std::string(selector_fields));
        }
        ClientSelector selector;
        for (const auto& entry : node) {
            const std::string key = key_text(source_, entry.first);
            if (key == "listener") {
                selector.listener = scalar(entry.second, "clients.listener");
                if (!is_listener_name(*selector.listener)) {
                    fail(entry.second, "clients.listener",
                         "\"" + *selector.listener +
                             "\" is not a listener name: names are 1 to 32 of a-z, 0-9, _ and -, "
                             "as SOCKET_PROXY_LISTEN gives them");
                }
            } else if (key == "transport") {
                const std::string transport = scalar(entry.second, "clients.transport");
                if (transport == "unix") {
                    selector.transport = Client::Transport::unix_socket;
                } else if (transport == "tcp") {
                    selector.transport = Client::Transport::tcp;
                } else {
                    fail(entry.second, "clients.transport",
                         "\"" + transport + "\" is neither unix nor tcp");
                }
            } else if (key == "uid") {
                selector.uid = read_id<uid_t>(entry.second, "clients.uid");
            } else if (key == "gid") {
                selector.gid = read_id<gid_t>(entry.second, "clients.gid");
            } else if (key == "cidr") {
                const std::string text = scalar(entry.second, "clients.cidr");
                selector.network = IpNetwork::parse(text);
                if (!selector.network) {
                    fail(entry.second, "clients.cidr",
                         "\"" + text +
                             "\" is not a network: write 172.18.0.0/16, 10.0.0.5 or fd00::/8 (no "
                             "host bits below the prefix)");
                }
            } else if (key == "cert_cn") {
                selector.cert_cn = certificate_name(entry.second, "clients.cert_cn");
            } else if (key == "cert_san") {
                selector.cert_san = certificate_name(entry.second, "clients.cert_san");
            } else if (key == "cert_sha256") {
                const std::string text = scalar(entry.second, "clients.cert_sha256");
                selector.cert_sha256 = normalise_sha256_fingerprint(text);
                if (!selector.cert_sha256) {
                    fail(entry.second, "clients.cert_sha256",
                         "\"" + text +
                             "\" is not a SHA-256 fingerprint: write its 64 hex digits, with or "
                             "without a colon between pairs (as openssl x509 -noout -fingerprint "
                             "-sha256 prints after the '=')");
                }
            } else if (key == "container") {
                selector.container = container_name(entry.second);
            } else if (key == "container_label") {
                const std::string text = scalar(entry.second, "clients.container_label");
                std::string problem;
                selector.container_label = LabelSelector::parse(text, problem);
                if (!selector.container_label) {
                    fail(entry.second, "clients.container_label", problem);
                }
            } else if (key == "compose_service" || key == "compose_project") {
                std::string name = scalar(entry.second, "clients." + key);
                if (name.empty()) {
                    fail(entry.second, "clients." + key,
                         "is empty: write the name from the compose file");
                }
                (key == "compose_service" ? selector.compose_service : selector.compose_project) =
                    std::move(name);
            } else {
                fail(entry.first, "clients." + key,
                     "is not a selector field: use " + std::string(selector_fields));
            }
        }
        const bool by_peer = selector.uid || selector.gid;
        if (by_peer && (selector.network || selector.transport == Client::Transport::tcp)) {
            fail(node, "clients",
                 "uid and gid identify unix clients, cidr TCP clients: one selector cannot ask for "
                 "both");
        }
        if (selector.by_certificate() &&
            (by_peer || selector.transport == Client::Transport::unix_socket)) {
            fail(node, "clients",
                 "cert_cn, cert_san and cert_sha256 identify TLS clients, which connect over "
                 "TCP: one selector cannot also ask for uid, gid or transport: unix");
        }
        if (!by_peer && !selector.network && !selector.transport && !selector.by_certificate() &&
            !selector.by_container() && !selector.listener) {
            fail(node, "clients",
                 "an empty selector matches every client: leave clients out instead");
        }
        return selector;
    }

    std::vector<ClientSelector> read_clients() const {
        const YAML::Node node = node_["clients"];
        if (!node) {
            return {};
        }
        std::vector<ClientSelector> selectors;
        each_item(node, [&](const YAML::Node& item) { selectors.push_back(read_selector(item)); });
        return selectors;
    }

    std::vector<LabelSelector> read_container_labels(Verdict verdict) const {
        const YAML::Node node = node_["container_labels"];
        if (!node) {
            return {};
        }
        if (verdict != Verdict::allow) {
            fail(node, "container_labels",
                 "narrows what an allow rule shows; a deny rule shows nothing: remove it or make "
                 "the rule allow");
        }
        std::vector<LabelSelector> selectors;
        const auto add = [&](const YAML::Node& item) {
            std::string problem;
            std::optional<LabelSelector> selector =
                LabelSelector::parse(scalar(item, "container_labels"), problem);
            if (!selector) {
                fail(item, "container_labels", problem);
            }
            selectors.push_back(std::move(*selector));
        };
        each_item(node, add);
        if (selectors.empty()) {
            fail(node, "container_labels",
                 "is an empty list: leave it out to show every container");
        }
        return selectors;
    }

    // A label key: its value is always the client's identity, so the rule names no value.
    std::optional<std::string> read_owner(Verdict verdict) const {
        const YAML::Node node = node_["owner"];
        if (!node) {
            return std::nullopt;
        }
        if (verdict != Verdict::allow) {
            fail(node, "owner",
                 "stamps what an allow rule's clients create; a deny rule creates nothing: remove "
                 "it or make the rule allow");
        }
        const std::string key = scalar(node, "owner");
        std::string problem;
        const std::optional<LabelSelector> label = LabelSelector::parse(key, problem);
        if (!label) {
            fail(node, "owner", problem);
        }
        if (label->value) {
            fail(node, "owner",
                 "\"" + key +
                     "\" has a value: write only the label's key; its value is each client's "
                     "identity");
        }
        return label->key;
    }

    std::optional<WriteLimits> read_body_limits(Verdict verdict) const {
        const YAML::Node node = node_["body"];
        if (!node) {
            return std::nullopt;
        }
        if (verdict != Verdict::allow) {
            fail(node, "body", "sets what an allowed write may ask for: a deny rule allows none");
        }
        if (!node.IsMap()) {
            fail(node, "body",
                 "must be a mapping of limits (privileged, host_namespaces, capabilities, ...)");
        }
        WriteLimits limits;
        const std::span<const WriteLimitSwitch> switches = write_limit_switches();
        const std::pair<std::string_view, std::vector<std::string> WriteLimits::*> lists[] = {
            {"capabilities", &WriteLimits::capabilities},
            {"bind_sources", &WriteLimits::bind_sources},
            {"images", &WriteLimits::images},
            {"secrets", &WriteLimits::secrets},
            {"configs", &WriteLimits::configs},
        };
        for (const auto& entry : node) {
            const std::string key = key_text(source_, entry.first);
            const std::string field = "body." + key;
            const auto flag = std::find_if(switches.begin(), switches.end(),
                                           [&](const auto& item) { return item.name == key; });
            const auto list = std::find_if(std::begin(lists), std::end(lists),
                                           [&](const auto& item) { return item.first == key; });
            if (flag != switches.end()) {
                const std::string value = scalar(entry.second, field);
                if (value != "true" && value != "false") {
                    fail(entry.second, field, "\"" + value + "\" is neither true nor false");
                }
                limits.*(flag->member) = value == "true";
            } else if (list != std::end(lists)) {
                limits.*(list->second) = read_body_list(entry.second, field, key);
                if (key == "bind_sources") {
                    if (const auto problem = bind_sources_problem(limits.bind_sources)) {
                        fail(entry.second, field, *problem);
                    }
                }
            } else if (key == "max_size") {
                try {
                    limits.max_body_bytes = parse_size(field, scalar(entry.second, field));
                } catch (const ConfigError& error) {
                    fail(entry.second, field, error.what());
                }
            } else {
                fail(entry.first, field,
                     "is not a body limit: use privileged, host_namespaces, capabilities, "
                     "devices, unconfined, bind_sources, volumes_from, links, exec_root, images, "
                     "remote_build, image_import, plugin_privileges, remote_mounts, "
                     "libpod_writes, secrets, configs, max_size");
            }
        }
        return limits;
    }

    // A positive number no larger than `most`; whole when `whole`.
    double limit_number(const YAML::Node& node, const std::string& field, double most,
                        bool whole) const {
        const std::string text = scalar(node, field);
        double value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        const bool number = !text.empty() && error == std::errc{} &&
                            end == text.data() + text.size() && std::isfinite(value);
        if (!number || value <= 0 || value > most || (whole && value != std::floor(value))) {
            fail(node, field,
                 "\"" + text + "\" is not " + (whole ? "a whole number" : "a number") +
                     " above 0 and at most " + std::to_string(static_cast<std::size_t>(most)));
        }
        return value;
    }

    std::optional<ClientLimits> read_client_limits(Verdict verdict) const {
        const YAML::Node node = node_["limits"];
        if (!node) {
            return std::nullopt;
        }
        if (verdict != Verdict::allow) {
            fail(node, "limits",
                 "limits what an allow rule lets each client use: a deny rule "
                 "lets nothing through to limit");
        }
        if (!node.IsMap() || node.size() == 0) {
            fail(node, "limits",
                 "must be a mapping of requests_per_second, burst, concurrent, streams");
        }
        ClientLimits limits;
        const auto in_flight = [&](const YAML::Node& value, const std::string& field) {
            return static_cast<std::size_t>(
                limit_number(value, field, static_cast<double>(max_in_flight_limit), true));
        };
        for (const auto& entry : node) {
            const std::string key = key_text(source_, entry.first);
            const std::string field = "limits." + key;
            if (key == "requests_per_second") {
                limits.requests_per_second =
                    limit_number(entry.second, field, max_requests_per_second, false);
            } else if (key == "burst") {
                limits.burst = limit_number(entry.second, field, max_requests_per_second, true);
            } else if (key == "concurrent") {
                limits.concurrent = in_flight(entry.second, field);
            } else if (key == "streams") {
                limits.streams = in_flight(entry.second, field);
            } else {
                fail(entry.first, field,
                     "is not a limit: use requests_per_second, burst, concurrent, streams");
            }
        }
        if (limits.burst && !limits.requests_per_second) {
            fail(node, "limits.burst",
                 "sizes the requests_per_second bucket: set requests_per_second too");
        }
        if (limits.streams && limits.concurrent && *limits.streams > *limits.concurrent) {
            fail(node, "limits.streams",
                 "streams count as concurrent requests too: streams cannot be more than "
                 "concurrent");
        }
        return limits;
    }

    std::vector<std::string> read_body_list(const YAML::Node& node, const std::string& field,
                                            std::string_view key) const {
        std::vector<std::string> items;
        const auto add = [&](const YAML::Node& item) {
            std::string value = scalar(item, field);
            if (key == "capabilities") {
                value = capability_name(value);
            } else if (key == "bind_sources" && (value.empty() || value.front() != '/')) {
                fail(item, field, "\"" + value + "\" is not an absolute host path");
            } else if (value.empty()) {
                fail(item, field, "has an empty entry");
            }
            items.push_back(std::move(value));
        };
        each_item(node, add);
        return items;
    }

    Verdict read_action() const {
        const YAML::Node node = node_["action"];
        if (!node) {
            fail(node_, "action", "is missing: say allow or deny");
        }
        const std::string action = scalar(node, "action");
        if (action == "allow") {
            return Verdict::allow;
        }
        if (action == "deny") {
            return Verdict::deny;
        }
        fail(node, "action", "\"" + action + "\" is neither allow nor deny");
    }

    std::string_view source_;
    std::size_t index_;
    const YAML::Node& node_;
    std::string name_;
};

}  // namespace

Policy parse_policy_file(std::string_view text, std::string_view source) {
    YAML::Node document;
    try {
        document = YAML::Load(std::string(text));
    } catch (const YAML::Exception& error) {
        throw PolicyError(std::string(source) + " line " + std::to_string(error.mark.line + 1) +
                          ": not valid YAML: " + error.msg);
    }
    if (!document.IsMap()) {
        throw PolicyError(std::string(source) +
                          ": a policy is a mapping with \"rules\" (and optionally \"default\")");
    }
    for (const auto& entry : document) {
        const std::string key = key_text(source, entry.first);
        if (key != "rules" && key != "default" && key != "redact") {
            throw PolicyError(where(source, entry.first) + ": \"" + key +
                              "\" is not a policy field: use rules, default and redact");
        }
    }
    Policy policy;
    policy.source = std::string(source);
    if (const YAML::Node fallback = document["default"]) {
        const std::string verdict = fallback.IsScalar() ? fallback.Scalar() : "";
        if (verdict != "allow" && verdict != "deny") {
            throw PolicyError(where(source, fallback) + ": default must be allow or deny");
        }
        policy.default_verdict = verdict == "allow" ? Verdict::allow : Verdict::deny;
    }
    if (const YAML::Node redact = document["redact"]) {
        const std::string value = redact.IsScalar() ? redact.Scalar() : "";
        if (value != "true" && value != "false") {
            throw PolicyError(where(source, redact) + ": redact must be true or false");
        }
        policy.redact = value == "true";
    }
    const YAML::Node rules = document["rules"];
    if (!rules || !rules.IsSequence() || rules.size() == 0) {
        throw PolicyError(std::string(source) + ": \"rules\" must be a non-empty list of rules");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const YAML::Node node = rules[i];
        Rule rule = RuleReader(source, i, node).read();
        if (!names.insert(rule.name).second) {
            throw PolicyError(where(source, node) + ": rule " + std::to_string(i + 1) + " (" +
                              rule.name +
                              "), field \"name\": another rule has that name; decisions are logged "
                              "by name, so make it unique");
        }
        policy.rules.push_back(std::move(rule));
    }
    return policy;
}

}  // namespace socket_proxy
