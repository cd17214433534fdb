#include "presets.hpp"

#include <algorithm>
#include <array>

#include "policy_file.hpp"

namespace socket_proxy {
namespace {

// Each text is docs/tools.md's policy block for the tool, character for character
// (tests/integration/test_presets.py compares what `check` prints for both). Every one starts
// with `ping`: the image's HEALTHCHECK asks GET /_ping through the proxy, decided by this policy.

constexpr std::string_view traefik = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: version, methods: GET, path: /version, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", action: allow}
  - {name: container-events, methods: GET, path: /events, action: allow}
)";

constexpr std::string_view homepage = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: container-status, methods: GET, path: "/containers/{name}/json", action: allow}
  - name: container-stats-once
    methods: GET
    path: "/containers/{name}/stats"
    query: {stream: ["false", "0"]}       # one sample, as Homepage asks; a stream is refused
    action: allow
)";

constexpr std::string_view dozzle = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: engine-info, methods: GET, path: /info, action: allow}
  - {name: events, methods: GET, path: /events, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", action: allow}
  - {name: logs, methods: GET, path: "/containers/{id}/logs", action: allow}
  - {name: stats, methods: GET, path: "/containers/{id}/stats", action: allow}
)";

constexpr std::string_view portainer_readonly = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: engine-info, methods: GET, path: /info, action: allow}
  - {name: engine-version, methods: GET, path: /version, action: allow}
  - {name: engine-events, methods: GET, path: /events, action: allow}
  - {name: disk-usage, methods: GET, path: /system/df, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", action: allow}
  - {name: container-logs, methods: GET, path: "/containers/{id}/logs", action: allow}
  - {name: container-stats, methods: GET, path: "/containers/{id}/stats", action: allow}
  - {name: container-processes, methods: GET, path: "/containers/{id}/top", action: allow}
  - {name: list-images, methods: GET, path: /images/json, action: allow}
  - {name: inspect-images, methods: GET, path: "/images/{name...}/json", action: allow}
  - {name: image-history, methods: GET, path: "/images/{name...}/history", action: allow}
  - {name: networks, methods: GET, path: /networks/**, action: allow}
  - {name: volumes, methods: GET, path: /volumes/**, action: allow}
)";

// Watchtower recreates containers from the inspect answers: both are passed through unredacted.
// create-containers has no body: the default limits of write_body.hpp hold.
constexpr std::string_view watchtower = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", redact: false, action: allow}
  - {name: inspect-images, methods: GET, path: "/images/{name...}/json", redact: false, action: allow}
  - {name: pull-images, methods: POST, path: /images/create, action: allow}
  - {name: stop-containers, methods: POST, path: "/containers/{id}/kill", action: allow}
  - {name: remove-containers, methods: DELETE, path: "/containers/{id}", action: allow}
  - {name: create-containers, methods: POST, path: /containers/create, action: allow}
  - {name: leave-networks, methods: POST, path: "/networks/{id}/disconnect", action: allow}
  - {name: join-networks, methods: POST, path: "/networks/{id}/connect", action: allow}
  - {name: start-containers, methods: POST, path: "/containers/{id}/start", action: allow}
  - {name: rename-itself, methods: POST, path: "/containers/{id}/rename", action: allow}
  - {name: remove-old-images, methods: DELETE, path: "/images/{name...}", action: allow}
)";

constexpr std::string_view uptime_kuma = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: container-state, methods: GET, path: "/containers/{name}/json", action: allow}
)";

constexpr std::string_view beszel = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: version, methods: GET, path: /version, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - name: container-stats-once
    methods: GET
    path: "/containers/{id}/stats"
    query: {stream: ["0", "false"]}       # one sample per interval; a stream is refused
    action: allow
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", action: allow}
  - name: container-logs-not-following
    methods: GET
    path: "/containers/{id}/logs"
    query: {follow: [~, "0", "false"]}
    action: allow
  - {name: inspect-images, methods: GET, path: "/images/{name...}/json", action: allow}
  - {name: volume-sizes, methods: GET, path: /system/df, action: allow}
)";

// autoheal's default (AUTOHEAL_CONTAINER_LABEL=autoheal) watches containers labelled
// autoheal=true; the preset holds it to those even when it is set to watch `all`.
constexpr std::string_view autoheal = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - name: list-unhealthy
    methods: GET
    path: /containers/json
    container_labels: &healed [autoheal=true]
    action: allow
  - {name: restart-unhealthy, methods: POST, path: "/containers/{id}/restart", container_labels: *healed, action: allow}
)";

constexpr std::string_view diun = R"(default: deny
rules:
  - {name: ping, methods: [GET, HEAD], path: /_ping, action: allow}
  - {name: version, methods: GET, path: /version, action: allow}
  - {name: list-containers, methods: GET, path: /containers/json, action: allow}
  - {name: inspect-containers, methods: GET, path: "/containers/{id}/json", action: allow}
  - {name: inspect-images, methods: GET, path: "/images/{name...}/json", action: allow}
)";

constexpr std::array all_presets{
    Preset{"traefik", "Traefik's docker provider", traefik},
    Preset{"homepage", "Homepage's docker integration", homepage},
    Preset{"dozzle", "Dozzle", dozzle},
    Preset{"portainer-readonly", "Portainer, read-only", portainer_readonly},
    Preset{"watchtower", "Watchtower", watchtower},
    Preset{"uptime-kuma", "Uptime Kuma's Docker container monitor", uptime_kuma},
    Preset{"beszel", "the Beszel agent", beszel},
    Preset{"autoheal", "willfarrell/autoheal", autoheal},
    Preset{"diun", "Diun's docker provider", diun},
};

}  // namespace

std::span<const Preset> presets() {
    return all_presets;
}

const Preset* find_preset(std::string_view name) {
    const auto* found = std::find_if(all_presets.begin(), all_presets.end(),
                                     [&](const Preset& preset) { return preset.name == name; });
    return found == all_presets.end() ? nullptr : found;
}

std::string preset_names() {
    std::string names;
    for (const Preset& preset : all_presets) {
        if (!names.empty()) {
            names += ", ";
        }
        names += preset.name;
    }
    return names;
}

Policy preset_policy(const Preset& preset) {
    return parse_policy_file(preset.policy_text, "preset " + std::string(preset.name));
}

}  // namespace socket_proxy
