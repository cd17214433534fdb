// Any bytes as the body of an allowed POST /containers/create, and of a POST
// /containers/{id}/start (a HostConfig before API 1.24), under the safe defaults: what
// refuse_write() lets through must not be privileged, share a host namespace (or another
// container's, which may be the host's) or mount a host path as the daemon reads it. The model
// below reads the body the daemon's way independently: Boost.JSON keeps the last of duplicate keys,
// as Go does, and every key is folded and compared, none looked up.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "write_body.hpp"

namespace {

namespace json = boost::json;

std::string go_fold(std::string_view key) {
    std::string out;
    for (std::size_t i = 0; i < key.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(key[i]);
        if (c == 0xC5 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) == 0xBF) {
            out += 's';
            ++i;
        } else if (c == 0xE2 && key.substr(i, 3) == "\xE2\x84\xAA") {
            out += 'k';
            i += 2;
        } else {
            out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    return out;
}

// Whether a HostConfig (or the top level, which Docker 20.10 also reads as one) asks for root.
bool asks_for_root(const json::object& config) {
    for (const auto& member : config) {
        const std::string name =
            go_fold(std::string_view(member.key().data(), member.key().size()));
        const json::value& value = member.value();
        if (name == "privileged" && value.is_bool() && value.get_bool()) {
            return true;
        }
        if ((name == "pidmode" || name == "networkmode" || name == "ipcmode") &&
            value.is_string() &&
            (value.get_string() == "host" || value.get_string().starts_with("container:"))) {
            return true;
        }
        if (name == "binds" && value.is_array()) {
            for (const auto& bind : value.get_array()) {
                if (bind.is_string() && bind.get_string().starts_with("/")) {
                    return true;
                }
            }
        }
        if (name == "capadd" && ((value.is_array() && !value.get_array().empty()) ||
                                 (value.is_string() && !value.get_string().empty()))) {
            return true;
        }
    }
    return false;
}

void check(socket_proxy::WriteKind kind, std::string_view body) {
    const socket_proxy::WriteLimits defaults;
    if (socket_proxy::refuse_write(kind, "", body, defaults)) {
        return;
    }
    if (kind == socket_proxy::WriteKind::container_start && body.size() <= 7) {
        return;  // the engine reads a start body only above 7 bytes
    }
    // Go's decoder nests up to 10,000 levels; Boost.JSON's default stops at 32.
    json::parse_options options;
    options.max_depth = 10'000;
    json::error_code error;
    const json::value document =
        json::parse(json::string_view(body.data(), body.size()), error, {}, options);
    if (error || !document.is_object()) {
        std::abort();  // let through what the daemon cannot even read as a create body
    }
    const json::object& top = document.get_object();
    if (asks_for_root(top)) {
        std::abort();
    }
    for (const auto& member : top) {
        if (go_fold(std::string_view(member.key().data(), member.key().size())) == "hostconfig" &&
            member.value().is_object() && asks_for_root(member.value().get_object())) {
            std::abort();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    check(socket_proxy::WriteKind::container_create, body);
    check(socket_proxy::WriteKind::container_start, body);
    return 0;
}
