// libFuzzer target: the daemon answers the proxy rewrites or judges (redact.hpp,
// label_scope.hpp). The daemon may be compromised or simply odd; whatever it sends, what the
// proxy forwards must hold to the promise: no environment value, no join token, no container
// or event without the labels, no container id that is not one.
//
// Input: any bytes, read as the answer's body.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon_model.hpp"
#include "label_scope.hpp"
#include "redact.hpp"

namespace {

namespace json = boost::json;
using fuzz_model::check;
using namespace socket_proxy;

const std::vector<LabelSelector>& selectors() {
    static const std::vector<LabelSelector> labels = [] {
        std::string problem;
        return std::vector<LabelSelector>{*LabelSelector::parse("traefik.enable=true", problem),
                                          *LabelSelector::parse("team", problem)};
    }();
    return labels;
}

bool has_labels(const json::value* labels) {
    const json::object* object = labels ? labels->if_object() : nullptr;
    if (object == nullptr) {
        return false;
    }
    const json::value* enable = object->if_contains("traefik.enable");
    const json::value* team = object->if_contains("team");
    return enable && enable->is_string() && enable->get_string() == "true" && team &&
           team->is_string();
}

// No secret survives anywhere in a redacted document.
void check_redacted(const json::value& value) {
    if (const json::object* object = value.if_object()) {
        check(!object->contains("JoinTokens"));
        for (const auto& [key, member] : *object) {
            if (key == "Env" && member.is_array()) {
                for (const json::value& entry : member.get_array()) {
                    if (const json::string* text = entry.if_string()) {
                        const std::string_view variable(*text);
                        const std::size_t equals = variable.find('=');
                        check(equals == std::string_view::npos ||
                              variable.substr(equals + 1) == redacted_value);
                    } else if (const json::object* setting = entry.if_object()) {
                        const json::value* secret = setting->if_contains("Value");
                        check(!secret || !secret->is_string() || secret->get_string().empty() ||
                              secret->get_string() == redacted_value);
                    }
                }
            }
            check_redacted(member);
        }
    } else if (const json::array* array = value.if_array()) {
        for (const json::value& element : *array) {
            check_redacted(element);
        }
    }
}

json::value reparse(std::string_view text) {
    boost::system::error_code error;
    json::parse_options options;
    options.max_depth = 128;
    json::value document = json::parse(text, error, {}, options);
    check(!error);
    return document;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    if (const auto redacted = redact_secrets(body)) {
        check_redacted(reparse(*redacted));
    }

    if (const auto listed = filter_container_list(body, selectors())) {
        const json::value list = reparse(*listed);
        check(list.is_array());
        for (const json::value& container : list.get_array()) {
            check(container.is_object() &&
                  has_labels(container.get_object().if_contains("Labels")));
        }
    }

    if (event_visibility(body, selectors()) == EventVisibility::visible) {
        const json::value event = reparse(body);
        const json::object& object = event.as_object();
        check(object.at("Type") == "container");
        check(has_labels(object.at("Actor").as_object().if_contains("Attributes")));
    }

    if (const auto identity = read_container_identity(body, selectors())) {
        check(identity->id.size() == 64 &&
              identity->id.find_first_not_of("0123456789abcdef") == std::string::npos);
        if (identity->visible) {
            const json::value inspect = reparse(body);
            check(has_labels(inspect.at("Config").as_object().if_contains("Labels")));
        }
    }
    return 0;
}
