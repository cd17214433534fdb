// What an owner rule reads and writes in a body (write_body.hpp): the volumes, containers and
// networks it names, which must be the client's own, the owner's label on what it creates, and
// the ids the names were resolved to.
//
// Facts, measured on Docker 20.10: a container's networks are resolved again at each start,
// and an EndpointsConfig entry's NetworkID wins over its key (an entry "mine" with the NetworkID
// of another network joins that other network). A volume that Mounts names and that does not
// exist is created with the mount's VolumeOptions.Labels.
#include <string>
#include <utility>

#include "body_checks.hpp"
#include "daemon_json.hpp"
#include "route.hpp"
#include "write_body.hpp"

namespace socket_proxy {
using namespace body_checks;

namespace {

using Kind = EngineReference::Kind;
using Resolved = std::vector<std::pair<EngineReference, std::string>>;

// The engine's own networks, which no one owns: a container joins them by these names.
bool built_in_network(std::string_view name) {
    return name == "bridge" || name == "host" || name == "none" || name == "default";
}

// The network a NetworkMode names, or "" for none of a client's own: empty, a built-in one, or
// container:X (another container's namespace, judged as one). Go compares these exactly.
std::string_view network_of_mode(const json::value* mode) {
    const std::string_view text =
        mode && mode->is_string() ? std::string_view(mode->get_string()) : std::string_view();
    if (built_in_network(text) || text.starts_with("container:")) {
        return {};
    }
    return text;
}

// The member Go's decoder reads for `name` (read_body refused a body with two that fold
// alike), added when absent.
json::value& member_of(json::object& object, std::string_view name) {
    for (auto& member : object) {
        if (go_fold_equals(std::string_view(member.key().data(), member.key().size()), name)) {
            return member.value();
        }
    }
    return object[name];
}

// An object member, made an object when absent or null; nullptr when it is something else.
json::object* object_member(json::object& object, std::string_view name) {
    json::value& value = member_of(object, name);
    if (value.is_null()) {
        value = json::object();
    }
    return value.if_object();
}

// A map key is exact in Go: whatever value the client gave the owner's key is replaced.
bool stamp(json::object& holder, const LabelSelector& owner) {
    json::object* labels = object_member(holder, "Labels");
    if (labels == nullptr) {
        return false;
    }
    (*labels)[owner.key] = owner.value.value_or("");
    return true;
}

// Walks the references of a body: collects them, or, given the ids they were resolved to (and
// the owner), pins them and stamps the volumes Mounts create.
class OwnedWalk {
  public:
    OwnedWalk(const Resolved* resolved, const LabelSelector* owner)
        : resolved_(resolved), owner_(owner) {}

    std::vector<EngineReference> references;
    std::optional<WriteRefusal> refusal;
    bool failed = false;  // pinning: the body is not the one the references came from

    void body(WriteKind kind, json::object& top) {
        switch (kind) {
            case WriteKind::container_create:
                host_configs(top);
                endpoints(top);
                break;
            case WriteKind::container_start:
                host_configs(top);
                break;
            case WriteKind::volume_create:
                if (const json::value* name = field(top, "Name"); name && name->is_string() &&
                                                                  !name->get_string().empty() &&
                                                                  resolved_ == nullptr) {
                    references.push_back(EngineReference{
                        Kind::volume, "Name", std::string(name->get_string()), {}, true});
                }
                break;
            case WriteKind::network_create:
                config_from(top);
                break;
            case WriteKind::network_attach:
                attach(top);
                break;
            default:
                break;
        }
    }

  private:
    const Resolved* resolved_;
    const LabelSelector* owner_;
    std::string mode_network_;  // the network the effective NetworkMode names

    template <class Pin>
    void named(Kind kind, std::string where, std::string_view name, Pin pin) {
        if (resolved_ == nullptr) {
            references.push_back(EngineReference{kind, std::move(where), std::string(name), {}});
            return;
        }
        for (const auto& [reference, id] : *resolved_) {
            if (reference.kind == kind && reference.name == name) {
                pin(id);
                return;
            }
        }
        failed = true;
    }

    // Both places the daemon reads a HostConfig from (container_body.cpp).
    void host_configs(json::object& top) {
        host_config(top, "");
        json::value* inner = field(top, "HostConfig");
        if (inner != nullptr && inner->is_object()) {
            host_config(inner->get_object(), "HostConfig.");
        }
    }

    void host_config(json::object& config, const std::string& prefix) {
        if (json::value* binds = field(config, "Binds"); binds && binds->is_array()) {
            std::size_t index = 0;
            for (const json::value& bind : binds->get_array()) {
                const std::string at = prefix + "Binds[" + std::to_string(index++) + "]";
                const std::string_view text =
                    bind.is_string() ? std::string_view(bind.get_string()) : std::string_view();
                const std::vector<std::string_view> parts = split(text, ':');
                // "name:/dst" mounts a volume; "/src:/dst" a host path, ":/dst" an anonymous one.
                if (parts.size() > 1 && !parts[0].empty() && parts[0].front() != '/') {
                    named(Kind::volume, at, parts[0], [](const std::string&) {});
                }
            }
        }
        if (json::value* mounts = field(config, "Mounts"); mounts && mounts->is_array()) {
            std::size_t index = 0;
            for (json::value& mount : mounts->get_array()) {
                const std::string at = prefix + "Mounts[" + std::to_string(index++) + "]";
                if (mount.is_object()) {
                    volume_mount(mount.get_object(), at);
                }
            }
        }
        if (json::value* from = field(config, "VolumesFrom"); from && from->is_array()) {
            std::size_t index = 0;
            for (json::value& entry : from->get_array()) {
                if (!entry.is_string()) {
                    continue;
                }
                // "name[:ro|rw]": the container is what comes before the first ':'.
                const std::string text(entry.get_string());
                const std::size_t colon = text.find(':');
                const std::string mode = colon == std::string::npos ? "" : text.substr(colon);
                named(Kind::container, prefix + "VolumesFrom[" + std::to_string(index++) + "]",
                      std::string_view(text).substr(0, colon),
                      [&entry, &mode](const std::string& id) { entry = id + mode; });
            }
        }
        if (const std::string_view network = network_of_mode(field(config, "NetworkMode"));
            !network.empty()) {
            if (!mode_network_.empty() && mode_network_ != network) {
                refusal = WriteRefusal{403,
                                       "NetworkMode and HostConfig.NetworkMode name two "
                                       "networks; the proxy cannot tell which one joins"};
            }
            mode_network_ = std::string(network);
            named(Kind::network, prefix + "NetworkMode", network, [](const std::string&) {});
        }
    }

    void volume_mount(json::object& mount, const std::string& at) {
        const json::value* type = field(mount, "Type");
        if (type == nullptr || !type->is_string() || type->get_string() != "volume") {
            return;
        }
        const json::value* source = field(mount, "Source");
        if (source != nullptr && source->is_string() && !source->get_string().empty()) {
            named(Kind::volume, at + ".Source", std::string_view(source->get_string()),
                  [](const std::string&) {});
        }
        // Whatever volume the mount creates, anonymous or named, is the owner's.
        if (owner_ != nullptr) {
            json::object* options = object_member(mount, "VolumeOptions");
            failed = failed || options == nullptr || !stamp(*options, *owner_);
        }
    }

    // Each entry joins the network its NetworkID names, else its key; pinned by setting its
    // NetworkID. The NetworkMode's network gets an entry of its own to pin it.
    void endpoints(json::object& top) {
        json::value* networking = field(top, "NetworkingConfig");
        json::value* endpoints = networking && networking->is_object()
                                     ? field(networking->get_object(), "EndpointsConfig")
                                     : nullptr;
        if (endpoints != nullptr && endpoints->is_object()) {
            for (auto& [key, settings] : endpoints->get_object()) {
                endpoint(std::string_view(key.data(), key.size()), settings);
            }
        }
        if (resolved_ == nullptr || mode_network_.empty()) {
            return;
        }
        json::object* networking_object = object_member(top, "NetworkingConfig");
        json::object* endpoints_object =
            networking_object ? object_member(*networking_object, "EndpointsConfig") : nullptr;
        if (endpoints_object == nullptr) {
            failed = true;
            return;
        }
        if (!endpoints_object->contains(mode_network_)) {
            json::value& settings = (*endpoints_object)[mode_network_];
            named(Kind::network, "NetworkMode", mode_network_, [&settings](const std::string& id) {
                settings = json::object{{"NetworkID", id}};
            });
        }
    }

    void endpoint(std::string_view key, json::value& settings) {
        const std::string at = "NetworkingConfig.EndpointsConfig[" + std::string(key) + "]";
        const json::object* given = settings.if_object();
        const json::value* network_id = given ? field(*given, "NetworkID") : nullptr;
        const auto pin = [&settings](const std::string& id) {
            if (settings.is_null()) {
                settings = json::object();
            }
            if (settings.is_object()) {
                member_of(settings.get_object(), "NetworkID") = id;
            }
        };
        if (network_id != nullptr && network_id->is_string() && !network_id->get_string().empty()) {
            named(Kind::network, at + ".NetworkID", std::string_view(network_id->get_string()),
                  pin);
        } else if (!built_in_network(key)) {
            named(Kind::network, at, key, pin);
        }
    }

    // A connect or disconnect: the container, and the network the engine prefers to the path's.
    void attach(json::object& top) {
        if (json::value* container = field(top, "Container");
            container && container->is_string() && !container->get_string().empty()) {
            const std::string name(container->get_string());
            named(Kind::container, "Container", name,
                  [container](const std::string& id) { *container = id; });
        }
        json::value* config = field(top, "EndpointConfig");
        json::value* network_id =
            config && config->is_object() ? field(config->get_object(), "NetworkID") : nullptr;
        if (network_id != nullptr && network_id->is_string() && !network_id->get_string().empty()) {
            const std::string name(network_id->get_string());
            named(Kind::network, "EndpointConfig.NetworkID", name,
                  [network_id](const std::string& id) { *network_id = id; });
        }
    }

    // A network created from a config-only network takes its driver and options.
    void config_from(json::object& top) {
        const json::value* from = field(top, "ConfigFrom");
        const json::value* network =
            from && from->is_object() ? field(from->get_object(), "Network") : nullptr;
        if ((from != nullptr && !from->is_object()) ||
            (network != nullptr && !(network->is_string() && network->get_string().empty()))) {
            refusal = WriteRefusal{403,
                                   "ConfigFrom takes another network's configuration, which "
                                   "an owner rule cannot tell is the client's own"};
        }
    }
};

// The kinds whose body an owner rule reads or writes; a start's body only when the daemon
// reads it (write_body.cpp).
bool owner_reads(WriteKind kind, std::string_view body) {
    return creates_object(kind) || kind == WriteKind::network_attach ||
           (kind == WriteKind::container_start && body.size() > 7);
}

}  // namespace

WriteJudgement owned_references(WriteKind kind, std::string_view body) {
    if (!owner_reads(kind, body)) {
        return {};
    }
    ReadBody read = read_body(body);
    if (!read.document || !read.document->is_object()) {
        return {read.problem.value_or(WriteRefusal{403, "the body is not a JSON object"}), {}};
    }
    OwnedWalk walk(nullptr, nullptr);
    walk.body(kind, read.document->get_object());
    if (walk.refusal) {
        return {walk.refusal, {}};
    }
    return {std::nullopt, std::move(walk.references)};
}

std::optional<std::string> owner_body(WriteKind kind, std::string_view body,
                                      const LabelSelector& owner, const Resolved& resolved) {
    if (!owner_reads(kind, body)) {
        return std::string(body);
    }
    ReadBody read = read_body(body);
    if (!read.document || !read.document->is_object()) {
        return std::nullopt;
    }
    json::object& top = read.document->get_object();
    if (creates_object(kind) && !stamp(top, owner)) {
        return std::nullopt;
    }
    OwnedWalk walk(&resolved, &owner);
    walk.body(kind, top);
    if (walk.failed) {
        return std::nullopt;
    }
    return serialise_daemon_json(*read.document);
}

}  // namespace socket_proxy
