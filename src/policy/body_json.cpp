#include "body_json.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <utility>

#include "go_text.hpp"
#include "target.hpp"

namespace socket_proxy::body_checks {

namespace {

// A key folded as go_fold() folds it, from its raw JSON text (quotes excluded), escapes
// decoded: "Privileg\u0065d" and "privileged" are one key to the daemon.
std::string fold_raw_key(std::string_view raw) {
    std::string decoded;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            decoded += raw[i];
            continue;
        }
        const char escape = raw[++i];
        if (escape != 'u') {
            decoded += escape;  // \" \\ \/ and the control escapes: never letters
            continue;
        }
        unsigned code = 0;
        for (int digit = 0; digit < 4; ++digit) {
            code = code * 16 + static_cast<unsigned>(hex_digit_value(raw[++i]));
        }
        // UTF-8, so that go_fold() sees "\u017f" as it sees a raw long s; a surrogate
        // half is kept as its own three bytes, which no field name has.
        if (code < 0x80) {
            decoded += static_cast<char>(code);
        } else if (code < 0x800) {
            decoded += static_cast<char>(0xC0 | (code >> 6));
            decoded += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            decoded += static_cast<char>(0xE0 | (code >> 12));
            decoded += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            decoded += static_cast<char>(0x80 | (code & 0x3F));
        }
    }
    return go_fold(decoded);
}

// A second pass over text Boost.JSON has already accepted as JSON, for what its value tree
// cannot show: two keys of one object that fold alike (the daemon takes the last of them, a
// check could read another), and objects too large to judge. Each object's folded keys are
// sorted when it closes, so the pass is O(n log n) in the body whatever its keys: a hash set
// would be quadratic on keys chosen to collide, and std::hash has no secret seed.
std::optional<WriteRefusal> check_keys(std::string_view text) {
    struct Key {
        std::string folded;
        std::string_view raw;
    };
    struct Level {
        bool object = false;
        bool expecting_key = false;
        std::vector<Key> keys;
    };
    std::vector<Level> levels;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '{' || c == '[') {
            levels.push_back({c == '{', c == '{', {}});
        } else if (c == '}' || c == ']') {
            std::vector<Key>& keys = levels.back().keys;
            std::sort(keys.begin(), keys.end(),
                      [](const Key& a, const Key& b) { return a.folded < b.folded; });
            const auto twice =
                std::adjacent_find(keys.begin(), keys.end(),
                                   [](const Key& a, const Key& b) { return a.folded == b.folded; });
            if (twice != keys.end()) {
                return WriteRefusal{403,
                                    "the body has the field \"" + std::string(twice->raw) +
                                        "\" twice (names are compared as the daemon compares them, "
                                        "ignoring case), so the daemon could read another value"};
            }
            levels.pop_back();
        } else if (c == ',' && !levels.empty() && levels.back().object) {
            levels.back().expecting_key = true;
        } else if (c == '"') {
            const std::size_t start = ++i;
            while (text[i] != '"') {
                i += text[i] == '\\' ? 2 : 1;
            }
            if (!levels.empty() && levels.back().expecting_key) {
                Level& level = levels.back();
                level.expecting_key = false;
                if (level.keys.size() == max_object_keys) {
                    return WriteRefusal{413, "the body has an object with more than " +
                                                 std::to_string(max_object_keys) +
                                                 " keys, too many to check"};
                }
                const std::string_view raw = text.substr(start, i - start);
                level.keys.push_back({fold_raw_key(raw), raw});
            }
        }
    }
    return std::nullopt;
}

}  // namespace

ReadBody read_body(std::string_view body) {
    json::parse_options options;
    options.max_depth = max_body_depth;
    json::error_code error;
    // One arena per body, freed with the document: the tree of a 1 MiB body is some 100,000
    // small allocations, which would otherwise cost as much as the check itself.
    json::value document =
        json::parse(json::string_view(body.data(), body.size()), error,
                    json::make_shared_resource<json::monotonic_resource>(), options);
    if (error == json::error::too_deep) {
        return {std::nullopt,
                WriteRefusal{400, "the body nests deeper than " + std::to_string(max_body_depth) +
                                      " levels, deeper than any Docker body"}};
    }
    if (error) {
        return {std::nullopt,
                WriteRefusal{403, "the body is not JSON the proxy can read: " + error.message()}};
    }
    if (auto problem = check_keys(body)) {
        return {std::nullopt, std::move(problem)};
    }
    return {std::move(document), std::nullopt};
}

// Go's strslice.StrSlice and friends: a string or an array of strings.
std::optional<std::vector<std::string>> strings_of(const json::value& value) {
    std::vector<std::string> out;
    if (value.is_string()) {
        out.emplace_back(value.get_string());
        return out;
    }
    if (!value.is_array()) {
        return std::nullopt;
    }
    for (const auto& item : value.get_array()) {
        if (!item.is_string()) {
            return std::nullopt;
        }
        out.emplace_back(item.get_string());
    }
    return out;
}

}  // namespace socket_proxy::body_checks
