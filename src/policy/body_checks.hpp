// What the write-body checks share: the refusals they collect, and the checks one body kind
// borrows from another (a service's mounts are a container's, an update's fields HostConfig's).
// Each takes `where`, the field's path as a refusal names it ("HostConfig.Binds").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "body_json.hpp"
#include "write_limits.hpp"

namespace socket_proxy::body_checks {

// Collects the first refusal; later checks do nothing once one is found.
class Verdicts {
  public:
    explicit Verdicts(const WriteLimits& write_limits) : limits(write_limits) {}

    const WriteLimits& limits;

    void refuse(const std::string& where, const std::string& what, std::string_view setting) {
        if (reason_.empty()) {
            reason_ = where + " " + what + " (body." + std::string(setting) + ")";
        }
    }
    void refuse_unreadable(const std::string& where, std::string_view expected) {
        if (reason_.empty()) {
            reason_ = where + " is not " + std::string(expected) + " as the daemon expects";
        }
    }
    [[nodiscard]] bool refused() const { return !reason_.empty(); }
    [[nodiscard]] std::optional<WriteRefusal> result() const {
        return reason_.empty() ? std::nullopt : std::optional(WriteRefusal{403, reason_});
    }

    // What only the engine can tell apart: the session asks it before forwarding.
    void ask_engine(EngineReference reference) { references_.push_back(std::move(reference)); }
    [[nodiscard]] std::vector<EngineReference> take_references() { return std::move(references_); }

  private:
    std::string reason_;
    std::vector<EngineReference> references_;
};

// Whether a mount lets the container write to the host path it names.
enum class Access { read_only, writable };

// mounts.cpp: host paths, judged against bind_sources.
void check_binds(Verdicts& verdicts, const std::string& where, const json::value* binds);
void check_mounts(Verdicts& verdicts, const std::string& where, const json::value* mounts);
void check_volume_driver_options(Verdicts& verdicts, const std::string& where,
                                 const json::value* driver, const json::value* options);

// container_body.cpp: HostConfig, capabilities and images. `prefix` is "" for HostConfig's
// fields at the top level, "HostConfig." for its own object.
void check_host_config(Verdicts& verdicts, const std::string& prefix, const json::object& config);
void check_host_configs(Verdicts& verdicts, const json::object& body);
void check_container_create(Verdicts& verdicts, const json::object& body);
void check_capabilities(Verdicts& verdicts, const std::string& where, const json::value* caps);
void check_image(Verdicts& verdicts, const std::string& where, const json::value* image);
bool image_allowed(std::string_view reference, const std::vector<std::string>& allowed);

// service_body.cpp
void check_service(Verdicts& verdicts, const json::object& body);

// exec_user.cpp
void check_exec(Verdicts& verdicts, const json::object& body);

}  // namespace socket_proxy::body_checks
