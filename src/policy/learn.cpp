#include "learn.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <set>
#include <sstream>

#include "policy.hpp"
#include "route_template.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

// Image, plugin and distribution names may contain slashes: one pattern segment for all.
bool names_may_have_slashes(std::string_view pattern) {
    return pattern.starts_with("/images/") || pattern.starts_with("/plugins/") ||
           pattern.starts_with("/distribution/");
}

std::string rule_name(std::string_view pattern) {
    std::string name;
    for (const char c : pattern) {
        const bool word =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (word) {
            name += c;
        } else if (!name.empty() && name.back() != '-') {
            name += '-';
        }
    }
    while (!name.empty() && name.back() == '-') {
        name.pop_back();
    }
    return name.empty() ? "root" : name;
}

std::string_view string_field(const json::object& line, std::string_view key) {
    const json::value* value = line.if_contains(json::string_view(key.data(), key.size()));
    return value && value->is_string()
               ? std::string_view(value->get_string().data(), value->get_string().size())
               : std::string_view();
}

// Who sent a request, as far as a rule can select it: the request log's `client` field, read
// from the right because describe_client() appends `,listener=` and `,container=` last and
// neither name holds a comma. A certificate wins over a container, a container over a listener
// alone (the finest identity the log shows); the listener is kept beside either, as the
// client had to come through it. Empty: no identity a rule can name (uid, address).
struct LearnedClient {
    std::string listener;
    std::string certificate_selector;  // "cert_cn" or "cert_sha256"
    std::string certificate;           // as the log escapes it: \xNN, valid in YAML quotes
    std::string container;

    auto operator<=>(const LearnedClient&) const = default;
};

std::string_view cut_last_field(std::string_view& who, std::string_view key) {
    const std::size_t at = who.rfind(key);
    if (at == std::string_view::npos) {
        return {};
    }
    const std::string_view value = who.substr(at + key.size());
    who = who.substr(0, at);
    return value;
}

LearnedClient learned_client(std::string_view who) {
    LearnedClient client;
    client.container = std::string(cut_last_field(who, ",container="));
    client.listener = std::string(cut_last_field(who, ",listener="));
    if (who.starts_with("tls:")) {
        cut_last_field(who, ",address=");
        if (who.starts_with("tls:cn=")) {
            client.certificate_selector = "cert_cn";
            client.certificate = std::string(who.substr(7));
        } else if (who.starts_with("tls:sha256=")) {
            client.certificate_selector = "cert_sha256";
            client.certificate = std::string(who.substr(11));
        }
        client.container.clear();
    }
    return client;
}

// The YAML double-quoted form of a name the log escaped: its \xNN escapes mean the same there.
std::string yaml_quoted(std::string_view text) {
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') {
            quoted += '\\';
        }
        quoted += c;
    }
    return quoted + '"';
}

// The `clients:` of the rules learned for this client; empty for clients without an identity.
std::string clients_field(const LearnedClient& client) {
    std::string fields;
    const auto add = [&fields](std::string_view key, const std::string& value) {
        fields += (fields.empty() ? "" : ", ") + std::string(key) + ": " + yaml_quoted(value);
    };
    if (!client.listener.empty()) {
        add("listener", client.listener);
    }
    if (!client.certificate.empty()) {
        add(client.certificate_selector, client.certificate);
    } else if (!client.container.empty()) {
        add("container", client.container);
    }
    return fields.empty() ? "" : "clients: [{" + fields + "}], ";
}

// What a learned rule's name starts with for this client: its most specific name.
std::string client_prefix(const LearnedClient& client) {
    if (!client.certificate.empty()) {
        return client.certificate_selector == "cert_cn" ? client.certificate + "-"
                                                        : client.certificate.substr(0, 12) + "-";
    }
    if (!client.container.empty()) {
        return client.container + "-";
    }
    return client.listener.empty() ? "" : client.listener + "-";
}

// The reason a path deny rule of the built-in read-only policy gives for this method and route
// (an export, an archive, a secret), or empty. Its method rule ("only GET and HEAD") is not one.
std::string built_in_block(std::string_view method, std::string_view route) {
    static const Policy built_in = Policy::read_only();
    for (const Rule& rule : built_in.rules) {
        const bool method_matches =
            rule.methods.empty() ||
            std::find(rule.methods.begin(), rule.methods.end(), method) != rule.methods.end();
        if (rule.verdict == Verdict::deny && rule.path && method_matches &&
            rule.path->matches(route)) {
            return rule.why;
        }
    }
    return {};
}

}  // namespace

std::string learned_path_pattern(std::string_view route_path) {
    std::string pattern = route_template(route_path);
    if (pattern.empty() || pattern.front() != '/') {
        return {};  // "other" and "invalid"
    }
    if (names_may_have_slashes(pattern)) {
        if (const std::size_t id = pattern.find("{id}"); id != std::string::npos) {
            pattern.replace(id, 4, "{name...}");
        }
    }
    return pattern;
}

namespace {

// What the log shows for one method on one pattern.
struct Seen {
    std::size_t allowed = 0;
    std::size_t refused = 0;
    std::string blocked_by;  // why the built-in policy refuses this route, if it does
};

// By pattern, then method: a rule allows a method on a pattern, so that is what each refusal
// and each block is counted against.
using SeenRoutes = std::map<std::string, std::map<std::string, Seen>>;
// By client first: each client with an identity gets only the routes it used.
using SeenByClient = std::map<LearnedClient, SeenRoutes>;

// Reads the log's request lines into `learned`'s counts and what each route saw.
SeenByClient count_requests(std::string_view log, LearnedPolicy& learned) {
    SeenByClient seen;
    std::istringstream lines{std::string(log)};
    std::string line;
    while (std::getline(lines, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        json::error_code error;
        const json::value parsed = json::parse(line, error);
        if (error || !parsed.is_object()) {
            ++learned.unreadable;
            continue;
        }
        const json::object& entry = parsed.get_object();
        if (string_field(entry, "event") != "request") {
            ++learned.other_lines;
            continue;
        }
        ++learned.requests;
        const std::string_view method = string_field(entry, "method");
        const std::string_view route = string_field(entry, "route");
        const std::string pattern = learned_path_pattern(route);
        if (pattern == "/_ping") {
            continue;  // the ping rule every learned policy starts with allows it
        }
        if (pattern.empty() || method_label(method) == "other") {
            ++learned.outside_api;
            continue;
        }
        Seen& counts =
            seen[learned_client(string_field(entry, "client"))][pattern][std::string(method)];
        if (string_field(entry, "decision") == "allow") {
            ++learned.allowed_seen;
            ++counts.allowed;
        } else {
            ++counts.refused;
        }
        if (counts.blocked_by.empty()) {
            counts.blocked_by = built_in_block(method, route);
        }
    }
    return seen;
}

// One rule per pattern with the methods it was allowed; each method left out becomes a
// commented-out rule in `left_out`, with the reason.
std::string pattern_rule(const std::string& name, const std::string& clients,
                         const std::string& pattern, const std::map<std::string, Seen>& by_method,
                         std::string& left_out) {
    std::string allowed_methods;
    for (const auto& [method, counts] : by_method) {
        const std::string rule = "{name: " + name + ", " + clients + "methods: [" + method +
                                 "], path: \"" + pattern + "\", action: allow}";
        if (!counts.blocked_by.empty()) {
            left_out += "  # - " + rule +
                        "\n  #   the built-in policy blocks it: " + counts.blocked_by + "\n";
        } else if (counts.refused > 0) {
            left_out += "  # - " + rule + "\n  #   refused when logged (" +
                        std::to_string(counts.refused) + " of " +
                        std::to_string(counts.refused + counts.allowed) + " requests)\n";
        } else {
            allowed_methods += (allowed_methods.empty() ? "" : ", ") + method;
        }
    }
    if (allowed_methods.empty()) {
        return {};
    }
    return "  - {name: " + name + ", " + clients + "methods: [" + allowed_methods + "], path: \"" +
           pattern + "\", action: allow}\n";
}

std::string policy_yaml(const SeenByClient& seen, std::string_view source, std::size_t requests) {
    std::string yaml =
        "# Learned by `socket-proxy learn` from " + std::string(source) + ", " +
        std::to_string(requests) +
        " requests.\n# Review it: every route below was asked for and allowed, "
        "nothing else is allowed, and\n# writes keep the safe body limits (docs/policy.md: "
        "Writes that cannot become root).\n"
        "default: deny\nrules:\n"
        "  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}"
        "  # the image's health check\n";
    std::string left_out;
    std::set<std::string> names{"ping"};
    for (const auto& [client, routes] : seen) {
        const std::string clients = clients_field(client);
        for (const auto& [pattern, by_method] : routes) {
            const std::string base = rule_name(client_prefix(client) + pattern);
            std::string name = base;
            for (int suffix = 2; names.contains(name); ++suffix) {
                name = base + "-" + std::to_string(suffix);
            }
            names.insert(name);
            yaml += pattern_rule(name, clients, pattern, by_method, left_out);
        }
    }
    if (!left_out.empty()) {
        yaml +=
            "  # Left out, for the reason under each: a refusal is not a permission, and a\n"
            "  # client active while learning must not be able to plant one. To learn writes,\n"
            "  # run the proxy under a policy that allows them while it learns.\n" +
            left_out;
    }
    return yaml;
}

}  // namespace

LearnedPolicy learn_policy(std::string_view log, std::string_view source) {
    LearnedPolicy learned;
    const SeenByClient seen = count_requests(log, learned);
    if (!seen.empty()) {
        learned.yaml = policy_yaml(seen, source, learned.requests);
    }
    return learned;
}

}  // namespace socket_proxy
