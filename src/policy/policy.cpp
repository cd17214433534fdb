// The policy core: path patterns, the built-in read-only policy, and decide().
#include "policy.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "go_text.hpp"
#include "json_text.hpp"
#include "read_guard.hpp"
#include "write_routes.hpp"

namespace socket_proxy {
namespace {

// The docker CLI prints the whole message on one line; a few hundred bytes of a hostile
// target are enough to recognise the request.
constexpr std::size_t kMaxMessageTargetLength = 200;
constexpr std::size_t kMaxMessageMethodLength = 32;

}  // namespace

namespace {

bool condition_holds(const QueryCondition& condition, const QueryValues& values) {
    std::optional<std::string> first;
    for (const auto& [key, value] : values) {
        if (key == condition.name) {
            first = value;
            break;
        }
    }
    return std::find(condition.values.begin(), condition.values.end(), first) !=
           condition.values.end();
}

enum class Applies { no, yes, undecidable };

// The query is parsed once per request, and only if a rule asks about it.
class LazyQuery {
  public:
    LazyQuery(std::string_view raw, bool form_body) : raw_(raw), form_body_(form_body) {}

    const std::optional<QueryValues>& values() {
        if (!parsed_) {
            parsed_ = true;
            if (!form_body_) {
                values_ = parse_query(raw_);
            }
        }
        return values_;
    }

  private:
    std::string_view raw_;
    bool form_body_;
    bool parsed_ = false;
    std::optional<QueryValues> values_;
};

Applies rule_applies(const Rule& rule, std::string_view method, std::string_view route_path,
                     const Client& client, LazyQuery& query) {
    const bool method_matches =
        rule.methods.empty() ||
        std::find(rule.methods.begin(), rule.methods.end(), method) != rule.methods.end();
    if (!method_matches || (rule.path && !rule.path->matches(route_path))) {
        return Applies::no;
    }
    if (!rule.clients.empty() &&
        std::none_of(rule.clients.begin(), rule.clients.end(),
                     [&](const ClientSelector& selector) { return selector.matches(client); })) {
        return Applies::no;
    }
    if (rule.query.empty()) {
        return Applies::yes;
    }
    const auto& values = query.values();
    if (!values) {
        return Applies::undecidable;
    }
    for (const QueryCondition& condition : rule.query) {
        if (!condition_holds(condition, *values)) {
            return Applies::no;
        }
    }
    return Applies::yes;
}

// The request line in a denial: spaces too are escaped, so the method and the target stay
// visibly apart.
bool escape_in_request_line(unsigned char byte) {
    return byte <= 0x20 || byte >= 0x7f;
}

std::string denial_message(const Request& request, std::string_view why, std::string_view rule) {
    std::string message = "socket-proxy denied ";
    append_percent_escaped(message, request.method, kMaxMessageMethodLength,
                           escape_in_request_line);
    message += ' ';
    append_percent_escaped(message, request.target, kMaxMessageTargetLength,
                           escape_in_request_line);
    message += ": ";
    message += why;
    message += " (rule ";
    message += rule;
    message += ')';
    return message;
}

// A denial by the policy: 403 and the sentence the client sees, naming the rule that decided.
void deny(Decision& decision, const Request& request, std::string rule, std::string_view why) {
    decision.verdict = Verdict::deny;
    decision.status = 403;
    decision.rule = std::move(rule);
    decision.message = denial_message(request, why, decision.rule);
}

// An allowed write that says what will run stays within the rule's limits: its query is
// judged here, its body by the session, which holds it and calls refuse_write() before
// forwarding.
void limit_write(Decision& decision, const Request& request, const WriteLimits& limits) {
    if (const auto refusal =
            refuse_write_route(request.method, decision.target->route_path, limits)) {
        deny(decision, request, decision.rule,
             "rule " + decision.rule + " does not allow this: it " + *refusal);
        return;
    }
    decision.write = write_kind(request.method, decision.target->route_path);
    decision.write_limits = limits;
    if (decision.write == WriteKind::none || write_body_is_checked(decision.write)) {
        return;
    }
    const std::string rule = decision.rule;
    if (request.form_body) {
        deny(decision, request, rule,
             "rule " + rule +
                 " allows this write within limits on its query, which a form-encoded body "
                 "would override");
        return;
    }
    if (const auto refusal = refuse_write(decision.write, decision.target->query, {}, limits)) {
        deny(decision, request, rule, "rule " + rule + " does not allow this: " + *refusal);
    }
}

// An allowed read whose query would make the daemon print secret values into an answer the
// proxy cannot rewrite (read_guard.hpp) is refused under every rule that keeps secrets; a rule
// with redaction off has agreed to show them.
void guard_read(Decision& decision, const Request& request) {
    if (!decision.allowed() || !decision.redact) {
        return;
    }
    if (const auto refusal = refuse_read(request.method, decision.target->route_path,
                                         decision.target->query, request.form_body)) {
        deny(decision, request, "read-guard", *refusal);
    }
}

int status_for(TargetError error) {
    switch (error) {
        case TargetError::empty:
        case TargetError::not_origin_form:
        case TargetError::invalid_character:
        case TargetError::invalid_escape:
            return 400;  // malformed: the daemon would not route it either
        case TargetError::foreign_host:
        case TargetError::encoded_slash:
        case TargetError::control_in_path:
        case TargetError::not_canonical:
            break;
    }
    return 403;  // well-formed but refused on doubt
}

// HEAD too by default: HEAD /containers/{id}/archive returns file metadata (docker-api.md,
// Methods).
Rule deny_rule(std::string name, std::string pattern, std::string why,
               std::vector<std::string> methods = {"GET", "HEAD"}) {
    Rule rule;
    rule.name = std::move(name);
    rule.methods = std::move(methods);
    rule.path = PathPattern::parse(pattern);
    rule.verdict = Verdict::deny;
    rule.why = std::move(why);
    return rule;
}

}  // namespace

Policy Policy::read_only() {
    Policy policy;
    policy.rules = {
        deny_rule("deny-container-attach-ws", "/containers/{id...}/attach/ws",
                  "this route attaches a websocket to the container's stdin and stdout"),
        deny_rule("deny-container-export", "/containers/{id...}/export",
                  "this route exports the container's whole file system as a tar archive"),
        deny_rule("deny-container-archive", "/containers/{id...}/archive",
                  "this route reads files of the container's file system (HEAD: their metadata)"),
        deny_rule("deny-secrets", "/secrets/**", "this route reveals the swarm's secrets"),
        deny_rule("deny-configs", "/configs/**",
                  "this route reveals the swarm's configs, including their data"),
        deny_rule("deny-swarm-unlockkey", "/swarm/unlockkey",
                  "this route reveals the key that decrypts the swarm's Raft log"),
        deny_rule("deny-image-export", "/images/{name...}/get",
                  "this route exports image tarballs with every layer and every baked-in secret"),
        deny_rule("deny-images-export", "/images/get",
                  "this route exports image tarballs with every layer and every baked-in secret"),
        deny_rule("deny-image-attestations", "/images/{name...}/attestations",
                  "this route returns build provenance, which holds the build's arguments and "
                  "Dockerfile"),
        // A read behind a write method: API versions before 1.24 answer POST .../copy with a
        // tar of the named path, so a policy that allows writes must still not hand it out.
        deny_rule("deny-container-copy", "/containers/{id...}/copy",
                  "this route (API before 1.24) reads files of the container's file system",
                  {"POST"}),
        // Podman's own API routes these only behind a version prefix; the rules also match the
        // unversioned path, which Podman answers 404. The source, and why every other libpod
        // GET route is allowed: read_routes.cpp.
        deny_rule("deny-libpod-container-export", "/libpod/containers/{name...}/export",
                  "this route exports the container's whole file system as a tar archive"),
        deny_rule("deny-libpod-container-archive", "/libpod/containers/{name...}/archive",
                  "this route reads files of the container's file system (HEAD: their metadata)"),
        deny_rule("deny-libpod-container-healthcheck", "/libpod/containers/{name...}/healthcheck",
                  "this route runs the container's health-check command inside it"),
        deny_rule("deny-libpod-images-export", "/libpod/images/export",
                  "this route exports image tarballs with every layer and every baked-in secret"),
        deny_rule("deny-libpod-image-export", "/libpod/images/{name...}/get",
                  "this route exports image tarballs with every layer and every baked-in secret"),
        deny_rule("deny-libpod-volume-export", "/libpod/volumes/{name...}/export",
                  "this route exports the volume's contents as a tar archive"),
        deny_rule("deny-libpod-artifact-extract", "/libpod/artifacts/{name...}/extract",
                  "this route returns the artifact's files"),
        deny_rule("deny-libpod-quadlet-file", "/libpod/quadlets/{name...}/file",
                  "this route returns a Quadlet unit file, which may hold secret values"),
        deny_rule("deny-libpod-secrets", "/libpod/secrets/**",
                  "this route reveals Podman's secrets (with showsecret, their values)"),
        deny_rule("deny-libpod-generate-kube", "/libpod/generate/kube",
                  "this route generates Kubernetes YAML holding the containers' environment "
                  "values"),
        deny_rule("deny-libpod-kube-generate", "/libpod/kube/generate",
                  "this route generates Kubernetes YAML holding the containers' environment "
                  "values"),
        deny_rule("deny-libpod-generate-systemd", "/libpod/generate/{name...}/systemd",
                  "this route generates systemd units holding the containers' command lines, "
                  "environment values included"),
    };

    Rule read_only;
    read_only.name = "read-only";
    read_only.methods = {"GET", "HEAD"};
    read_only.verdict = Verdict::allow;
    policy.rules.push_back(std::move(read_only));

    // An explicit rule rather than the default, so the denial says why instead of "no rule".
    Rule other_methods;
    other_methods.name = "read-only-methods";
    other_methods.verdict = Verdict::deny;
    other_methods.why = "the proxy is read-only: only GET and HEAD are allowed";
    policy.rules.push_back(std::move(other_methods));

    policy.default_verdict = Verdict::deny;
    return policy;
}

namespace {

// DNS names compare case-insensitively (RFC 4343), in ASCII only: folding other bytes would
// let a name the CA never issued match.
bool same_dns_name(std::string_view a, std::string_view b) {
    const auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [&](char x, char y) { return fold(x) == fold(y); });
}

// A DNS name has no ':', a URI always has one after its scheme: the selector's value says which
// list of the certificate it is compared with, so a DNS entry can never stand in for a URI.
bool has_san(const PeerCertificate& certificate, std::string_view san) {
    if (san.find(':') != std::string_view::npos) {
        return std::ranges::find(certificate.uris, san) != certificate.uris.end();
    }
    return std::ranges::any_of(certificate.dns_names,
                               [&](const std::string& name) { return same_dns_name(name, san); });
}

bool certificate_matches(const ClientSelector& selector, const Client& client) {
    if (!selector.by_certificate()) {
        return true;
    }
    if (!client.certificate) {
        return false;
    }
    const PeerCertificate& certificate = *client.certificate;
    if (selector.cert_cn && certificate.common_name != *selector.cert_cn) {
        return false;
    }
    if (selector.cert_san && !has_san(certificate, *selector.cert_san)) {
        return false;
    }
    return !selector.cert_sha256 || certificate.sha256 == *selector.cert_sha256;
}

bool container_matches(const ClientSelector& selector, const Client& client) {
    if (!selector.by_container()) {
        return true;
    }
    if (!client.container) {
        return false;
    }
    const CallerContainer& container = *client.container;
    if (selector.container && container.name != *selector.container) {
        return false;
    }
    if (selector.container_label) {
        const auto value = container.label(selector.container_label->key);
        if (!value ||
            (selector.container_label->value && *value != *selector.container_label->value)) {
            return false;
        }
    }
    const auto label_is = [&](std::string_view key, const std::optional<std::string>& wanted) {
        return !wanted || container.label(key) == std::optional<std::string_view>(*wanted);
    };
    return label_is(compose_service_label, selector.compose_service) &&
           label_is(compose_project_label, selector.compose_project);
}

}  // namespace

bool ClientSelector::matches(const Client& client) const {
    if (transport && *transport != client.transport) {
        return false;
    }
    if (uid && (!client.uid || *client.uid != *uid)) {
        return false;
    }
    if (gid && (!client.gid || *client.gid != *gid)) {
        return false;
    }
    if (network && !(client.ip && network->contains(*client.ip))) {
        return false;
    }
    if (listener && client.listener != *listener) {
        return false;
    }
    return certificate_matches(*this, client) && container_matches(*this, client);
}

std::string owner_identity(const Client& client) {
    if (client.certificate) {
        return describe_certificate(*client.certificate);
    }
    if (client.container) {
        return "container:" + client.container->name;
    }
    if (client.came_through_named_listener()) {
        return "listener:" + client.listener;
    }
    if (client.transport == Client::Transport::unix_socket) {
        return client.uid ? "unix:uid=" + std::to_string(*client.uid) : "unix:unknown";
    }
    // The address without its port: a client's next connection comes from another port. An
    // address the listener could not read keeps its port: it owns only what it made on it.
    return "tcp:" + (client.ip ? client.ip->text() : client.address);
}

bool Policy::selects_containers() const {
    return std::ranges::any_of(rules, [](const Rule& rule) {
        return std::ranges::any_of(
            rule.clients, [](const ClientSelector& selector) { return selector.by_container(); });
    });
}

bool is_listener_name(std::string_view name) {
    constexpr std::size_t longest = 32;
    return !name.empty() && name.size() <= longest && std::ranges::all_of(name, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

std::optional<std::string> normalise_sha256_fingerprint(std::string_view text) {
    constexpr std::size_t digits = 64;
    const bool with_colons = text.size() == digits + digits / 2 - 1;
    if (!with_colons && text.size() != digits) {
        return std::nullopt;
    }
    std::string hex;
    hex.reserve(digits);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (with_colons && i % 3 == 2) {
            if (c != ':') {
                return std::nullopt;
            }
            continue;
        }
        if (c >= '0' && c <= '9') {
            hex += c;
        } else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            hex += static_cast<char>(c | 0x20);
        } else {
            return std::nullopt;
        }
    }
    return hex;
}

std::string describe_certificate(const PeerCertificate& certificate) {
    if (certificate.common_name.empty()) {
        return "tls:sha256=" + certificate.sha256;
    }
    std::string text = "tls:cn=";
    for (const char c : certificate.common_name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f || c == '\\') {
            constexpr std::string_view hex_digits = "0123456789abcdef";
            text += "\\x";
            text += hex_digits[byte >> 4];
            text += hex_digits[byte & 0xf];
        } else {
            text += c;
        }
    }
    return text;
}

namespace {

// A prune under an owner rule removes only what carries the owner's label: the label joins the
// query's filters. False when it was denied instead.
bool narrow_prune(Decision& decision, const Request& request, const std::string& rule) {
    Target& target = *decision.target;
    if (request.form_body) {
        deny(decision, request, rule,
             "rule " + rule +
                 " prunes only what carries the client's own label, a filter a form-encoded "
                 "body would override");
        return false;
    }
    const std::optional<std::string> query = narrowed_prune_query(target.query, *decision.owner);
    if (!query) {
        deny(decision, request, rule,
             "rule " + rule +
                 " prunes only what carries the client's own label, and the query's filters "
                 "cannot be read to add it (a ';', a bad escape, or filters not of the form "
                 "{\"label\": {\"key=value\": true}})");
        return false;
    }
    target.query = *query;
    target.forward_target =
        target.forward_target.substr(0, target.forward_target.find('?')) + "?" + target.query;
    return true;
}

// Under a rule with container_labels or an owner: what of the daemon the request may reach.
// False when it was denied instead.
bool narrow_to_labels(Decision& decision, const Request& request, const Rule& rule,
                      const Client& client) {
    const std::string_view route_path = decision.target->route_path;
    decision.container_labels = rule.container_labels;
    if (rule.owner) {
        decision.owner = LabelSelector{*rule.owner, owner_identity(client)};
        decision.container_labels.push_back(*decision.owner);
        if (creates_object(owner_write_kind(request.method, route_path))) {
            return true;  // stamped with the owner's label, not narrowed
        }
    }
    decision.scope = scoped_route(request.method, route_path, rule.owner.has_value());
    if (!decision.scope) {
        deny(decision, request, rule.name,
             "rule " + rule.name +
                 (rule.owner
                      ? " shows each client only the containers, volumes and networks it created"
                      : " shows only labelled containers") +
                 ", and the proxy cannot narrow this route to them");
        return false;
    }
    if (decision.scope->kind == ScopedRouteKind::prune) {
        return narrow_prune(decision, request, rule.name);
    }
    return true;
}

}  // namespace

Decision decide(const Request& request, const Client& client, const Policy& policy) {
    Decision decision;
    NormaliseResult normalised = normalise_target(request.target, request.host);
    if (!normalised.ok()) {
        decision.verdict = Verdict::deny;
        decision.status = status_for(normalised.error);
        decision.rule = "target";
        decision.message = denial_message(request, normalised.reason, decision.rule);
        return decision;
    }
    decision.target = std::move(normalised.target);
    const std::string_view route_path = decision.target->route_path;

    LazyQuery query(decision.target->query, request.form_body);
    for (const Rule& rule : policy.rules) {
        const Applies applies = rule_applies(rule, request.method, route_path, client, query);
        if (applies == Applies::no) {
            continue;
        }
        if (applies == Applies::undecidable) {
            // Deny on doubt: whichever way the rule went, the daemon might read other values.
            deny(decision, request, "query",
                 "rule " + rule.name +
                     " looks at the query, which the daemon could read another way (a ';' "
                     "separator, a bad escape, or a form-encoded body)");
            return decision;
        }
        decision.verdict = rule.verdict;
        decision.rule = rule.name;
        decision.redact = rule.redact.value_or(policy.redact);
        if (rule.verdict == Verdict::allow && (rule.owner || !rule.container_labels.empty()) &&
            !narrow_to_labels(decision, request, rule, client)) {
            return decision;
        }
        if (rule.verdict == Verdict::deny) {
            deny(decision, request, rule.name,
                 rule.why.empty() ? "the policy denies this request" : rule.why);
        } else {
            limit_write(decision, request, rule.body.value_or(WriteLimits{}));
            guard_read(decision, request);
            if (decision.allowed()) {
                decision.limits = rule.limits;
                if (decision.owner) {
                    decision.write = owner_write_kind(request.method, route_path);
                }
            }
        }
        return decision;
    }

    decision.verdict = policy.default_verdict;
    decision.rule = "default";
    decision.redact = policy.redact;
    if (policy.default_verdict == Verdict::deny) {
        deny(decision, request, "default", "no rule of the policy allows this request");
    } else {
        limit_write(decision, request, WriteLimits{});
        guard_read(decision, request);
    }
    return decision;
}

}  // namespace socket_proxy

namespace socket_proxy {

std::string describe_rule(const Rule& rule) {
    std::string text = rule.name + ": " + (rule.verdict == Verdict::allow ? "allow" : "deny");
    text += ' ';
    if (rule.methods.empty()) {
        text += "any method";
    } else {
        for (std::size_t i = 0; i < rule.methods.size(); ++i) {
            text += (i == 0 ? "" : ",") + rule.methods[i];
        }
    }
    text += ' ' + (rule.path ? rule.path->source : std::string("any path"));
    for (const QueryCondition& condition : rule.query) {
        text += " query " + condition.name + "=(";
        for (std::size_t i = 0; i < condition.values.size(); ++i) {
            text += (i == 0 ? "" : "|") + condition.values[i].value_or("absent");
        }
        text += ')';
    }
    if (rule.redact) {
        text += *rule.redact ? " redact" : " no-redact";
    }
    for (std::size_t i = 0; i < rule.container_labels.size(); ++i) {
        text += (i == 0 ? " containers labelled " : "+") + rule.container_labels[i].text();
    }
    if (!rule.clients.empty()) {
        text += " clients";
        for (std::size_t i = 0; i < rule.clients.size(); ++i) {
            const ClientSelector& selector = rule.clients[i];
            std::string part;
            const auto add = [&part](const std::string& item) {
                part += (part.empty() ? "" : "+") + item;
            };
            if (selector.listener) {
                add("listener=" + *selector.listener);
            }
            if (selector.transport) {
                add(*selector.transport == Client::Transport::tcp ? "tcp" : "unix");
            }
            if (selector.uid) {
                add("uid=" + std::to_string(*selector.uid));
            }
            if (selector.gid) {
                add("gid=" + std::to_string(*selector.gid));
            }
            if (selector.network) {
                add(selector.network->text);
            }
            if (selector.cert_cn) {
                add("cert_cn=" + *selector.cert_cn);
            }
            if (selector.cert_san) {
                add("cert_san=" + *selector.cert_san);
            }
            if (selector.cert_sha256) {
                add("cert_sha256=" + *selector.cert_sha256);
            }
            if (selector.container) {
                add("container=" + *selector.container);
            }
            if (selector.container_label) {
                add("container_label=" + selector.container_label->text());
            }
            if (selector.compose_project) {
                add("compose_project=" + *selector.compose_project);
            }
            if (selector.compose_service) {
                add("compose_service=" + *selector.compose_service);
            }
            text += (i == 0 ? " " : " or ") + part;
        }
    }
    if (rule.owner) {
        text += " owner " + *rule.owner;
    }
    if (rule.body) {
        text += " body " + describe_write_limits(*rule.body);
    }
    if (rule.limits) {
        text += " limits " + describe_client_limits(*rule.limits);
    }
    return text;
}

}  // namespace socket_proxy
