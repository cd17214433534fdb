// libFuzzer target: the daemon answers the proxy rewrites or judges (redact.hpp,
// label_scope.hpp). The daemon may be compromised or simply odd; whatever it sends, what the
// proxy forwards must hold to the promise: no environment value, no join token, no container
// or event without the labels, no container id that is not one. A redacted answer is a fixed
// point: redacting it again changes nothing, so no value survives one pass to be found by the
// next (build steps, driver and log options, command lines). The same bytes as a build step, a
// mount option string and ps arguments (read_guard.hpp) must not crash the pure parsers.
//
// Input: any bytes, read as the answer's body.
#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon_model.hpp"
#include "label_scope.hpp"
#include "read_guard.hpp"
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

// Boost.JSON writes some doubles back as a neighbouring value (6e274 is not a fixed point of
// its reading and writing), which says nothing about secrets: numbers are compared by kind.
bool same_but_numbers(const json::value& a, const json::value& b) {
    if (a.is_number() && b.is_number()) {
        return true;
    }
    if (a.kind() != b.kind()) {
        return false;
    }
    if (const json::object* object = a.if_object()) {
        const json::object& other = b.get_object();
        if (object->size() != other.size()) {
            return false;
        }
        for (auto it = object->begin(), jt = other.begin(); it != object->end(); ++it, ++jt) {
            if (it->key() != jt->key() || !same_but_numbers(it->value(), jt->value())) {
                return false;
            }
        }
        return true;
    }
    if (const json::array* array = a.if_array()) {
        const json::array& other = b.get_array();
        return array->size() == other.size() &&
               std::equal(array->begin(), array->end(), other.begin(),
                          [](const json::value& x, const json::value& y) {
                              return same_but_numbers(x, y);
                          });
    }
    return a == b;
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
        const auto again = redact_secrets(*redacted);
        check(again.has_value() && same_but_numbers(reparse(*again), reparse(*redacted)));
    }
    const std::string step = redact_build_step(body);
    check(redact_build_step(step) == step);
    const std::string options = redact_mount_options(body);
    check(redact_mount_options(options) == options);
    if (!check_ps_args(body)) {
        // Whatever passes holds no BSD e: in a word of letters only, an e belongs to a column
        // list, either the rest of the word after o, O or k, or the word after one of those or
        // after --format or --sort; never an option of its own.
        std::string_view previous;
        for (std::size_t start = 0; start <= body.size();) {
            const std::size_t end = std::min(body.find(' ', start), body.size());
            const std::string_view word = body.substr(start, end - start);
            const bool letters = !word.empty() && word.find_first_not_of(
                                                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                                      "QRSTUVWXYZ") == std::string_view::npos;
            const bool after_columns_option =
                previous == "--format" || previous == "--sort" ||
                (!previous.empty() &&
                 std::string_view("oOk").find(previous.back()) != std::string_view::npos);
            const std::size_t e = word.find('e');
            const bool inside_argument =
                e != std::string_view::npos &&
                word.substr(0, e).find_first_of("oOk") != std::string_view::npos;
            check(!letters || after_columns_option || inside_argument ||
                  e == std::string_view::npos);
            previous = word;
            start = end + 1;
        }
    }

    for (const ScopedRouteKind kind :
         {ScopedRouteKind::container_list, ScopedRouteKind::network_list,
          ScopedRouteKind::volume_list}) {
        const auto listed = filter_list(kind, body, selectors());
        if (!listed) {
            continue;
        }
        const json::value list = reparse(*listed);
        const json::value* objects = &list;
        if (kind == ScopedRouteKind::volume_list) {
            objects = &list.as_object().at("Volumes");
            if (objects->is_null()) {
                continue;
            }
        }
        check(objects->is_array());
        for (const json::value& object : objects->get_array()) {
            check(object.is_object() && has_labels(object.get_object().if_contains("Labels")));
        }
    }

    if (event_visibility(body, selectors()) == EventVisibility::visible) {
        const json::value event = reparse(body);
        const json::object& object = event.as_object();
        check(object.at("Type") == "container");
        check(has_labels(object.at("Actor").as_object().if_contains("Attributes")));
    }

    if (const auto identity = read_identity(ScopedObject::container, body, selectors())) {
        check(identity->id.size() == 64 &&
              identity->id.find_first_not_of("0123456789abcdef") == std::string::npos);
        if (identity->visible) {
            const json::value inspect = reparse(body);
            check(has_labels(inspect.at("Config").as_object().if_contains("Labels")));
        }
    }
    return 0;
}
