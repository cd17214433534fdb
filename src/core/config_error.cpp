#include "config_error.hpp"

#include <string>

#include "log_format.hpp"

namespace socket_proxy {

// `SOCKET_PROXY_TIMEOUT="30x"` or `--timeout="30x"`: the value escaped, so a control byte in
// it cannot garble the message that reports it.
namespace {

std::string named_value(std::string_view what, std::string_view value) {
    std::string text(what);
    text += '=';
    text += quote_value(value);
    return text;
}

}  // namespace

ConfigError value_error(std::string_view what, std::string_view value, std::string_view problem) {
    return ConfigError(named_value(what, value) + " " + std::string(problem));
}

}  // namespace socket_proxy
