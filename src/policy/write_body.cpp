// Which write a request is, and the entry points that judge its query and body. Each body
// kind has its checks in a file of its own (body_checks.hpp says which).
#include "write_body.hpp"

#include <algorithm>
#include <initializer_list>

#include "body_checks.hpp"
#include "go_text.hpp"
#include "route.hpp"

namespace socket_proxy {

using namespace body_checks;

namespace {

void check_plugin_pull(Verdicts& verdicts, const json::value& body) {
    if (verdicts.limits.plugin_privileges) {
        return;
    }
    if (!body.is_array()) {
        verdicts.refuse_unreadable("the body", "a list of privileges");
    } else if (!body.get_array().empty()) {
        verdicts.refuse("the body", "grants the plugin host privileges", "plugin_privileges");
    }
}

// The first value of a query parameter, as the daemon's r.FormValue reads it.
std::optional<std::string> first_value(const QueryValues& values, std::string_view name) {
    for (const auto& [key, value] : values) {
        if (key == name) {
            return value;
        }
    }
    return std::nullopt;
}

std::optional<WriteRefusal> refuse_query(WriteKind kind, std::string_view query,
                                         const WriteLimits& limits) {
    const std::optional<QueryValues> values = parse_query(query);
    if (!values) {
        return WriteRefusal{403,
                            "the query cannot be read unambiguously (a ';' or a bad escape), so "
                            "its source cannot be checked"};
    }
    Verdicts verdicts(limits);
    if (kind == WriteKind::build) {
        const auto remote = first_value(*values, "remote");
        if (remote && !remote->empty() && !limits.remote_build) {
            verdicts.refuse("the query's remote", "builds from " + *remote + ", a remote context",
                            "remote_build");
        }
        const auto network = first_value(*values, "networkmode");
        const std::string mode = network ? go_fold(*network) : "";
        if ((mode == "host" || mode.starts_with("container:")) && !limits.host_namespaces) {
            verdicts.refuse("the query's networkmode", "is " + *network, "host_namespaces");
        }
        return verdicts.result();
    }
    const auto source = first_value(*values, "fromSrc");
    if (source && !limits.image_import) {
        verdicts.refuse("the query's fromSrc", "imports a file system as an image", "image_import");
    }
    if (!limits.images.empty()) {
        const auto image = first_value(*values, "fromImage");
        if (image && !image_allowed(*image, limits.images)) {
            verdicts.refuse("the query's fromImage", "is " + *image + ", not an allowed image",
                            "images");
        }
    }
    return verdicts.result();
}

// The kinds whose body is a JSON object.
void check_object_body(Verdicts& verdicts, WriteKind kind, const json::object& object) {
    switch (kind) {
        case WriteKind::container_create:
            check_container_create(verdicts, object);
            break;
        case WriteKind::container_start:
            // Before API 1.24 the engine applies a HostConfig sent at start (measured on 20.10:
            // Privileged and Binds sent to /v1.23/containers/{id}/start show in inspect). From
            // 1.24 on it refuses any such body, so checking it at every version costs nothing
            // and needs no version.
            check_host_configs(verdicts, object);
            break;
        case WriteKind::container_update:
            // Update takes resources and the restart policy, but its decoder shares
            // HostConfig's field names: hold it to the same limits.
            check_host_config(verdicts, "", object);
            break;
        case WriteKind::exec_create:
            check_exec(verdicts, object);
            break;
        case WriteKind::service_write:
            check_service(verdicts, object);
            break;
        case WriteKind::volume_create:
            check_volume_driver_options(verdicts, "DriverOpts", field(object, "Driver"),
                                        field(object, "DriverOpts"));
            break;
        default:
            break;
    }
}

}  // namespace

WriteKind write_kind(std::string_view method, std::string_view route_path) {
    if (method != "POST") {
        return WriteKind::none;
    }
    const std::vector<std::string_view> segments = route_segments(route_path);
    const auto is = [&](std::initializer_list<std::string_view> wanted) {
        return segments.size() == wanted.size() &&
               std::equal(wanted.begin(), wanted.end(), segments.begin());
    };
    if (is({"containers", "create"})) {
        return WriteKind::container_create;
    }
    if (is({"services", "create"})) {
        return WriteKind::service_write;
    }
    if (is({"volumes", "create"})) {
        return WriteKind::volume_create;
    }
    if (is({"plugins", "pull"})) {
        return WriteKind::plugin_pull;
    }
    if (is({"images", "create"})) {
        return WriteKind::image_create;
    }
    if (is({"build"})) {
        return WriteKind::build;
    }
    // Container names may contain slashes: the route is known by its last segment.
    if (segments.size() >= 3 && segments.front() == "containers") {
        if (segments.back() == "update") {
            return WriteKind::container_update;
        }
        if (segments.back() == "exec") {
            return WriteKind::exec_create;
        }
        if (segments.back() == "start") {
            return WriteKind::container_start;
        }
    }
    if (segments.size() == 3 && segments.front() == "services" && segments.back() == "update") {
        return WriteKind::service_write;
    }
    return WriteKind::none;
}

WriteKind owner_write_kind(std::string_view method, std::string_view route_path) {
    const WriteKind kind = write_kind(method, route_path);
    const std::vector<std::string_view> segments = route_segments(route_path);
    if (kind != WriteKind::none || method != "POST" || segments.front() != "networks") {
        return kind;
    }
    if (segments.size() == 2 && segments[1] == "create") {
        return WriteKind::network_create;
    }
    if (segments.size() == 3 && (segments[2] == "connect" || segments[2] == "disconnect")) {
        return WriteKind::network_attach;
    }
    return kind;
}

bool creates_object(WriteKind kind) {
    return kind == WriteKind::container_create || kind == WriteKind::volume_create ||
           kind == WriteKind::network_create;
}

bool write_body_is_checked(WriteKind kind) {
    return kind != WriteKind::none && kind != WriteKind::image_create && kind != WriteKind::build;
}

WriteJudgement judge_write_body(WriteKind kind, std::string_view query, std::string_view body,
                                const WriteLimits& limits) {
    if (kind == WriteKind::none) {
        return {};
    }
    if (!write_body_is_checked(kind)) {
        return {refuse_query(kind, query, limits), {}};
    }
    // The start route reads a body only when Content-Length is above 7 ("a non-nil JSON object
    // is at least 7 characters", moby's postContainersStart; measured: "garbage" is ignored at
    // /v1.23/ and /v1.41/, "garbage!" is a decoding error at /v1.23/). The proxy forwards the
    // held body with its exact length, so a shorter one never reaches the decoder.
    if (kind == WriteKind::container_start && body.size() <= 7) {
        return {};
    }
    ReadBody read = read_body(body);
    if (!read.document) {
        return {read.problem, {}};
    }
    Verdicts verdicts(limits);
    if (kind == WriteKind::plugin_pull) {
        check_plugin_pull(verdicts, *read.document);
        return {verdicts.result(), {}};
    }
    if (!read.document->is_object()) {
        return {WriteRefusal{403, "the body is not a JSON object"}, {}};
    }
    check_object_body(verdicts, kind, read.document->get_object());
    if (verdicts.refused()) {
        return {verdicts.result(), {}};
    }
    return {std::nullopt, verdicts.take_references()};
}

std::optional<WriteRefusal> judge_write(WriteKind kind, std::string_view query,
                                        std::string_view body, const WriteLimits& limits) {
    WriteJudgement judged = judge_write_body(kind, query, body, limits);
    if (!judged.refusal && !judged.references.empty()) {
        const EngineReference& first = judged.references.front();
        return WriteRefusal{403, first.where + " names " + first.name +
                                     ", which only the engine can resolve (body.host_namespaces)"};
    }
    return judged.refusal;
}

std::optional<std::string> refuse_write(WriteKind kind, std::string_view query,
                                        std::string_view body, const WriteLimits& limits) {
    if (auto refusal = judge_write(kind, query, body, limits)) {
        return std::move(refusal->reason);
    }
    return std::nullopt;
}

}  // namespace socket_proxy
