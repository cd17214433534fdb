// The settings, in one table that drives the environment, the flags and --help, so none of them
// can forget a setting.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "config.hpp"

namespace socket_proxy {

// `what` is the variable or flag the value came from, for error messages.
struct Option {
    std::string_view flag;
    std::string_view variable;
    std::string_view value_name;  // empty: a switch (--debug), which takes no separate argument
    std::string_view description;
    void (*apply)(Config& config, std::string_view what, std::string_view value);
    std::string (*show_default)(const Config& defaults);
};

[[nodiscard]] std::span<const Option> options();

// nullptr for a flag that is no setting's.
[[nodiscard]] const Option* find_option(std::string_view flag);

}  // namespace socket_proxy
