// A mistake in a setting that the user can fix, and where settings come from.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace socket_proxy {

// what() is one sentence naming the variable or flag, quoting the value, and saying what is
// accepted, e.g. `SOCKET_PROXY_TIMEOUT="30x" is not a duration: use a number of seconds or a
// value like 500ms, 30s, 2m, 1h`.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The process environment, passed in so that every rule reading it is unit-tested.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

// `SOCKET_PROXY_TIMEOUT="30x" ` + problem: the value escaped, so a control byte in it cannot
// garble the message that reports it.
[[nodiscard]] ConfigError value_error(std::string_view what, std::string_view value,
                                      std::string_view problem);

}  // namespace socket_proxy
