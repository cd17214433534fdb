#include "learn.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <set>
#include <sstream>

#include "metrics.hpp"

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

LearnedPolicy learn_policy(std::string_view log, std::string_view source) {
    LearnedPolicy learned;
    std::map<std::string, std::set<std::string>> methods_by_pattern;
    std::set<std::string> allowed_patterns;  // of those, the ones allowed when logged
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
        const std::string pattern = learned_path_pattern(string_field(entry, "route"));
        if (pattern == "/_ping") {
            continue;  // the ping rule above allows it
        }
        if (pattern.empty() || method_label(method) == "other") {
            ++learned.outside_api;
            continue;
        }
        if (string_field(entry, "decision") == "allow") {
            ++learned.allowed_seen;
            allowed_patterns.insert(pattern);
        }
        methods_by_pattern[pattern].insert(std::string(method));
    }
    if (methods_by_pattern.empty()) {
        return learned;
    }
    std::string yaml = "# Learned by `socket-proxy learn` from " + std::string(source) + ", " +
                       std::to_string(learned.requests) +
                       " requests.\n# Review it: every route below was asked for, nothing else "
                       "is allowed, and writes\n# keep the safe body limits (README: Writes that "
                       "cannot become root).\n"
                       "default: deny\nrules:\n"
                       "  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}"
                       "  # the image's health check\n";
    std::set<std::string> names{"ping"};
    for (const auto& [pattern, methods] : methods_by_pattern) {
        std::string name = rule_name(pattern);
        for (int suffix = 2; names.contains(name); ++suffix) {
            name = rule_name(pattern) + "-" + std::to_string(suffix);
        }
        names.insert(name);
        std::string method_list;
        for (const std::string& method : methods) {
            method_list += (method_list.empty() ? "" : ", ") + method;
        }
        yaml += "  - {name: " + name + ", methods: [" + method_list + "], path: \"" + pattern +
                "\", action: allow}";
        yaml += allowed_patterns.contains(pattern) ? "\n" : "  # refused when logged: review\n";
    }
    learned.yaml = std::move(yaml);
    return learned;
}

}  // namespace socket_proxy
