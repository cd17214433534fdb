// Named presets (SOCKET_PROXY_PRESET=traefik): for each tool, a policy file built into the
// binary that allows exactly the calls the tool makes, read from its source (docs/tools.md).
// Written in the policy file's format and parsed by parse_policy_file, so a preset is what
// `socket-proxy check` prints and what a copied file would do. Pure.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "policy.hpp"

namespace socket_proxy {

struct Preset {
    std::string_view name;         // the value of SOCKET_PROXY_PRESET
    std::string_view tool;         // what it is for, for messages and docs
    std::string_view policy_text;  // a policy file (policy_file.hpp)
};

// Every preset, in the order README.md and docs/tools.md list them.
[[nodiscard]] std::span<const Preset> presets();

// nullptr when there is no preset of that name (names are case-sensitive, as the file's).
[[nodiscard]] const Preset* find_preset(std::string_view name);

// "traefik, homepage, …": for the message an unknown name gets.
[[nodiscard]] std::string preset_names();

// The preset's policy, with source "preset NAME". Throws PolicyError only if a preset is broken,
// which the unit tests rule out.
[[nodiscard]] Policy preset_policy(const Preset& preset);

}  // namespace socket_proxy
