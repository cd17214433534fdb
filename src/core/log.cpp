#include "log.hpp"

#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <mutex>

namespace socket_proxy {
namespace {
bool debug_enabled = false;
LogFormat format = LogFormat::text;
}  // namespace

void set_log_format(LogFormat chosen) {
    format = chosen;
}

void set_debug_logging(bool enabled) {
    debug_enabled = enabled;
}

bool debug_logging() {
    return debug_enabled;
}

void log_event(LogLevel level, std::string_view event, const std::vector<LogField>& fields) {
    if (level == LogLevel::debug && !debug_enabled) {
        return;
    }
    std::timespec now{};
    std::timespec_get(&now, TIME_UTC);
    std::string line = format == LogFormat::json ? format_json_log_line(now, level, event, fields)
                                                 : format_log_line(now, level, event, fields);
    line.push_back('\n');
    // One line at a time from every serving thread: a long line takes several writes.
    static std::mutex output;
    const std::lock_guard lock(output);
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t written = ::write(STDOUT_FILENO, rest.data(), rest.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return;  // stdout is gone; logging must never take the proxy down
        }
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace socket_proxy
