// An Environment made from a table, for the tests of settings read from the environment.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config_error.hpp"

namespace socket_proxy::test_support {

using Variables = std::map<std::string, std::string, std::less<>>;

inline Environment environment_of(Variables variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto found = variables.find(name);
        return found == variables.end() ? std::nullopt : std::optional(found->second);
    };
}

}  // namespace socket_proxy::test_support
