// What only the engine can tell apart: the question the session asks it about a reference,
// what its answer means, and the body rewritten to the ids it resolved.
#include <utility>

#include "body_checks.hpp"
#include "daemon_json.hpp"
#include "target.hpp"
#include "write_body.hpp"

namespace socket_proxy {

using namespace body_checks;

ScopedObject reference_object(const EngineReference& reference) {
    switch (reference.kind) {
        case EngineReference::Kind::network:
            return ScopedObject::network;
        case EngineReference::Kind::volume:
            return ScopedObject::volume;
        case EngineReference::Kind::namespace_owner:
        case EngineReference::Kind::container:
            break;
    }
    return ScopedObject::container;
}

std::string reference_target(const EngineReference& reference) {
    return describe_target(reference_object(reference), reference.name);
}

std::optional<WriteRefusal> judge_reference(const EngineReference& reference, unsigned status,
                                            std::string_view answer) {
    const bool container = reference.kind == EngineReference::Kind::namespace_owner;
    const std::string named = reference.where + " names " +
                              std::string(object_noun(reference_object(reference))) + " " +
                              reference.name;
    if (status == 404) {
        return WriteRefusal{403, named + ", which the engine does not know"};
    }
    if (status != 200) {
        return WriteRefusal{403, named + ", which the engine could not resolve (it answered " +
                                     std::to_string(status) + ")"};
    }
    const std::optional<json::value> document = parse_daemon_json(answer);
    const json::object* object = document ? document->if_object() : nullptr;
    const auto text = [](const json::object* from,
                         std::string_view key) -> std::optional<std::string> {
        const json::value* value =
            from ? from->if_contains(json::string_view(key.data(), key.size())) : nullptr;
        if (value && value->is_string()) {
            return std::string(value->get_string());
        }
        return std::nullopt;
    };
    if (container) {
        const json::value* host_config = object ? object->if_contains("HostConfig") : nullptr;
        const std::optional<std::string> mode =
            text(host_config ? host_config->if_object() : nullptr, reference.mode);
        if (!mode) {
            return WriteRefusal{502, named + ", whose " + reference.mode +
                                         " the engine's answer does not show readably"};
        }
        if (*mode == "host") {
            return WriteRefusal{403, named + ", whose " + reference.mode +
                                         " is the host's: joining it is joining the host's "
                                         "(body.host_namespaces)"};
        }
        if (mode->starts_with("container:")) {
            return WriteRefusal{403, named + ", which itself joins another container's " +
                                         reference.mode +
                                         " (the proxy follows no chain; "
                                         "body.host_namespaces)"};
        }
        return std::nullopt;
    }
    if (reference.kind != EngineReference::Kind::network) {
        return std::nullopt;  // a volume or container of an owner's: read_identity() judges it
    }
    const std::optional<std::string> name = text(object, "Name");
    const std::optional<std::string> driver = text(object, "Driver");
    if (!name || !driver) {
        return WriteRefusal{502, named + ", which the engine's answer does not describe readably"};
    }
    if (*name == "host" || *driver == "host") {
        return WriteRefusal{403, named + ", the host's network (body.host_namespaces)"};
    }
    return std::nullopt;
}

std::optional<std::string> pin_borrowed_namespaces(
    std::string_view body, const std::vector<std::pair<EngineReference, std::string>>& resolved) {
    ReadBody read = read_body(body);
    if (!read.document || !read.document->is_object()) {
        return std::nullopt;
    }
    json::object& top = read.document->get_object();
    for (const auto& [reference, id] : resolved) {
        if (reference.kind != EngineReference::Kind::namespace_owner) {
            continue;
        }
        json::object* owner = &top;
        std::string_view mode = reference.where;
        if (mode.starts_with("HostConfig.")) {
            json::value* host_config = field(top, "HostConfig");
            owner = host_config ? host_config->if_object() : nullptr;
            mode.remove_prefix(11);
        }
        json::value* value = owner ? field(*owner, mode) : nullptr;
        if (!value || !value->is_string() ||
            std::string_view(value->get_string()) != "container:" + reference.name) {
            return std::nullopt;  // not the body the references came from
        }
        *value = "container:" + id;
    }
    return serialise_daemon_json(*read.document);
}

}  // namespace socket_proxy
