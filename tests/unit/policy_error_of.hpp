// The one-line error a policy file's text is refused with, for the tests of policy files.
#pragma once

#include <string>
#include <string_view>

#include "policy_file.hpp"

namespace socket_proxy::test_support {

inline std::string error_of(std::string_view text) {
    try {
        (void)parse_policy_file(text, "policy.yaml");
    } catch (const PolicyError& error) {
        return error.what();
    }
    return "(no PolicyError)";
}

}  // namespace socket_proxy::test_support
