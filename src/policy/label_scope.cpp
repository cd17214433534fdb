#include "label_scope.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "daemon_json.hpp"
#include "route.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

constexpr std::size_t full_id_length = 64;

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

// Containers' and networks' ids.
bool is_full_id(std::string_view id) {
    return id.size() == full_id_length && std::all_of(id.begin(), id.end(), [](char c) {
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

namespace {

// The owner rules' routes of volumes and networks, and the prunes; nullopt for any other.
std::optional<ScopedRoute> owner_route(std::string_view method,
                                       const std::vector<std::string_view>& segments) {
    const std::string_view collection = segments.front();
    const bool volumes = collection == "volumes";
    const bool networks = collection == "networks";
    if (method == "POST" && segments.size() == 2 && segments[1] == "prune" &&
        (volumes || networks || collection == "containers")) {
        return ScopedRoute{ScopedRouteKind::prune, {}, {}};
    }
    if (!volumes && !networks) {
        return std::nullopt;
    }
    // The daemon routes GET /networks/ to the list too; GET /volumes/ is a volume named "".
    if (method == "GET" &&
        (segments.size() == 1 || (networks && segments.size() == 2 && segments[1].empty()))) {
        return ScopedRoute{
            volumes ? ScopedRouteKind::volume_list : ScopedRouteKind::network_list, {}, {}};
    }
    if (segments.size() < 2 || segments[1].empty()) {
        return std::nullopt;
    }
    ScopedRoute route{
        volumes ? ScopedRouteKind::volume : ScopedRouteKind::network, std::string(segments[1]), {}};
    if (segments.size() == 2 && (method == "GET" || method == "DELETE")) {
        return route;
    }
    if (networks && segments.size() == 3 && method == "POST" &&
        (segments[2] == "connect" || segments[2] == "disconnect")) {
        route.endpoint = std::string(segments[2]);
        return route;
    }
    return std::nullopt;
}

// The daemon's route prefix: "containers", "volumes", "networks", "exec".
std::string collection_of(ScopedObject object) {
    return object == ScopedObject::exec ? "exec" : std::string(object_noun(object)) + "s";
}

// Keeps the objects whose labels match; false when one is not an object the proxy can read.
bool keep_visible(json::array& objects, const std::vector<LabelSelector>& labels) {
    json::array visible;
    for (json::value& item : objects) {
        json::object* object = item.if_object();
        if (object == nullptr) {
            return false;
        }
        switch (labels_match(object->if_contains("Labels"), labels)) {
            case Match::yes:
                visible.push_back(std::move(item));
                break;
            case Match::no:
                break;
            case Match::unreadable:
                return false;
        }
    }
    objects = std::move(visible);
    return true;
}

// A prune's filters as the daemon's filters.FromJSON reads them, each key's values as a set:
// {"label": {"a=b": true}}, or the legacy {"label": ["a=b"]}. nullopt for anything else.
std::optional<json::object> read_prune_filters(std::string_view text) {
    json::object filters;
    if (text.empty()) {
        return filters;
    }
    std::optional<json::value> document = parse_daemon_json(text);
    if (!document || document->is_null()) {
        return document ? std::optional(filters) : std::nullopt;
    }
    const json::object* given = document->if_object();
    if (given == nullptr) {
        return std::nullopt;
    }
    for (const auto& [key, values] : *given) {
        json::object set;
        if (const json::object* map = values.if_object()) {
            for (const auto& [value, flag] : *map) {
                if (!flag.is_bool()) {
                    return std::nullopt;
                }
                set[value] = true;
            }
        } else if (const json::array* list = values.if_array()) {
            for (const json::value& value : *list) {
                if (!value.is_string()) {
                    return std::nullopt;
                }
                set[value.get_string()] = true;
            }
        } else {
            return std::nullopt;
        }
        filters[key] = std::move(set);
    }
    return filters;
}

}  // namespace

std::optional<ScopedRoute> scoped_route(std::string_view method, std::string_view route_path,
                                        bool owner) {
    // Not HEAD: the length of the unfiltered answer would still tell what was hidden.
    const bool reading = method == "GET";
    if (reading && route_path == "/containers/json") {
        return ScopedRoute{ScopedRouteKind::container_list, {}, {}};
    }
    if (reading && route_path == "/events") {
        return ScopedRoute{ScopedRouteKind::events, {}, {}};
    }
    const std::vector<std::string_view> segments = route_segments(route_path);
    if (owner) {
        if (std::optional<ScopedRoute> route = owner_route(method, segments)) {
            return route;
        }
    }
    if (segments.size() == 3 && segments[0] == "exec" && !segments[1].empty() &&
        ((method == "POST" && (segments[2] == "start" || segments[2] == "resize")) ||
         (reading && segments[2] == "json"))) {
        return ScopedRoute{ScopedRouteKind::exec, std::string(segments[1]),
                           std::string(segments[2])};
    }
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

ScopedObject scoped_object(ScopedRouteKind kind) {
    switch (kind) {
        case ScopedRouteKind::volume_list:
        case ScopedRouteKind::volume:
            return ScopedObject::volume;
        case ScopedRouteKind::network_list:
        case ScopedRouteKind::network:
            return ScopedObject::network;
        case ScopedRouteKind::exec:
            return ScopedObject::exec;
        default:
            break;
    }
    return ScopedObject::container;
}

bool names_one_object(ScopedRouteKind kind) {
    return kind == ScopedRouteKind::container || kind == ScopedRouteKind::volume ||
           kind == ScopedRouteKind::network || kind == ScopedRouteKind::exec;
}

std::string_view object_noun(ScopedObject object) {
    switch (object) {
        case ScopedObject::volume:
            return "volume";
        case ScopedObject::network:
            return "network";
        case ScopedObject::exec:
            return "exec instance";
        case ScopedObject::container:
            break;
    }
    return "container";
}

std::string absent_message(ScopedObject object, std::string_view reference) {
    switch (object) {
        case ScopedObject::volume:
            return "get " + std::string(reference) + ": no such volume";
        case ScopedObject::network:
            return "network " + std::string(reference) + " not found";
        case ScopedObject::exec:
            return "No such exec instance: " + std::string(reference);
        case ScopedObject::container:
            break;
    }
    return "No such container: " + std::string(reference);
}

std::optional<std::string> filter_list(ScopedRouteKind list, std::string_view body,
                                       const std::vector<LabelSelector>& labels) {
    std::optional<json::value> document = parse_daemon_json(body);
    if (!document) {
        return std::nullopt;
    }
    json::array* objects = document->if_array();
    if (list == ScopedRouteKind::volume_list) {
        json::object* top = document->if_object();
        json::value* volumes = top ? top->if_contains("Volumes") : nullptr;
        if (volumes != nullptr && volumes->is_null()) {
            return serialise_daemon_json(*document);  // no volumes at all
        }
        objects = volumes ? volumes->if_array() : nullptr;
    }
    if (objects == nullptr || !keep_visible(*objects, labels)) {
        return std::nullopt;
    }
    return serialise_daemon_json(*document);
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

std::string describe_target(ScopedObject object, std::string_view reference) {
    std::string target = "/" + collection_of(object) + "/" + encode_path(reference);
    return object == ScopedObject::container || object == ScopedObject::exec ? target + "/json"
                                                                             : target;
}

std::optional<ObjectIdentity> read_identity(ScopedObject object, std::string_view description,
                                            const std::vector<LabelSelector>& labels) {
    const std::optional<json::value> document = parse_daemon_json(description);
    const json::object* top = document ? document->if_object() : nullptr;
    if (top == nullptr) {
        return std::nullopt;
    }
    // A volume is known by its name alone; containers and networks by their ids.
    const bool volume = object == ScopedObject::volume;
    const json::value* id = top->if_contains(volume                         ? "Name"
                                             : object == ScopedObject::exec ? "ID"
                                                                            : "Id");
    const json::string* id_text = id ? id->if_string() : nullptr;
    if (id_text == nullptr || (volume ? id_text->empty() : !is_full_id(*id_text))) {
        return std::nullopt;
    }
    if (object == ScopedObject::exec) {
        const json::value* container = top->if_contains("ContainerID");
        const json::string* container_id = container ? container->if_string() : nullptr;
        if (container_id == nullptr || !is_full_id(*container_id)) {
            return std::nullopt;
        }
        return ObjectIdentity{std::string(*id_text), false, std::string(*container_id)};
    }
    const json::object* labelled = top;
    if (object == ScopedObject::container) {
        const json::value* config = top->if_contains("Config");
        labelled = config ? config->if_object() : nullptr;
        if (labelled == nullptr) {
            return std::nullopt;
        }
    }
    const Match match = labels_match(labelled->if_contains("Labels"), labels);
    if (match == Match::unreadable) {
        return std::nullopt;
    }
    return ObjectIdentity{std::string(*id_text), match == Match::yes, {}};
}

Target pinned_target(const Target& target, const ScopedRoute& route, std::string_view id) {
    Target pinned = target;
    pinned.route_path = "/" + collection_of(scoped_object(route.kind)) + "/" + std::string(id);
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

std::optional<std::string> narrowed_prune_query(std::string_view query,
                                                const LabelSelector& owner) {
    const std::optional<QueryValues> values = parse_query(query);
    if (!values) {
        return std::nullopt;
    }
    // The daemon reads the first `filters` (Go's Form.Get); the others are dropped with it.
    QueryValues narrowed;
    std::optional<std::string> given;
    for (const auto& [key, value] : *values) {
        if (key != "filters") {
            narrowed.emplace_back(key, value);
        } else if (!given) {
            given = value;
        }
    }
    std::optional<json::object> filters = read_prune_filters(given.value_or(""));
    if (!filters) {
        return std::nullopt;
    }
    json::value& labels = (*filters)["label"];
    if (labels.is_null()) {
        labels = json::object();
    }
    labels.get_object()[owner.text()] = true;
    narrowed.emplace_back("filters", json::serialize(*filters));
    return encode_query(narrowed);
}

}  // namespace socket_proxy
