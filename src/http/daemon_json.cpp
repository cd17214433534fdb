#include "daemon_json.hpp"

#include <boost/json.hpp>
#include <cmath>

namespace socket_proxy {
namespace json = boost::json;

namespace {

// Docker's answers nest a dozen levels; a deeper document is not one of them.
constexpr std::size_t max_json_depth = 64;

bool numbers_are_finite(const json::value& value) {
    if (const double* number = value.if_double()) {
        return std::isfinite(*number);
    }
    if (const json::object* object = value.if_object()) {
        for (const auto& member : *object) {
            if (!numbers_are_finite(member.value())) {
                return false;
            }
        }
    } else if (const json::array* array = value.if_array()) {
        for (const json::value& element : *array) {
            if (!numbers_are_finite(element)) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

std::optional<json::value> parse_daemon_json(std::string_view text) {
    json::parse_options options;
    options.max_depth = max_json_depth;
    boost::system::error_code error;
    json::value document = json::parse(text, error, {}, options);
    if (error) {
        return std::nullopt;
    }
    return document;
}

std::optional<std::string> serialise_daemon_json(const json::value& document) {
    if (!numbers_are_finite(document)) {
        return std::nullopt;
    }
    std::string text = json::serialize(document);
    text += '\n';
    return text;
}

}  // namespace socket_proxy
