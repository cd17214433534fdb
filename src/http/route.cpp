// Route paths and patterns, and the query as the daemon reads it.
#include "route.hpp"

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
#include "target.hpp"

namespace socket_proxy {
namespace {

constexpr std::string_view kGlobstar = "**";
constexpr std::string_view kMultiSuffix = "...}";

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

// Go's url.QueryUnescape: '+' is a space, %XX a byte; nullopt for a bad escape.
std::optional<std::string> unescape_query_part(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] != '%') {
            out += text[i];
        } else if (i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
                   hex_digit_value(text[i + 2]) >= 0) {
            out +=
                static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace

std::optional<QueryValues> parse_query(std::string_view query) {
    QueryValues values;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        if (pair.find(';') != std::string_view::npos) {
            return std::nullopt;
        }
        const std::size_t equals = pair.find('=');
        auto key = unescape_query_part(pair.substr(0, equals));
        auto value = unescape_query_part(
            equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1));
        if (!key || !value) {
            return std::nullopt;
        }
        values.emplace_back(std::move(*key), std::move(*value));
    }
    return values;
}

std::string encode_query(const QueryValues& values) {
    std::string query;
    for (const auto& [key, value] : values) {
        if (!query.empty()) {
            query += '&';
        }
        query += encode_query_part(key);
        query += '=';
        query += encode_query_part(value);
    }
    return query;
}

PathPattern PathPattern::parse(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/') {
        reject_pattern(pattern, "must start with '/'");
    }
    PathPattern result;
    result.source = std::string(pattern);
    const std::vector<std::string_view> segments = route_segments(pattern);
    for (std::size_t i = 0; i < segments.size(); ++i) {
        check_segment(pattern, segments[i], i + 1 == segments.size());
        result.segments.emplace_back(segments[i]);
    }
    return result;
}

namespace {

// reachable[j]: the pattern segments seen so far match exactly the first j path segments.
// Linear per pattern segment, so a pattern with several "{name...}" cannot blow up.
// `reachable` and `next` hold path.size() + 1 entries each.
bool segments_match(std::span<const std::string> pattern, std::span<const std::string_view> path,
                    std::span<char> reachable, std::span<char> next) {
    const bool globstar = !pattern.empty() && pattern.back() == kGlobstar;
    const std::size_t fixed_count = pattern.size() - (globstar ? 1 : 0);
    std::fill(reachable.begin(), reachable.end(), 0);
    reachable[0] = 1;
    for (std::size_t i = 0; i < fixed_count; ++i) {
        const std::string_view segment = pattern[i];
        std::fill(next.begin(), next.end(), 0);
        bool any = false;
        if (is_multi_placeholder(segment)) {
            bool run = false;  // a start is reachable and every segment since is non-empty
            for (std::size_t j = 0; j < path.size(); ++j) {
                run = (run || reachable[j]) && !path[j].empty();
                next[j + 1] = run;
                any = any || run;
            }
        } else {
            const bool placeholder = is_placeholder(segment);
            for (std::size_t j = 0; j < path.size(); ++j) {
                if (reachable[j] && (placeholder ? !path[j].empty() : path[j] == segment)) {
                    next[j + 1] = 1;
                    any = true;
                }
            }
        }
        if (!any) {
            return false;  // most rules fail on their first literal segment
        }
        std::swap(reachable, next);
    }
    if (globstar) {
        return std::find(reachable.begin(), reachable.end(), 1) != reachable.end();
    }
    return reachable[path.size()] != 0;
}

}  // namespace

bool PathPattern::matches(std::string_view route_path) const {
    if (route_path.empty() || route_path.front() != '/') {
        return false;
    }
    // Every rule is matched on every request, and most fail on their first literal segment:
    // that one is compared before the path is split.
    if (const std::string_view first = segments.empty() ? kGlobstar : segments.front();
        first != kGlobstar && !is_placeholder(first) &&
        route_path.substr(1, route_path.find('/', 1) - 1) != first) {
        return false;
    }
    // Routes of a usual depth are split onto the stack, so the policy check allocates nothing.
    // Deeper paths (names may hold slashes) take the heap.
    constexpr std::size_t kInlineSegments = 32;
    std::array<std::string_view, kInlineSegments> inline_path;
    std::size_t count = 0;
    std::string_view rest = route_path.substr(1);
    while (count < kInlineSegments) {
        const std::size_t slash = rest.find('/');
        inline_path[count++] = rest.substr(0, slash);
        if (slash == std::string_view::npos) {
            std::array<char, kInlineSegments + 1> reachable{};
            std::array<char, kInlineSegments + 1> next{};
            return segments_match(segments, std::span(inline_path).first(count),
                                  std::span(reachable).first(count + 1),
                                  std::span(next).first(count + 1));
        }
        rest.remove_prefix(slash + 1);
    }
    const std::vector<std::string_view> path = route_segments(route_path);
    std::vector<char> reachable(path.size() + 1);
    std::vector<char> next(path.size() + 1);
    return segments_match(segments, path, reachable, next);
}

std::vector<std::string_view> route_segments(std::string_view path) {
    path.remove_prefix(path.empty() ? 0 : 1);
    return split(path, '/');
}

}  // namespace socket_proxy
