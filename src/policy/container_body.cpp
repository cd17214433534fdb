// What a container's HostConfig asks of the host (POST /containers/create, a pre-1.24 start,
// update), and which images a rule lets it run.
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <span>
#include <utility>

#include "body_checks.hpp"
#include "go_text.hpp"
#include "write_body.hpp"

namespace socket_proxy {
namespace body_checks {

namespace {

// What Docker 20.10 (oci/defaults.go) hides from and makes read-only in every container.
constexpr std::string_view docker_masked_paths[] = {
    "/proc/asound",        "/proc/acpi",       "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware"};
constexpr std::string_view docker_readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq",
                                                      "/proc/sys", "/proc/sysrq-trigger"};

// The SecurityOpt entries that keep the container confined; any other is refused.
bool confining_security_option(std::string_view option) {
    std::string lower(option);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::size_t separator = lower.find_first_of("=:");
    const std::string_view key = std::string_view(lower).substr(0, separator);
    const std::string_view value = separator == std::string::npos
                                       ? std::string_view{}
                                       : std::string_view(lower).substr(separator + 1);
    if (key == "no-new-privileges") {
        return value.empty() || value == "true";
    }
    if (key == "apparmor") {
        return !value.empty() && value != "unconfined";
    }
    if (key == "label") {
        return value.starts_with("user:") || value.starts_with("role:") ||
               value.starts_with("type:") || value.starts_with("level:");
    }
    return false;  // seccomp profiles, systempaths=unconfined, label=disable, the unknown
}

// One of the namespace modes, `where` naming it ("HostConfig.PidMode").
void check_namespace_mode(Verdicts& verdicts, const std::string& where, std::string_view mode,
                          const json::value& value) {
    if (!value.is_string()) {
        verdicts.refuse_unreadable(where, "a string");
        return;
    }
    const std::string_view text(value.get_string());
    const std::string folded = go_fold(text);
    if (folded == "host") {
        verdicts.refuse(where, "is host, the host's own namespace", "host_namespaces");
    } else if (text.starts_with("container:") && text.size() > 10 &&
               (mode == "NetworkMode" || mode == "PidMode" || mode == "IpcMode")) {
        // Measured: --network container:X, with X on the host network, lists the host's
        // interfaces; --pid container:Y, Y with --pid host, the host's processes. So the engine
        // is asked what X's own mode is. (Go reads the prefix case-sensitively; the engine
        // stores the id it resolved X to.)
        verdicts.ask_engine({EngineReference::Kind::namespace_owner, where,
                             std::string(text.substr(10)), std::string(mode)});
    } else if (folded.starts_with("container:")) {
        // Docker 20.10 creates UTSMode and UsernsMode container:X too (the UTS stayed the
        // container's own), and a prefix spelled in another case is no mode Go knows: refused,
        // on doubt.
        verdicts.refuse(where,
                        "is " + std::string(text) +
                            ", which joins that container's namespace, and it may be the host's",
                        "host_namespaces");
    }
}

void check_namespace_modes(Verdicts& verdicts, const std::string& prefix,
                           const json::object& config) {
    // Not CgroupnsMode: "host" is Docker's own default on cgroup v1 hosts (inspect shows it,
    // and Watchtower sends it back), and it shows cgroup paths, not host processes.
    for (const std::string_view mode :
         {"NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode"}) {
        if (const json::value* value = field(config, mode)) {
            check_namespace_mode(verdicts, prefix + std::string(mode), mode, *value);
        }
    }
}

void check_security_options(Verdicts& verdicts, const std::string& where,
                            const json::value* options) {
    if (!options) {
        return;
    }
    const auto entries = strings_of(*options);
    if (!entries) {
        verdicts.refuse_unreadable(where, "a list of strings");
        return;
    }
    for (const std::string& option : *entries) {
        if (!confining_security_option(option)) {
            verdicts.refuse(where, "has \"" + option + "\", which lifts a confinement",
                            "unconfined");
        }
    }
}

// A list without Docker's defaults unmasks /proc and /sys paths (systempaths=unconfined sends
// []); the defaults themselves come back from inspect in every recreated container, so a list
// that keeps them all is allowed.
void check_masked_paths(Verdicts& verdicts, const std::string& prefix, const json::object& config) {
    for (const auto& [name, defaults] :
         {std::pair{std::string_view("MaskedPaths"),
                    std::span<const std::string_view>(docker_masked_paths)},
          std::pair{std::string_view("ReadonlyPaths"),
                    std::span<const std::string_view>(docker_readonly_paths)}}) {
        const json::value* paths = field(config, name);
        if (!paths) {
            continue;
        }
        const std::string where = prefix + std::string(name);
        const auto listed = strings_of(*paths);
        if (!listed || paths->is_string()) {
            verdicts.refuse_unreadable(where, "a list of strings");
            continue;
        }
        for (const std::string_view path : defaults) {
            if (std::find(listed->begin(), listed->end(), path) == listed->end()) {
                verdicts.refuse(
                    where,
                    "leaves out " + std::string(path) + ", which Docker masks from every container",
                    "unconfined");
                break;
            }
        }
    }
}

}  // namespace

void check_capabilities(Verdicts& verdicts, const std::string& where, const json::value* caps) {
    if (!caps) {
        return;
    }
    const auto names = strings_of(*caps);
    if (!names) {
        verdicts.refuse_unreadable(where, "a list of strings");
        return;
    }
    const auto& allowed = verdicts.limits.capabilities;
    const bool any = std::find(allowed.begin(), allowed.end(), "ALL") != allowed.end();
    for (const std::string& name : *names) {
        const std::string capability = capability_name(name);
        if (!any && std::find(allowed.begin(), allowed.end(), capability) == allowed.end()) {
            verdicts.refuse(where, "adds the capability " + name + ", which is not allowed",
                            "capabilities");
        }
    }
}

void check_host_config(Verdicts& verdicts, const std::string& prefix, const json::object& config) {
    const WriteLimits& limits = verdicts.limits;
    const auto at = [&](std::string_view name) { return prefix + std::string(name); };
    if (!limits.privileged && is_true(field(config, "Privileged"))) {
        verdicts.refuse(at("Privileged"), "is true", "privileged");
    }
    if (!limits.host_namespaces) {
        check_namespace_modes(verdicts, prefix, config);
    }
    check_capabilities(verdicts, at("CapAdd"), field(config, "CapAdd"));
    if (!limits.unconfined && nonempty(field(config, "Capabilities"))) {
        verdicts.refuse(at("Capabilities"), "sets the capabilities", "capabilities");
    }
    if (!limits.devices) {
        for (const std::string_view name : {"Devices", "DeviceCgroupRules", "DeviceRequests"}) {
            if (nonempty(field(config, name))) {
                verdicts.refuse(at(name), "gives the container host devices", "devices");
            }
        }
    }
    if (!limits.unconfined) {
        check_security_options(verdicts, at("SecurityOpt"), field(config, "SecurityOpt"));
        check_masked_paths(verdicts, prefix, config);
    }
    check_binds(verdicts, at("Binds"), field(config, "Binds"));
    check_mounts(verdicts, at("Mounts"), field(config, "Mounts"));
    if (!limits.volumes_from && nonempty(field(config, "VolumesFrom"))) {
        verdicts.refuse(at("VolumesFrom"), "mounts another container's volumes", "volumes_from");
    }
    if (!limits.links && nonempty(field(config, "Links"))) {
        verdicts.refuse(at("Links"),
                        "copies the environment of the containers it links to, secrets included",
                        "links");
    }
}

// Wildcards: "*" alone (any), or a final "/*" (any repository below).
bool image_allowed(std::string_view reference, const std::vector<std::string>& allowed) {
    if (allowed.empty()) {
        return true;
    }
    const std::string repository = image_repository(reference);
    for (const std::string& pattern : allowed) {
        if (pattern == "*") {
            return true;
        }
        const std::string wanted = pattern.ends_with("/*")
                                       ? image_repository(pattern.substr(0, pattern.size() - 2))
                                       : image_repository(pattern);
        if (pattern.ends_with("/*") ? repository.starts_with(wanted + "/") : repository == wanted) {
            return true;
        }
    }
    return false;
}

void check_image(Verdicts& verdicts, const std::string& where, const json::value* image) {
    if (verdicts.limits.images.empty()) {
        return;
    }
    if (!image || !image->is_string()) {
        verdicts.refuse(where, "names no image the proxy can check against the allowed ones",
                        "images");
        return;
    }
    const std::string_view reference(image->get_string());
    if (!image_allowed(reference, verdicts.limits.images)) {
        verdicts.refuse(where, "is " + std::string(reference) + ", not an allowed image", "images");
    }
}

// Both places runconfig's ContainerConfigWrapper reads a HostConfig from: the "HostConfig"
// key and, when that is absent, the top level (Docker 20.10, measured).
void check_host_configs(Verdicts& verdicts, const json::object& body) {
    check_host_config(verdicts, "", body);
    if (const json::value* host_config = field(body, "HostConfig")) {
        if (!host_config->is_object()) {
            verdicts.refuse_unreadable("HostConfig", "an object");
            return;
        }
        check_host_config(verdicts, "HostConfig.", host_config->get_object());
    }
}

void check_container_create(Verdicts& verdicts, const json::object& body) {
    check_image(verdicts, "Image", field(body, "Image"));
    check_host_configs(verdicts, body);
}

}  // namespace body_checks

std::string capability_name(std::string_view name) {
    std::string capability(name);
    std::transform(capability.begin(), capability.end(), capability.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (capability.starts_with("CAP_")) {
        capability.erase(0, 4);
    }
    return capability;
}

std::string image_repository(std::string_view reference) {
    std::string_view name = reference.substr(0, reference.find('@'));
    const std::size_t last_slash = name.rfind('/');
    const std::size_t tag = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
    name = name.substr(0, tag);
    std::string repository(name);
    const std::size_t first_slash = repository.find('/');
    const std::string_view first = std::string_view(repository).substr(0, first_slash);
    const bool has_registry =
        first_slash != std::string::npos &&
        (first.find_first_of(".:") != std::string_view::npos || first == "localhost");
    if (!has_registry) {
        repository =
            (first_slash == std::string::npos ? "docker.io/library/" : "docker.io/") + repository;
    }
    if (repository.starts_with("index.docker.io/")) {
        repository.replace(0, 15, "docker.io");
    }
    std::transform(repository.begin(), repository.end(), repository.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return repository;
}

}  // namespace socket_proxy
