#include "commands.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "client_key.hpp"
#include "learn.hpp"
#include "policy_file.hpp"
#include "policy_source.hpp"
#include "redact.hpp"
#include "stream_routes.hpp"

namespace socket_proxy {
namespace {

constexpr int exit_invalid = 2;

bool load(const CommandLine& command_line, const Environment& environment, LoadedPolicy& loaded) {
    try {
        loaded = load_policy(command_line.config, environment);
    } catch (const PolicyError& error) {
        std::fprintf(stderr, "socket-proxy: %s\n", error.what());
        return false;
    } catch (const ConfigError& error) {
        std::fprintf(stderr, "socket-proxy: %s\n", error.what());
        return false;
    }
    for (const std::string& warning : loaded.warnings) {
        std::fprintf(stderr, "socket-proxy: warning: %s\n", warning.c_str());
    }
    return true;
}

using KeyValueItems = std::vector<std::pair<std::string_view, std::string_view>>;

// "key=value,key=value", each item split at its first '='; nullopt when an item has no '=' or
// nothing after it.
std::optional<KeyValueItems> key_value_items(std::string_view text) {
    KeyValueItems items;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const std::size_t equals = item.find('=');
        if (equals == std::string_view::npos || equals + 1 == item.size()) {
            return std::nullopt;
        }
        items.emplace_back(item.substr(0, equals), item.substr(equals + 1));
    }
    return items;
}

// "tls:cn=NAME,san=VALUE,sha256=HEX,address=IP": a TLS client whose certificate the CA
// verified, with those names; san repeats, a value with ':' is a URI SAN, others DNS SANs.
std::optional<Client> parse_tls_client(std::string_view rest) {
    Client client;
    client.transport = Client::Transport::tcp;
    PeerCertificate& certificate = client.certificate.emplace();
    bool named = false;
    const std::optional<KeyValueItems> items = key_value_items(rest);
    if (!items) {
        return std::nullopt;
    }
    for (const auto& [key, value_text] : *items) {
        const std::string value(value_text);
        if (key == "cn" && certificate.common_name.empty()) {
            certificate.common_name = value;
        } else if (key == "san") {
            (value.find(':') == std::string::npos ? certificate.dns_names : certificate.uris)
                .push_back(value);
        } else if (key == "sha256" && certificate.sha256.empty()) {
            const auto fingerprint = normalise_sha256_fingerprint(value);
            if (!fingerprint) {
                return std::nullopt;
            }
            certificate.sha256 = *fingerprint;
        } else if (key == "address" && !client.ip) {
            client.ip = IpAddress::parse(value);
            client.address = value;
            if (!client.ip) {
                return std::nullopt;
            }
        } else {
            return std::nullopt;
        }
        named = named || key != "address";
    }
    return named ? std::optional(client) : std::nullopt;
}

// "container:NAME,label=KEY=VALUE,service=S,project=P,address=IP": a client in the container
// NAME carrying those labels (service and project: Compose's); over TCP from IP, else unix.
std::optional<Client> parse_container_client(std::string_view rest) {
    Client client;
    auto container = std::make_shared<CallerContainer>();
    const std::size_t first_comma = rest.find(',');
    container->name = std::string(rest.substr(0, first_comma));
    rest =
        first_comma == std::string_view::npos ? std::string_view{} : rest.substr(first_comma + 1);
    const std::optional<KeyValueItems> items = key_value_items(rest);
    if (container->name.empty() || !items) {
        return std::nullopt;
    }
    for (const auto& [key, value] : *items) {
        if (key == "label") {
            const std::size_t label_equals = value.find('=');
            container->labels[std::string(value.substr(0, label_equals))] =
                label_equals == std::string_view::npos
                    ? ""
                    : std::string(value.substr(label_equals + 1));
        } else if (key == "service") {
            container->labels[std::string(compose_service_label)] = std::string(value);
        } else if (key == "project") {
            container->labels[std::string(compose_project_label)] = std::string(value);
        } else if (key == "address" && !client.ip) {
            client.transport = Client::Transport::tcp;
            client.ip = IpAddress::parse(value);
            client.address = std::string(value);
            if (!client.ip) {
                return std::nullopt;
            }
        } else {
            return std::nullopt;
        }
    }
    client.container = std::move(container);
    return client;
}

// The transport of a configured listener; nullopt for a name the configuration does not give.
std::optional<Client::Transport> listener_transport(std::string_view name, const Config& config) {
    if (name == default_unix_listener) {
        return Client::Transport::unix_socket;
    }
    if (name == default_tcp_listener && config.tcp) {
        return Client::Transport::tcp;
    }
    for (const NamedListener& listener : config.listeners) {
        if (listener.name == name) {
            return listener.tcp ? Client::Transport::tcp : Client::Transport::unix_socket;
        }
    }
    return std::nullopt;
}

// Takes a ",listener=NAME" item out of a client spec ("unix:uid=0,listener=traefik"), so that the
// form's own parser sees the rest; nullopt when there is none.
std::optional<std::string> take_listener_item(std::string& spec) {
    const std::size_t colon = spec.find(':');
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    std::string kept = spec.substr(0, colon + 1);
    std::optional<std::string> listener;
    std::string_view rest = std::string_view(spec).substr(colon + 1);
    bool first = true;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.starts_with("listener=") && !listener) {
            listener = std::string(item.substr(9));
            continue;
        }
        kept += (first ? "" : ",") + std::string(item);
        first = false;
    }
    spec = kept;
    return listener;
}

// "unix:uid=1000,gid=1000,pid=7", "tcp:172.18.0.5", "tcp:[::1]", "tls:cn=ci"; empty: a unix
// client with the proxy's own uid and gid (what a consumer sharing its user looks like).
std::optional<Client> parse_peer(const std::string& spec, const Config& config) {
    Client client;
    if (spec.empty()) {
        client.uid = config.uid;
        client.gid = config.gid;
        return client;
    }
    if (spec.starts_with("tcp:")) {
        client.transport = Client::Transport::tcp;
        client.ip = IpAddress::parse(spec.substr(4));
        client.address = spec.substr(4);
        return client.ip ? std::optional(client) : std::nullopt;
    }
    if (spec.starts_with("tls:")) {
        return parse_tls_client(std::string_view(spec).substr(4));
    }
    if (spec.starts_with("container:")) {
        return parse_container_client(std::string_view(spec).substr(10));
    }
    if (spec.starts_with("listener:")) {
        // The client a listener gets when nothing else is said: a unix client with the proxy's
        // uid and gid, or a TCP client from loopback.
        const auto transport = listener_transport(std::string_view(spec).substr(9), config);
        if (transport == Client::Transport::tcp) {
            client.transport = Client::Transport::tcp;
            client.ip = IpAddress::parse("127.0.0.1");
            client.address = "127.0.0.1";
        } else {
            client.uid = config.uid;
            client.gid = config.gid;
        }
        return client;
    }
    if (!spec.starts_with("unix")) {
        return std::nullopt;
    }
    std::string_view rest = std::string_view(spec).substr(4);
    if (rest.starts_with(':')) {
        rest.remove_prefix(1);
    }
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        const std::size_t equals = item.find('=');
        if (equals == std::string_view::npos) {
            return std::nullopt;
        }
        const std::string key(item.substr(0, equals));
        const std::string value(item.substr(equals + 1));
        char* end = nullptr;
        const unsigned long number = std::strtoul(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') {
            return std::nullopt;
        }
        if (key == "uid") {
            client.uid = static_cast<uid_t>(number);
        } else if (key == "gid") {
            client.gid = static_cast<gid_t>(number);
        } else if (key == "pid") {
            client.pid = static_cast<pid_t>(number);
        } else {
            return std::nullopt;
        }
    }
    return client;
}

}  // namespace

ExplainClient parse_explain_client(std::string spec, const Config& config) {
    std::optional<std::string> named = take_listener_item(spec);
    if (spec.starts_with("listener:")) {
        if (named) {
            return {};
        }
        named = spec.substr(9);
    }
    if (named && !is_listener_name(*named)) {
        return {};
    }
    ExplainClient parsed{parse_peer(spec, config), {}};
    if (!parsed.client) {
        return parsed;
    }
    Client& client = *parsed.client;
    const std::string listener =
        named ? *named
              : std::string(client.transport == Client::Transport::tcp ? default_tcp_listener
                                                                       : default_unix_listener);
    client.listener = listener;
    const auto transport = listener_transport(listener, config);
    if (!transport) {
        parsed.listener_problem = "listener " + listener +
                                  " is not configured: add it with --listen (or "
                                  "SOCKET_PROXY_LISTEN), as the proxy would have it";
    } else if (*transport != client.transport) {
        parsed.listener_problem = "listener " + listener + " is a " +
                                  (*transport == Client::Transport::tcp ? "TCP" : "unix") +
                                  " listener, and the client is not: give a client of its kind";
    }
    return parsed;
}

namespace {

// Which listeners the policy's rules name, for `check`: each with its socket and its rules.
void print_listeners_named(const Policy& policy, const Config& config) {
    struct Named {
        std::string name;
        std::string rules;  // "1, 3"
        std::size_t last_rule = 0;
    };
    std::vector<Named> named;
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        for (const ClientSelector& selector : policy.rules[i].clients) {
            if (!selector.listener) {
                continue;
            }
            auto found = std::ranges::find(named, *selector.listener, &Named::name);
            if (found == named.end()) {
                found = named.insert(named.end(), Named{*selector.listener, "", 0});
            }
            if (found->last_rule != i + 1) {
                found->rules += (found->rules.empty() ? "" : ", ") + std::to_string(i + 1);
                found->last_rule = i + 1;
            }
        }
    }
    if (named.empty()) {
        return;
    }
    std::printf("     listeners the rules select:\n");
    for (const auto& [name, rules, last_rule] : named) {
        std::string socket;
        if (name == default_unix_listener) {
            socket = "unix:" + config.listen_socket_path();
        } else if (name == default_tcp_listener) {
            socket = "tcp:" + format_tcp_endpoint(config.tcp);
        }
        for (const NamedListener& listener : config.listeners) {
            if (listener.name == name) {
                socket = listener.tcp ? "tcp:" + format_tcp_endpoint(listener.tcp)
                                      : "unix:" + listener.unix_path;
            }
        }
        std::printf("       %s %s (rule%s %s)\n", name.c_str(), socket.c_str(),
                    rules.find(',') == std::string::npos ? "" : "s", rules.c_str());
    }
}

}  // namespace

int run_check(const CommandLine& command_line, const Environment& environment) {
    LoadedPolicy loaded;
    if (!load(command_line, environment, loaded)) {
        return exit_invalid;
    }
    const Policy& policy = *loaded.policy;
    std::printf("policy: %s (%zu rules, first match wins)\n", policy.source.c_str(),
                policy.rules.size());
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        std::printf("%3zu  %s\n", i + 1, describe_rule(policy.rules[i]).c_str());
    }
    std::printf("     default: %s\n", policy.default_verdict == Verdict::allow ? "allow" : "deny");
    std::printf("     redact secrets: %s\n", policy.redact ? "yes" : "no");
    print_listeners_named(policy, command_line.config);
    return 0;
}

int run_explain(const CommandLine& command_line, const Environment& environment) {
    LoadedPolicy loaded;
    if (!load(command_line, environment, loaded)) {
        return exit_invalid;
    }
    const ExplainClient parsed = parse_explain_client(command_line.client, command_line.config);
    const auto& client = parsed.client;
    if (!client) {
        std::fprintf(stderr,
                     "socket-proxy: --client \"%s\" is not a client: use unix:uid=N,gid=N, "
                     "tcp:ADDRESS, tls:cn=NAME[,san=NAME][,sha256=HEX][,address=IP], "
                     "container:NAME[,label=KEY=VALUE][,service=S][,project=P][,address=IP] or "
                     "listener:NAME, each form with ,listener=NAME if it came through one\n",
                     command_line.client.c_str());
        return exit_invalid;
    }
    if (!parsed.listener_problem.empty()) {
        std::fprintf(stderr, "socket-proxy: --client \"%s\": %s\n", command_line.client.c_str(),
                     parsed.listener_problem.c_str());
        return exit_invalid;
    }
    const std::string& method = command_line.arguments.at(0);
    const std::string& target = command_line.arguments.at(1);
    const Decision decision = decide(Request{method, target, "docker"}, *client, *loaded.policy);
    std::printf("decision: %s\n", decision.allowed() ? "allow" : "deny");
    std::printf("rule: %s\n", decision.rule.c_str());
    if (decision.target) {
        std::printf("route: %s\n", decision.target->route_path.c_str());
        if (decision.allowed() && route_carries_secrets(decision.target->route_path)) {
            std::printf("secrets in the answer: %s\n",
                        decision.redact ? "redacted" : "passed through");
        }
        std::printf("forwarded as: %s\n", decision.target->forward_target.c_str());
    }
    if (decision.scope) {
        std::string labels;
        for (const LabelSelector& selector : decision.container_labels) {
            labels += (labels.empty() ? "" : ", ") + selector.text();
        }
        const ScopedRouteKind kind = decision.scope->kind;
        const std::string noun(object_noun(scoped_object(kind)));
        if (decision.owner) {
            std::printf("visible containers, volumes and networks: labelled %s\n", labels.c_str());
        } else {
            std::printf("visible containers: labelled %s\n", labels.c_str());
        }
        switch (kind) {
            case ScopedRouteKind::container_list:
            case ScopedRouteKind::volume_list:
            case ScopedRouteKind::network_list:
                std::printf("the answer: the list without other %ss\n", noun.c_str());
                break;
            case ScopedRouteKind::events:
                std::printf("the answer: events of visible containers only\n");
                break;
            case ScopedRouteKind::exec:
                std::printf(
                    "the answer: 404 unless exec instance \"%s\" runs in a visible "
                    "container\n",
                    decision.scope->reference.c_str());
                break;
            case ScopedRouteKind::container:
            case ScopedRouteKind::volume:
            case ScopedRouteKind::network:
                std::printf("the answer: 404 unless %s \"%s\" is visible; forwarded under its %s\n",
                            noun.c_str(), decision.scope->reference.c_str(),
                            kind == ScopedRouteKind::volume ? "name" : "full id");
                break;
            case ScopedRouteKind::prune:
                std::printf("the query's filters get label=%s: only visible ones are pruned\n",
                            decision.owner->text().c_str());
                break;
        }
    }
    if (decision.allowed() && decision.owner && creates_object(decision.write)) {
        std::printf("owner: the body's Labels get %s, whatever the client wrote there\n",
                    decision.owner->text().c_str());
    }
    if (decision.allowed() && decision.owner &&
        (decision.write == WriteKind::container_create ||
         decision.write == WriteKind::container_start ||
         decision.write == WriteKind::network_attach)) {
        std::printf(
            "owner: the volumes, containers and networks the body names must be labelled %s "
            "(the built-in networks excepted); forwarded under their full ids\n",
            decision.owner->text().c_str());
    }
    if (decision.allowed() && write_body_is_checked(decision.write)) {
        std::printf("the body: held (at most %s) and forwarded only within the limits: %s\n",
                    format_size(decision.write_limits.max_body_bytes).c_str(),
                    describe_write_limits(decision.write_limits).c_str());
    }
    if (decision.allowed() && decision.limits) {
        const bool stream =
            opens_stream(method, decision.target->route_path, decision.target->query, false);
        std::printf("limits: %s for each client, this one counted as %s%s\n",
                    describe_client_limits(*decision.limits).c_str(),
                    client_limit_key(*client).c_str(),
                    stream ? "; the request opens a stream" : "");
    }
    if (!decision.allowed()) {
        std::printf("status: %d\nmessage: %s\n", decision.status, decision.message.c_str());
    }
    return decision.allowed() ? 0 : 1;
}

int run_learn(const CommandLine& command_line) {
    const std::string& path = command_line.arguments.front();
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        std::fprintf(stderr, "socket-proxy: cannot read the log %s: %s\n", path.c_str(),
                     std::strerror(errno));
        return 2;
    }
    std::ostringstream text;
    text << file.rdbuf();
    const LearnedPolicy learned = learn_policy(text.str(), path);
    if (learned.yaml.empty()) {
        std::fprintf(stderr,
                     "socket-proxy: %s holds no request to learn from (%zu lines that are not "
                     "JSON): log as JSON lines with every request, SOCKET_PROXY_LOG_FORMAT=json "
                     "and DEBUG=1, then run the tool\n",
                     path.c_str(), learned.unreadable);
        return 1;
    }
    std::fputs(learned.yaml.c_str(), stdout);
    std::fprintf(stderr,
                 "socket-proxy: learned from %zu requests (%zu allowed when logged); %zu outside "
                 "the API and %zu lines that are not JSON were left out\n",
                 learned.requests, learned.allowed_seen, learned.outside_api, learned.unreadable);
    if (learned.allowed_seen < learned.requests && learned.allowed_seen == 0) {
        std::fprintf(stderr,
                     "socket-proxy: warning: no allowed request in the log: was DEBUG=1 set? "
                     "Without it only denials are logged\n");
    }
    return 0;
}

}  // namespace socket_proxy
