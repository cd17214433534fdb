// What a swarm service's spec asks for (POST /services/create and /services/{id}/update): its
// containers' image, mounts and capabilities, the secrets and configs it mounts, its networks.
#include <algorithm>

#include "body_checks.hpp"

namespace socket_proxy::body_checks {

namespace {

// A service that mounts a secret can print it into its logs, which read-only rules serve:
// each reference must name an allowed secret (or config). Swarmkit's control API refuses a
// reference whose SecretName is not the name of the secret its SecretID points to
// (checkSecretExistence, and checkConfigExistence alike), so the name is what is mounted.
void check_references(Verdicts& verdicts, const std::string& where, const json::value* references,
                      std::string_view name_field, const std::vector<std::string>& allowed,
                      std::string_view setting) {
    if (!references) {
        return;
    }
    if (!references->is_array()) {
        verdicts.refuse_unreadable(where, "a list");
        return;
    }
    std::size_t index = 0;
    for (const auto& reference : references->get_array()) {
        const std::string at = where + "[" + std::to_string(index++) + "]";
        const json::value* name =
            reference.is_object() ? field(reference.get_object(), name_field) : nullptr;
        if (!name || !name->is_string()) {
            verdicts.refuse(at, "names no " + std::string(name_field) + " the proxy can check",
                            setting);
            continue;
        }
        const std::string_view wanted(name->get_string());
        if (std::find(allowed.begin(), allowed.end(), wanted) == allowed.end()) {
            verdicts.refuse(at, "mounts " + std::string(wanted) + ", which is not allowed",
                            setting);
        }
    }
}

// A Target is resolved by the engine as a name, an id or an id prefix (swarmkit's, then the
// local engine's predefined networks): only the name "host" is plain here, every other target
// is asked about.
void check_networks(Verdicts& verdicts, const std::string& where, const json::value* networks) {
    if (!networks || !networks->is_array()) {
        return;
    }
    for (const auto& network : networks->get_array()) {
        const json::value* target =
            network.is_object() ? field(network.get_object(), "Target") : nullptr;
        if (target && target->is_string() && target->get_string() == "host") {
            verdicts.refuse(where, "attaches the host network", "host_namespaces");
        } else if (target && target->is_string()) {
            verdicts.ask_engine(
                {EngineReference::Kind::network, where, std::string(target->get_string()), ""});
        } else if (target) {
            verdicts.refuse_unreadable(where + "[].Target", "a string");
        }
    }
}

}  // namespace

void check_service(Verdicts& verdicts, const json::object& body) {
    const json::value* task = field(body, "TaskTemplate");
    if (task && !task->is_object()) {
        verdicts.refuse_unreadable("TaskTemplate", "an object");
        return;
    }
    const json::object empty;
    const json::object& template_spec = task ? task->get_object() : empty;
    const json::value* container = field(template_spec, "ContainerSpec");
    if (container && container->is_object()) {
        const json::object& spec = container->get_object();
        const std::string at = "TaskTemplate.ContainerSpec.";
        check_image(verdicts, at + "Image", field(spec, "Image"));
        check_mounts(verdicts, at + "Mounts", field(spec, "Mounts"));
        check_capabilities(verdicts, at + "CapabilityAdd", field(spec, "CapabilityAdd"));
        if (!verdicts.limits.unconfined && nonempty(field(spec, "Privileges"))) {
            verdicts.refuse(at + "Privileges", "is set (seccomp, AppArmor, SELinux, credentials)",
                            "unconfined");
        }
        check_references(verdicts, at + "Secrets", field(spec, "Secrets"), "SecretName",
                         verdicts.limits.secrets, "secrets");
        check_references(verdicts, at + "Configs", field(spec, "Configs"), "ConfigName",
                         verdicts.limits.configs, "configs");
    } else if (container) {
        verdicts.refuse_unreadable("TaskTemplate.ContainerSpec", "an object");
    } else if (!verdicts.limits.unconfined && field(template_spec, "PluginSpec")) {
        verdicts.refuse("TaskTemplate.PluginSpec", "installs a plugin on every node",
                        "plugin_privileges");
    }
    if (!verdicts.limits.host_namespaces) {
        check_networks(verdicts, "TaskTemplate.Networks", field(template_spec, "Networks"));
        check_networks(verdicts, "Networks", field(body, "Networks"));
    }
}

}  // namespace socket_proxy::body_checks
