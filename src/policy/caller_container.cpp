#include "caller_container.hpp"

#include <algorithm>
#include <boost/json/value.hpp>
#include <vector>

#include "daemon_json.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

std::string_view string_at(const json::object& object, std::string_view key) {
    const json::value* value = object.if_contains(key);
    if (value == nullptr || !value->is_string()) {
        return {};
    }
    return value->get_string();
}

bool is_full_container_id(std::string_view text) {
    if (text.size() != 64) {
        return false;
    }
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

// Every address the container has on its networks, as the engine reports them.
std::vector<IpAddress> network_addresses(const json::object& container) {
    std::vector<IpAddress> addresses;
    const json::value* settings = container.if_contains("NetworkSettings");
    if (settings == nullptr || !settings->is_object()) {
        return addresses;
    }
    const json::value* networks = settings->get_object().if_contains("Networks");
    if (networks == nullptr || !networks->is_object()) {
        return addresses;
    }
    for (const auto& network : networks->get_object()) {
        if (!network.value().is_object()) {
            continue;
        }
        for (const std::string_view field : {"IPAddress", "GlobalIPv6Address"}) {
            const std::string_view text = string_at(network.value().get_object(), field);
            if (text.empty()) {
                continue;
            }
            if (const auto address = IpAddress::parse(text)) {
                addresses.push_back(*address);
            }
        }
    }
    return addresses;
}

// "Labels" in a list entry, "Config.Labels" in an inspect answer.
void read_labels(const json::object& holder, CallerContainer& caller) {
    const json::value* labels = holder.if_contains("Labels");
    if (labels == nullptr || !labels->is_object()) {
        return;
    }
    for (const auto& label : labels->get_object()) {
        if (label.value().is_string()) {
            caller.labels.emplace(std::string(label.key()),
                                  std::string(label.value().get_string()));
        }
    }
}

std::shared_ptr<const CallerContainer> caller_from_list_entry(const json::object& entry) {
    auto caller = std::make_shared<CallerContainer>();
    caller->id = std::string(string_at(entry, "Id"));
    if (!is_full_container_id(caller->id)) {
        return nullptr;
    }
    // The list gives every name, links included ("/web/db"); the container's own is the one
    // without a second slash.
    if (const json::value* names = entry.if_contains("Names"); names && names->is_array()) {
        for (const json::value& name : names->get_array()) {
            if (!name.is_string()) {
                continue;
            }
            std::string_view text = name.get_string();
            if (text.starts_with('/')) {
                text.remove_prefix(1);
            }
            if (!text.empty() && text.find('/') == std::string_view::npos) {
                caller->name = std::string(text);
                break;
            }
        }
    }
    read_labels(entry, *caller);
    return caller;
}

}  // namespace

std::optional<std::string_view> CallerContainer::label(std::string_view key) const {
    if (const auto found = labels.find(key); found != labels.end()) {
        return std::string_view(found->second);
    }
    return std::nullopt;
}

bool ContainerAddresses::replace_from_list(std::string_view answer) {
    const std::optional<json::value> document = parse_daemon_json(answer);
    if (!document || !document->is_array()) {
        return false;
    }
    std::map<Key, std::shared_ptr<const CallerContainer>> fresh;
    for (const json::value& entry : document->get_array()) {
        if (!entry.is_object()) {
            return false;
        }
        const auto caller = caller_from_list_entry(entry.get_object());
        if (!caller) {
            return false;
        }
        for (const IpAddress& address : network_addresses(entry.get_object())) {
            const auto [slot, added] = fresh.try_emplace(Key{address.v6, address.bytes}, caller);
            if (!added && slot->second && slot->second->id != caller->id) {
                slot->second = nullptr;
            }
        }
    }
    by_address_ = std::move(fresh);
    return true;
}

std::shared_ptr<const CallerContainer> ContainerAddresses::owner(const IpAddress& address) const {
    const auto found = by_address_.find(Key{address.v6, address.bytes});
    return found == by_address_.end() ? nullptr : found->second;
}

void ContainerAddresses::forget_container(std::string_view id) {
    std::erase_if(by_address_, [id](const auto& entry) {
        // An address two containers claimed stays unknown: forgetting one of them does not
        // hand it to the other before the next list says so.
        return entry.second && entry.second->id == id;
    });
}

AddressChange address_change_from_event(std::string_view event) {
    const std::optional<json::value> document = parse_daemon_json(event);
    if (!document || !document->is_object()) {
        return {};
    }
    const json::object& object = document->get_object();
    const std::string_view type = string_at(object, "Type");
    const std::string_view action = string_at(object, "Action");
    const json::value* actor = object.if_contains("Actor");
    if (actor == nullptr || !actor->is_object()) {
        return {};
    }
    if (type == "container") {
        const std::string_view id = string_at(actor->get_object(), "ID");
        if (action == "die" || action == "stop" || action == "kill" || action == "destroy" ||
            action == "pause") {
            return {AddressChange::Kind::forget, std::string(id)};
        }
        if (action == "start" || action == "restart" || action == "unpause" || action == "rename") {
            return {AddressChange::Kind::reload, {}};
        }
        return {};
    }
    if (type == "network") {
        const json::value* attributes = actor->get_object().if_contains("Attributes");
        const std::string_view container = attributes && attributes->is_object()
                                               ? string_at(attributes->get_object(), "container")
                                               : std::string_view{};
        if (action == "disconnect") {
            return {AddressChange::Kind::forget, std::string(container)};
        }
        if (action == "connect") {
            return {AddressChange::Kind::reload, {}};
        }
    }
    return {};
}

std::shared_ptr<const CallerContainer> caller_from_inspect(std::string_view inspect,
                                                           const IpAddress* address) {
    const std::optional<json::value> document = parse_daemon_json(inspect);
    if (!document || !document->is_object()) {
        return nullptr;
    }
    const json::object& container = document->get_object();
    const json::value* state = container.if_contains("State");
    if (state == nullptr || !state->is_object()) {
        return nullptr;
    }
    const json::value* running = state->get_object().if_contains("Running");
    const json::value* paused = state->get_object().if_contains("Paused");
    if (running == nullptr || !running->is_bool() || !running->get_bool() ||
        (paused != nullptr && paused->is_bool() && paused->get_bool())) {
        return nullptr;
    }
    if (address != nullptr) {
        const std::vector<IpAddress> held = network_addresses(container);
        if (std::ranges::none_of(held, [address](const IpAddress& one) {
                return one.v6 == address->v6 && one.bytes == address->bytes;
            })) {
            return nullptr;
        }
    }
    auto caller = std::make_shared<CallerContainer>();
    caller->id = std::string(string_at(container, "Id"));
    if (!is_full_container_id(caller->id)) {
        return nullptr;
    }
    std::string_view name = string_at(container, "Name");
    if (name.starts_with('/')) {
        name.remove_prefix(1);
    }
    caller->name = std::string(name);
    if (const json::value* config = container.if_contains("Config");
        config && config->is_object()) {
        read_labels(config->get_object(), *caller);
    }
    return caller;
}

bool address_in_engine_networks(std::string_view networks, const IpAddress& address) {
    const std::optional<json::value> document = parse_daemon_json(networks);
    if (!document || !document->is_array()) {
        return false;
    }
    for (const json::value& network : document->get_array()) {
        const json::value* ipam =
            network.is_object() ? network.get_object().if_contains("IPAM") : nullptr;
        const json::value* configs =
            ipam && ipam->is_object() ? ipam->get_object().if_contains("Config") : nullptr;
        if (configs == nullptr || !configs->is_array()) {
            continue;
        }
        for (const json::value& config : configs->get_array()) {
            if (!config.is_object()) {
                continue;
            }
            const auto subnet = IpNetwork::parse(string_at(config.get_object(), "Subnet"));
            if (subnet && subnet->contains(address)) {
                return true;
            }
        }
    }
    return false;
}

namespace {

// The container id one cgroup path names, innermost last: "docker-ID.scope", "libpod-ID.scope",
// "libpod-ID", or "ID" right below a "docker" directory.
std::optional<std::string> container_id_in_path(std::string_view path) {
    std::optional<std::string> innermost;
    std::string_view parent;
    while (!path.empty()) {
        const std::size_t slash = path.find('/');
        std::string_view segment = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
        std::string_view candidate;
        if (segment.ends_with(".scope")) {
            segment.remove_suffix(6);
        }
        if (segment.starts_with("docker-") || segment.starts_with("libpod-")) {
            candidate = segment.substr(7);
        } else if (parent == "docker") {
            candidate = segment;
        }
        if (is_full_container_id(candidate)) {
            innermost = std::string(candidate);
        }
        parent = segment;
    }
    return innermost;
}

}  // namespace

std::optional<std::string> container_id_from_cgroup(std::string_view proc_cgroup) {
    std::optional<std::string> found;
    while (!proc_cgroup.empty()) {
        const std::size_t end = proc_cgroup.find('\n');
        const std::string_view line = proc_cgroup.substr(0, end);
        proc_cgroup =
            end == std::string_view::npos ? std::string_view{} : proc_cgroup.substr(end + 1);
        // "hierarchy-ID:controllers:path"
        const std::size_t first = line.find(':');
        const std::size_t second =
            first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) {
            continue;
        }
        const std::optional<std::string> id = container_id_in_path(line.substr(second + 1));
        if (!id) {
            continue;
        }
        if (found && *found != *id) {
            return std::nullopt;
        }
        found = id;
    }
    return found;
}

}  // namespace socket_proxy
