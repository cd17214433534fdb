// Writes log lines to stdout, one write(2) per line so lines never interleave.
#pragma once

#include <string_view>
#include <vector>

#include "log_format.hpp"

namespace socket_proxy {

void set_debug_logging(bool enabled);
void set_log_format(LogFormat format);
[[nodiscard]] bool debug_logging();

void log_event(LogLevel level, std::string_view event, const std::vector<LogField>& fields = {});

}  // namespace socket_proxy
