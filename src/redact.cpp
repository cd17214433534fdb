#include "redact.hpp"

#include <array>
#include <boost/json.hpp>

#include "daemon_json.hpp"
#include "policy.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

const std::array<PathPattern, 8>& secret_routes() {
    static const std::array<PathPattern, 8> routes{
        PathPattern::parse("/containers/{id...}/json"),
        PathPattern::parse("/images/{name...}/json"),
        PathPattern::parse("/services"),
        PathPattern::parse("/services/{id}"),
        PathPattern::parse("/tasks"),
        PathPattern::parse("/tasks/{id}"),
        PathPattern::parse("/plugins/**"),
        PathPattern::parse("/swarm"),
    };
    return routes;
}

void redact_environment(json::array& environment) {
    for (json::value& entry : environment) {
        if (json::string* text = entry.if_string()) {
            const std::string_view variable(*text);
            const std::size_t equals = variable.find('=');
            if (equals != std::string_view::npos) {
                *text = std::string(variable.substr(0, equals + 1)) + std::string(redacted_value);
            }
        } else if (json::object* setting = entry.if_object()) {
            // A plugin's declared variables: {"Name": ..., "Value": ...}.
            if (json::value* value = setting->if_contains("Value");
                value && value->is_string() && !value->get_string().empty()) {
                *value = redacted_value;
            }
        }
    }
}

void redact_value(json::value& value) {
    if (json::object* object = value.if_object()) {
        object->erase("JoinTokens");
        for (auto& [key, member] : *object) {
            if (key == "Env" && member.is_array()) {
                redact_environment(member.get_array());
            }
            redact_value(member);
        }
    } else if (json::array* array = value.if_array()) {
        for (json::value& element : *array) {
            redact_value(element);
        }
    }
}

}  // namespace

bool route_carries_secrets(std::string_view route_path) {
    for (const PathPattern& route : secret_routes()) {
        if (route.matches(route_path)) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> redact_secrets(std::string_view body) {
    std::optional<json::value> document = parse_daemon_json(body);
    if (!document) {
        return std::nullopt;
    }
    redact_value(*document);
    return serialise_daemon_json(*document);
}

}  // namespace socket_proxy
