// Any bytes as an exec `User`: exec_user_is_root() must say uid 0 exactly when the engine would
// run the exec as uid 0 in a container whose passwd has only root at uid 0. The model below
// reads the spec the way runc's user.GetExecUser does, written apart from the proxy's code:
// split on ':' (the first part the user, the rest the group and ignored extras), an empty user
// part is the default uid 0, a user part that Go's strconv.Atoi accepts is a uid (never a name),
// and anything else a passwd name. An empty spec is the container's own user (moby's exec
// substitutes Config.User), which the create rule decided: never refused here.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "write_body.hpp"

namespace {

// Go's strconv.Atoi on 64-bit, computed in 128 bits: sign, one or more ASCII digits, no
// underscores (base 10), and a value within int64.
std::optional<std::int64_t> model_atoi(std::string_view text) {
    std::size_t at = 0;
    bool negative = false;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        negative = text[at] == '-';
        ++at;
    }
    if (at == text.size()) {
        return std::nullopt;
    }
    __int128 magnitude = 0;
    const __int128 limit = static_cast<__int128>(INT64_MAX) + 1;  // 2^63, only for '-'
    for (; at < text.size(); ++at) {
        if (text[at] < '0' || text[at] > '9') {
            return std::nullopt;
        }
        magnitude = magnitude * 10 + (text[at] - '0');
        if (magnitude > limit) {
            return std::nullopt;
        }
    }
    if (!negative && magnitude == limit) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(negative ? -magnitude : magnitude);
}

bool model_runs_as_root(std::string_view spec) {
    if (spec.empty()) {
        return false;
    }
    std::string user;
    for (const char c : spec) {
        if (c == ':') {
            break;
        }
        user += c;
    }
    if (user.empty()) {
        return true;
    }
    if (const auto uid = model_atoi(user)) {
        return *uid == 0;
    }
    return user == "root";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view spec(reinterpret_cast<const char*>(data), size);
    if (socket_proxy::exec_user_is_root(spec) != model_runs_as_root(spec)) {
        std::abort();
    }
    if (socket_proxy::go_atoi(spec) != model_atoi(spec)) {
        std::abort();
    }
    return 0;
}
