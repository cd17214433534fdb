// An exec's body (POST /containers/{id}/exec): Privileged, and whether its `User` runs as
// root, read as the engine reads it.
#include <limits>

#include "body_checks.hpp"
#include "write_body.hpp"

namespace socket_proxy {

void body_checks::check_exec(Verdicts& verdicts, const json::object& body) {
    if (!verdicts.limits.privileged && is_true(field(body, "Privileged"))) {
        verdicts.refuse("Privileged", "is true", "privileged");
    }
    if (const json::value* user = field(body, "User"); user && !verdicts.limits.exec_root) {
        if (!user->is_string()) {
            verdicts.refuse_unreadable("User", "a string");
        } else if (exec_user_is_root(std::string_view(user->get_string()))) {
            verdicts.refuse("User", "is " + std::string(user->get_string()) + ", the root user",
                            "exec_root");
        }
    }
}

std::optional<std::int64_t> go_atoi(std::string_view text) {
    bool negative = false;
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    if (text.empty()) {
        return std::nullopt;
    }
    // Accumulated as a negative number, whose range holds both INT64_MIN and INT64_MAX.
    constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
    std::int64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const int digit = c - '0';
        if (value < (lowest + digit) / 10) {
            return std::nullopt;
        }
        value = value * 10 - digit;
    }
    if (!negative && value == lowest) {
        return std::nullopt;
    }
    return negative ? value : -value;
}

// Measured on Docker 20.10.24 (runc 1.1), exec into a busybox container through the API and
// `id -u`: "", "0", "root", "+0", "-0", "00", "+00", "0:0", ":0", ":", "::", "0:", "root:",
// "+0:+0", "0:+0", "0:0:0" and thirty zeros run as uid 0 ("" only because the container's
// own user is root: in a container created with --user 1000, "" runs as 1000 and ":" and
// "::5" as 0); "+1000" and "1000" after thirty leading zeros run as 1000; "ROOT", " 0",
// "0 ", "0x0", "+", "-" and 2^63 are names not found in passwd; "-1" and 2^32 are refused as
// out of range. A name other than "root" that the image's /etc/passwd maps to uid 0 is not
// caught: the proxy cannot read the container's passwd file.
bool exec_user_is_root(std::string_view user) {
    if (user.empty()) {
        return false;  // the container's Config.User, which its create rule allowed
    }
    const std::string_view name = user.substr(0, user.find(':'));
    if (name.empty() || name == "root") {
        return true;  // runc's default user when the spec names none is uid 0
    }
    const std::optional<std::int64_t> uid = go_atoi(name);
    return uid && *uid == 0;
}

}  // namespace socket_proxy
