#include "write_limits.hpp"

#include <utility>

namespace socket_proxy {

std::span<const WriteLimitSwitch> write_limit_switches() {
    static constexpr WriteLimitSwitch switches[] = {
        {"privileged", &WriteLimits::privileged},
        {"host_namespaces", &WriteLimits::host_namespaces},
        {"devices", &WriteLimits::devices},
        {"unconfined", &WriteLimits::unconfined},
        {"volumes_from", &WriteLimits::volumes_from},
        {"links", &WriteLimits::links},
        {"exec_root", &WriteLimits::exec_root},
        {"remote_build", &WriteLimits::remote_build},
        {"image_import", &WriteLimits::image_import},
        {"plugin_privileges", &WriteLimits::plugin_privileges},
        {"remote_mounts", &WriteLimits::remote_mounts},
        {"libpod_writes", &WriteLimits::libpod_writes},
    };
    return switches;
}

std::string describe_write_limits(const WriteLimits& limits) {
    std::string text;
    const auto add = [&text](std::string_view part) {
        text += text.empty() ? "" : " ";
        text += part;
    };
    for (const WriteLimitSwitch& limit : write_limit_switches()) {
        if (limits.*limit.member) {
            add(limit.name);
        }
    }
    const std::pair<std::string_view, const std::vector<std::string>*> lists[] = {
        {"bind_sources", &limits.bind_sources},
        {"capabilities", &limits.capabilities},
        {"images", &limits.images},
        {"secrets", &limits.secrets},
        {"configs", &limits.configs},
    };
    for (const auto& [name, items] : lists) {
        if (!items->empty()) {
            std::string part = std::string(name) + "=";
            for (std::size_t i = 0; i < items->size(); ++i) {
                part += (i == 0 ? "" : ",") + (*items)[i];
            }
            add(part);
        }
    }
    if (limits.max_body_bytes != WriteLimits{}.max_body_bytes) {
        add("max_size=" + std::to_string(limits.max_body_bytes));
    }
    return text.empty() ? "defaults" : text;
}

}  // namespace socket_proxy
