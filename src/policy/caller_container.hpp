// Which container is calling: the engine's own data turned into an identity a rule can select
// (`container`, `container_label`, `compose_service`). Pure: the proxy feeds it the engine's
// answers and events and the peer's /proc/PID/cgroup; nothing here asks anything.
//
// A TCP caller is known by its source address, looked up in the addresses the engine gave its
// running containers on their networks. That is as strong as the network: a container with
// CAP_NET_ADMIN or CAP_NET_RAW on a shared bridge can take a neighbour's address, so the docs
// tell operators to give each tool its own network, or its own socket (named listeners).
// A unix caller is known by the cgroup of the process at the other end of the socket.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "address.hpp"

namespace socket_proxy {

// The labels Docker Compose puts on every container it creates.
inline constexpr std::string_view compose_project_label = "com.docker.compose.project";
inline constexpr std::string_view compose_service_label = "com.docker.compose.service";

struct CallerContainer {
    std::string id;    // the full id, 64 hex digits
    std::string name;  // without the leading '/'
    std::map<std::string, std::string, std::less<>> labels;

    // The label's value, or nullopt when the container does not carry it.
    [[nodiscard]] std::optional<std::string_view> label(std::string_view key) const;
};

// The running containers' addresses, from `GET /containers/json`.
class ContainerAddresses {
  public:
    // Replaces every entry with those of the list. An address that two containers claim
    // (overlapping networks) belongs to neither: a caller from it is unknown. Returns false,
    // leaving the entries as they were, when `answer` is not a list of containers.
    bool replace_from_list(std::string_view answer);

    // The container that had `address` in the last list, or null.
    [[nodiscard]] std::shared_ptr<const CallerContainer> owner(const IpAddress& address) const;

    // A container stopped or left a network: its addresses may be handed to another one from
    // now on, so they name nobody until the next list.
    void forget_container(std::string_view id);

    [[nodiscard]] std::size_t size() const { return by_address_.size(); }

  private:
    using Key = std::pair<bool, std::array<unsigned char, 16>>;
    // null: claimed by more than one container
    std::map<Key, std::shared_ptr<const CallerContainer>> by_address_;
};

// What an event from `GET /events` means for the addresses.
struct AddressChange {
    enum class Kind { none, forget, reload };
    Kind kind = Kind::none;
    std::string container_id;  // forget: whose addresses
};

// die, stop, kill, destroy, network disconnect: forget that container's addresses at once.
// start, restart, unpause, rename, network connect: reload the list (a new address, a new name).
[[nodiscard]] AddressChange address_change_from_event(std::string_view event);

// The container `inspect` (`GET /containers/{id}/json`) describes, when it is running (not
// paused) and, if `address` is given, holds that address on one of its networks; else null.
// A cached owner is believed only after this, so that an address freed by a container that
// died a moment ago and taken by another is never credited to the dead one.
[[nodiscard]] std::shared_ptr<const CallerContainer> caller_from_inspect(std::string_view inspect,
                                                                         const IpAddress* address);

// Whether `address` lies in a subnet of one of the engine's networks (`GET /networks`): only
// such a caller may be a container that the list does not show yet. The engine runs a new
// container's process before its list does (measured: the first request of a container
// started with `docker run` arrives before `GET /containers/json` names it).
[[nodiscard]] bool address_in_engine_networks(std::string_view networks, const IpAddress& address);

// The container a process belongs to, from its /proc/PID/cgroup: Docker's cgroupfs driver
// (`/docker/ID`), its systemd driver (`/system.slice/docker-ID.scope`) and Podman's
// (`libpod-ID.scope`, `/libpod_parent/libpod-ID`), cgroup v1 or v2. The innermost container
// when they nest. nullopt for a process outside any container, and when the hierarchies name
// different containers.
[[nodiscard]] std::optional<std::string> container_id_from_cgroup(std::string_view proc_cgroup);

}  // namespace socket_proxy
