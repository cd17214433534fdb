// The owner's label written into a container create body (write_body.hpp).
#include "body_checks.hpp"
#include "daemon_json.hpp"
#include "write_body.hpp"

namespace socket_proxy {
using namespace body_checks;

std::optional<std::string> stamp_label(std::string_view body, const std::string& key,
                                       const std::string& value) {
    ReadBody read = read_body(body);
    if (!read.document || !read.document->is_object()) {
        return std::nullopt;
    }
    json::object& top = read.document->get_object();
    // Go reads the first key that folds to "Labels"; read_body refused a body with two.
    json::value* labels = nullptr;
    for (auto& member : top) {
        if (go_fold_equals(std::string_view(member.key().data(), member.key().size()), "Labels")) {
            labels = &member.value();
        }
    }
    if (labels == nullptr) {
        labels = &top["Labels"];
    }
    if (labels->is_null()) {
        *labels = json::object();
    }
    if (!labels->is_object()) {
        return std::nullopt;  // the engine would refuse it too: nothing to stamp
    }
    // A map key is exact in Go: whatever value the client gave this key is replaced.
    labels->get_object()[key] = value;
    return serialise_daemon_json(*read.document);
}

}  // namespace socket_proxy
