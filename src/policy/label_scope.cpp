#include "label_scope.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "daemon_json.hpp"
#include "route.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

constexpr std::size_t container_id_length = 64;

// The daemon writes these into a container event's attributes itself, over or beside the
// container's labels: a selector on them would let an unlabelled container's events through.
constexpr std::array<std::string_view, 12> event_attribute_keys{
    "name",    "image",   "exitCode", "execDuration", "signal", "execID",
    "oldName", "comment", "imageID",  "imageRef",     "height", "width"};

// Every endpoint the daemon routes as /containers/{name}/<endpoint>.
constexpr std::array<std::string_view, 19> container_endpoints{
    "json", "logs",    "stats", "top",   "changes", "export", "archive", "attach", "wait", "start",
    "stop", "restart", "kill",  "pause", "unpause", "update", "rename",  "resize", "exec"};

bool contains(auto const& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// Labels as the daemon writes them: an object of strings, or null for none. Anything else is
// not an answer the proxy understands.
enum class Match { yes, no, unreadable };

Match labels_match(const json::value* labels, const std::vector<LabelSelector>& selectors) {
    const json::object* object = nullptr;
    if (labels != nullptr && !labels->is_null()) {
        object = labels->if_object();
        if (object == nullptr) {
            return Match::unreadable;
        }
    }
    for (const LabelSelector& selector : selectors) {
        const json::value* found = object ? object->if_contains(selector.key) : nullptr;
        if (found == nullptr) {
            return Match::no;
        }
        const json::string* value = found->if_string();
        if (value == nullptr) {
            return Match::unreadable;
        }
        if (selector.value && *value != *selector.value) {
            return Match::no;
        }
    }
    return Match::yes;
}

bool is_container_id(std::string_view id) {
    return id.size() == container_id_length && std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

}  // namespace

std::optional<LabelSelector> LabelSelector::parse(std::string_view text, std::string& problem) {
    LabelSelector selector;
    const std::size_t equals = text.find('=');
    selector.key = std::string(text.substr(0, equals));
    if (equals != std::string_view::npos) {
        selector.value = std::string(text.substr(equals + 1));
    }
    if (selector.key.empty()) {
        problem = "\"" + std::string(text) + "\" names no label: write key=value or key";
        return std::nullopt;
    }
    if (contains(event_attribute_keys, selector.key)) {
        problem = "\"" + selector.key +
                  "\" is an attribute the daemon writes into container events itself, so events "
                  "could not be told apart by it: choose another label";
        return std::nullopt;
    }
    return selector;
}

std::string LabelSelector::text() const {
    return value ? key + "=" + *value : key;
}

std::optional<ScopedRoute> scoped_route(std::string_view method, std::string_view route_path) {
    // Not HEAD: the length of the unfiltered answer would still tell what was hidden.
    const bool reading = method == "GET";
    if (reading && route_path == "/containers/json") {
        return ScopedRoute{ScopedRouteKind::container_list, {}, {}};
    }
    if (reading && route_path == "/events") {
        return ScopedRoute{ScopedRouteKind::events, {}, {}};
    }
    const std::vector<std::string_view> segments = route_segments(route_path);
    if (segments.size() < 2 || segments[0] != "containers" || segments[1].empty()) {
        return std::nullopt;
    }
    ScopedRoute route{ScopedRouteKind::container, std::string(segments[1]), {}};
    if (segments.size() == 2 && method == "DELETE") {
        return route;
    }
    if (segments.size() == 3 && contains(container_endpoints, segments[2])) {
        route.endpoint = std::string(segments[2]);
        return route;
    }
    if (segments.size() == 4 && segments[2] == "attach" && segments[3] == "ws") {
        route.endpoint = "attach/ws";
        return route;
    }
    return std::nullopt;
}

std::optional<std::string> filter_container_list(std::string_view body,
                                                 const std::vector<LabelSelector>& labels) {
    std::optional<json::value> document = parse_daemon_json(body);
    json::array* containers = document ? document->if_array() : nullptr;
    if (containers == nullptr) {
        return std::nullopt;
    }
    json::array visible;
    for (json::value& container : *containers) {
        json::object* object = container.if_object();
        if (object == nullptr) {
            return std::nullopt;
        }
        switch (labels_match(object->if_contains("Labels"), labels)) {
            case Match::yes:
                visible.push_back(std::move(container));
                break;
            case Match::no:
                break;
            case Match::unreadable:
                return std::nullopt;
        }
    }
    return serialise_daemon_json(visible);
}

EventVisibility event_visibility(std::string_view event, const std::vector<LabelSelector>& labels) {
    const std::optional<json::value> document = parse_daemon_json(event);
    const json::object* object = document ? document->if_object() : nullptr;
    if (object == nullptr) {
        return EventVisibility::unreadable;
    }
    const json::value* type = object->if_contains("Type");
    if (type == nullptr || !type->is_string()) {
        return EventVisibility::unreadable;
    }
    if (type->get_string() != "container") {
        return EventVisibility::hidden;
    }
    const json::value* actor = object->if_contains("Actor");
    const json::object* actor_object = actor ? actor->if_object() : nullptr;
    if (actor_object == nullptr) {
        return EventVisibility::unreadable;
    }
    switch (labels_match(actor_object->if_contains("Attributes"), labels)) {
        case Match::yes:
            return EventVisibility::visible;
        case Match::no:
            return EventVisibility::hidden;
        case Match::unreadable:
            break;
    }
    return EventVisibility::unreadable;
}

std::optional<ContainerIdentity> read_container_identity(std::string_view inspect_body,
                                                         const std::vector<LabelSelector>& labels) {
    const std::optional<json::value> document = parse_daemon_json(inspect_body);
    const json::object* object = document ? document->if_object() : nullptr;
    if (object == nullptr) {
        return std::nullopt;
    }
    const json::value* id = object->if_contains("Id");
    if (id == nullptr || !id->is_string() || !is_container_id(id->get_string())) {
        return std::nullopt;
    }
    const json::value* config = object->if_contains("Config");
    const json::object* config_object = config ? config->if_object() : nullptr;
    if (config_object == nullptr) {
        return std::nullopt;
    }
    const Match match = labels_match(config_object->if_contains("Labels"), labels);
    if (match == Match::unreadable) {
        return std::nullopt;
    }
    return ContainerIdentity{std::string(id->get_string()), match == Match::yes};
}

Target pinned_target(const Target& target, const ScopedRoute& route, std::string_view id) {
    Target pinned = target;
    pinned.route_path = "/containers/" + std::string(id);
    if (!route.endpoint.empty()) {
        pinned.route_path += "/" + route.endpoint;
    }
    const std::string version_prefix =
        target.api_version.empty() ? std::string() : "/v" + target.api_version;
    pinned.forward_target = encode_path(version_prefix + pinned.route_path);
    if (target.forward_target.find('?') != std::string::npos) {
        pinned.forward_target += '?';
        pinned.forward_target += target.query;
    }
    return pinned;
}

}  // namespace socket_proxy
