// The policy core: path patterns, the built-in read-only policy, and decide().
#include "policy.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace socket_proxy {
namespace {

// The docker CLI prints the whole message on one line; a few hundred bytes of a hostile
// target are enough to recognise the request.
constexpr std::size_t kMaxMessageTargetLength = 200;
constexpr std::size_t kMaxMessageMethodLength = 32;

constexpr std::string_view kGlobstar = "**";
constexpr std::string_view kMultiSuffix = "...}";

std::vector<std::string_view> split_segments(std::string_view path_without_leading_slash) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = path_without_leading_slash.find('/', start);
        if (end == std::string_view::npos) {
            segments.push_back(path_without_leading_slash.substr(start));
            return segments;
        }
        segments.push_back(path_without_leading_slash.substr(start, end - start));
        start = end + 1;
    }
}

bool is_placeholder(std::string_view segment) {
    return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool is_multi_placeholder(std::string_view segment) {
    return is_placeholder(segment) && segment.ends_with(kMultiSuffix);
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

[[noreturn]] void reject_pattern(std::string_view pattern, std::string_view problem) {
    throw std::invalid_argument("path pattern \"" + std::string(pattern) + "\" " +
                                std::string(problem));
}

// A typo in a pattern must fail at start-up: a pattern that silently never matches turns a
// deny rule into nothing.
void check_segment(std::string_view pattern, std::string_view segment, bool last) {
    if (segment.empty()) {
        if (!last) {
            reject_pattern(pattern, "contains an empty segment (\"//\"), which no routed path has");
        }
        return;
    }
    if (segment == "." || segment == "..") {
        reject_pattern(pattern, "contains a \".\" or \"..\" segment, which no routed path has");
    }
    if (segment == kGlobstar) {
        if (!last) {
            reject_pattern(pattern,
                           "uses \"**\" before the last segment; it may only end a pattern");
        }
        return;
    }
    if (segment.find('*') != std::string_view::npos) {
        reject_pattern(pattern, "uses '*' inside a segment; only a final \"/**\" is supported");
    }
    if (is_placeholder(segment)) {
        std::string_view name = segment.substr(1, segment.size() - 2);
        if (name.ends_with("...")) {
            name.remove_suffix(3);
        }
        if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
            reject_pattern(pattern, "has a placeholder \"" + std::string(segment) +
                                        "\" without a name of letters, digits, '_' or '-'");
        }
        return;
    }
    if (segment.find_first_of("{}") != std::string_view::npos) {
        reject_pattern(pattern, "has a '{' or '}' that is not a whole \"{name}\" segment");
    }
}

bool rule_applies(const Rule& rule, std::string_view method, std::string_view route_path) {
    const bool method_matches =
        rule.methods.empty() ||
        std::find(rule.methods.begin(), rule.methods.end(), method) != rule.methods.end();
    return method_matches && (!rule.path || rule.path->matches(route_path));
}

// Keeps the message on one line and free of bytes a terminal or log would interpret.
void append_printable(std::string& out, std::string_view text, std::size_t limit) {
    static constexpr char hex_digits[] = "0123456789ABCDEF";
    for (const char c : text.substr(0, limit)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) {
            out += '%';
            out += hex_digits[byte >> 4];
            out += hex_digits[byte & 0x0f];
        } else {
            out += c;
        }
    }
    if (text.size() > limit) {
        out += "...";
    }
}

std::string denial_message(const Request& request, std::string_view why, std::string_view rule) {
    std::string message = "socket-proxy denied ";
    append_printable(message, request.method, kMaxMessageMethodLength);
    message += ' ';
    append_printable(message, request.target, kMaxMessageTargetLength);
    message += ": ";
    message += why;
    message += " (rule ";
    message += rule;
    message += ')';
    return message;
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

Rule deny_rule(std::string name, std::string pattern, std::string why) {
    Rule rule;
    rule.name = std::move(name);
    // HEAD too: HEAD /containers/{id}/archive returns file metadata (docker-api.md, Methods).
    rule.methods = {"GET", "HEAD"};
    rule.path = PathPattern::parse(pattern);
    rule.verdict = Verdict::deny;
    rule.why = std::move(why);
    return rule;
}

}  // namespace

PathPattern PathPattern::parse(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/') {
        reject_pattern(pattern, "must start with '/'");
    }
    PathPattern result;
    result.source = std::string(pattern);
    const std::vector<std::string_view> segments = split_segments(pattern.substr(1));
    for (std::size_t i = 0; i < segments.size(); ++i) {
        check_segment(pattern, segments[i], i + 1 == segments.size());
        result.segments.emplace_back(segments[i]);
    }
    return result;
}

bool PathPattern::matches(std::string_view route_path) const {
    if (route_path.empty() || route_path.front() != '/') {
        return false;
    }
    const std::vector<std::string_view> path = split_segments(route_path.substr(1));
    const bool globstar = !segments.empty() && segments.back() == kGlobstar;
    const std::size_t fixed_count = segments.size() - (globstar ? 1 : 0);

    // reachable[j]: the pattern segments seen so far match exactly the first j path segments.
    // Linear per pattern segment, so a pattern with several "{name...}" cannot blow up.
    std::vector<char> reachable(path.size() + 1, 0);
    reachable[0] = 1;
    for (std::size_t i = 0; i < fixed_count; ++i) {
        const std::string_view segment = segments[i];
        std::vector<char> next(path.size() + 1, 0);
        if (is_multi_placeholder(segment)) {
            bool run = false;  // a start is reachable and every segment since is non-empty
            for (std::size_t j = 0; j < path.size(); ++j) {
                run = (run || reachable[j]) && !path[j].empty();
                next[j + 1] = run;
            }
        } else {
            const bool placeholder = is_placeholder(segment);
            for (std::size_t j = 0; j < path.size(); ++j) {
                if (reachable[j] && (placeholder ? !path[j].empty() : path[j] == segment)) {
                    next[j + 1] = 1;
                }
            }
        }
        reachable = std::move(next);
    }
    if (globstar) {
        return std::find(reachable.begin(), reachable.end(), 1) != reachable.end();
    }
    return reachable[path.size()] != 0;
}

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

Decision decide(const Request& request, const Client& /*client*/, const Policy& policy) {
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

    for (const Rule& rule : policy.rules) {
        if (!rule_applies(rule, request.method, route_path)) {
            continue;
        }
        decision.verdict = rule.verdict;
        decision.rule = rule.name;
        if (rule.verdict == Verdict::deny) {
            decision.status = 403;
            decision.message = denial_message(
                request, rule.why.empty() ? "the policy denies this request" : rule.why, rule.name);
        }
        return decision;
    }

    decision.verdict = policy.default_verdict;
    decision.rule = "default";
    if (policy.default_verdict == Verdict::deny) {
        decision.status = 403;
        decision.message =
            denial_message(request, "no rule of the policy allows this request", decision.rule);
    }
    return decision;
}

}  // namespace socket_proxy
