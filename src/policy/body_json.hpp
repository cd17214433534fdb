// A write's body read as the daemon's Go decoder reads it: field names folded as Go folds
// them, two keys that fold alike refused (the daemon takes the last, a check could read
// another), and the shape bounded so that reading stays linear in the body's size. For the
// write-body checks only.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "go_text.hpp"
#include "write_limits.hpp"

namespace socket_proxy::body_checks {
namespace json = boost::json;

// The body as the daemon will read it, or why it cannot be judged.
struct ReadBody {
    std::optional<json::value> document;
    std::optional<WriteRefusal> problem;
};

ReadBody read_body(std::string_view body);

// The value of a field as Go's decoder finds it; nullptr when absent or null (Go leaves the
// field at its zero value for null).
inline const json::value* field(const json::object& object, std::string_view name) {
    for (const auto& member : object) {
        if (go_fold_equals(std::string_view(member.key().data(), member.key().size()), name)) {
            return member.value().is_null() ? nullptr : &member.value();
        }
    }
    return nullptr;
}

inline json::value* field(json::object& object, std::string_view name) {
    return const_cast<json::value*>(field(std::as_const(object), name));
}

// Go's strslice.StrSlice and friends: a string or an array of strings.
std::optional<std::vector<std::string>> strings_of(const json::value& value);

inline bool is_true(const json::value* value) {
    return value && !(value->is_bool() && !value->get_bool());
}

inline bool nonempty(const json::value* value) {
    if (!value) {
        return false;
    }
    if (value->is_array()) {
        return !value->get_array().empty();
    }
    if (value->is_object()) {
        return !value->get_object().empty();
    }
    return !(value->is_string() && value->get_string().empty());
}

}  // namespace socket_proxy::body_checks
