// Which host paths a mount names, and whether bind_sources admits them: Binds, Mounts, and a
// local volume's driver options, which mount(2) a device or take host paths in their options.
#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "body_checks.hpp"
#include "go_text.hpp"
#include "route.hpp"
#include "write_body.hpp"

namespace socket_proxy {
namespace body_checks {

namespace {

// Only a JSON true is read-only: anything else the daemon reads as false or refuses.
bool read_only_flag(const json::value* value) {
    return value && value->is_bool() && value->get_bool();
}

// The segments of an absolute host path; nullopt for a relative path or one with "." or ".."
// segments, which the kernel resolves through whatever the path holds: refused on doubt.
std::optional<std::vector<std::string_view>> host_path_segments(std::string_view path) {
    if (path.empty() || path.front() != '/') {
        return std::nullopt;
    }
    std::vector<std::string_view> segments;
    for (const std::string_view segment : route_segments(path)) {
        if (segment == "." || segment == "..") {
            return std::nullopt;
        }
        if (!segment.empty()) {
            segments.push_back(segment);
        }
    }
    return segments;
}

// A bind_sources entry's path, and whether it is a "DIR/**" tree ("/**" is the tree of "/").
std::pair<std::string_view, bool> bind_source_root(std::string_view entry) {
    if (!entry.ends_with("/**")) {
        return {entry, false};
    }
    entry.remove_suffix(3);
    return {entry.empty() ? std::string_view("/") : entry, true};
}

// How bind_sources admits a host path. The kernel follows symlinks in a mount's source, and a
// container with a path mounted writable can plant one there (`ln -s / link`; measured on
// Docker 20.10: a second container's bind of <dir>/link mounts what the link names). So an
// entry admits exactly itself, whose own components no container can replace, and an entry
// ending in "/**" admits what is below it read-only only, so that nothing the proxy lets run
// can write there; entries never nest (policy_file.cpp refuses that).
enum class HostPathVerdict { allowed, outside, writable_below };

HostPathVerdict judge_host_path(std::string_view path, Access access,
                                const std::vector<std::string>& allowed) {
    const auto segments = host_path_segments(path);
    if (!segments) {
        return HostPathVerdict::outside;
    }
    HostPathVerdict verdict = HostPathVerdict::outside;
    for (const std::string& entry : allowed) {
        const auto [root_path, tree] = bind_source_root(entry);
        const auto root = host_path_segments(root_path);
        if (!root) {
            continue;
        }
        const bool equal = *root == *segments;
        const bool below = root->size() < segments->size() &&
                           std::equal(root->begin(), root->end(), segments->begin());
        if (equal && !tree) {
            return HostPathVerdict::allowed;
        }
        if (tree && (equal || below)) {
            if (access == Access::read_only) {
                return HostPathVerdict::allowed;
            }
            verdict = HostPathVerdict::writable_below;
        }
    }
    return verdict;
}

void check_bind_source(Verdicts& verdicts, const std::string& where, std::string_view source,
                       Access access) {
    switch (judge_host_path(source, access, verdicts.limits.bind_sources)) {
        case HostPathVerdict::allowed:
            return;
        case HostPathVerdict::writable_below:
            verdicts.refuse(where,
                            "mounts the host path " + std::string(source) +
                                " writable, below an entry that admits read-only mounts only "
                                "(a container that can write there could plant a symlink the "
                                "kernel follows)",
                            "bind_sources");
            return;
        case HostPathVerdict::outside:
            verdicts.refuse(where,
                            "mounts the host path " + std::string(source) +
                                ", which is not one of the allowed host paths (list it "
                                "exactly, or a directory above it as DIR/** for read-only "
                                "mounts)",
                            "bind_sources");
            return;
    }
}

// The file system types a local volume may mount without a host path: tmpfs and ramfs ignore
// their device.
bool memory_file_system(std::string_view type) {
    return type == "tmpfs" || type == "ramfs";
}

// Network file systems: the daemon mounts them from the host's network namespace, reaching
// servers (and exports that trust the host's address) a container could not.
bool network_file_system(std::string_view type) {
    for (const std::string_view network :
         {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs", "ncpfs", "coda",
          "lustre", "ocfs2", "gfs2"}) {
        if (type == network) {
            return true;
        }
    }
    return false;
}

// File systems on a block device, which the device option names as a host path.
bool block_file_system(std::string_view type) {
    for (const std::string_view block :
         {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
          "iso9660", "udf", "squashfs", "erofs", "f2fs", "jfs", "reiserfs", "hfsplus", "nilfs2"}) {
        if (type == block) {
            return true;
        }
    }
    return false;
}

// Any option whose value is a path names a host path, whatever the type: overlay's, and those
// of file systems the proxy does not list (journal_path=, for one).
void check_option_paths(Verdicts& verdicts, const std::string& where, std::string_view type,
                        const std::vector<std::string_view>& mount_options) {
    for (const std::string_view option : mount_options) {
        const std::size_t equals = option.find('=');
        if (equals == std::string_view::npos) {
            continue;
        }
        const std::string_view key = option.substr(0, equals);
        const std::string_view value = option.substr(equals + 1);
        const bool overlay_paths =
            type == "overlay" && (key == "lowerdir" || key == "upperdir" || key == "workdir" ||
                                  key == "lowerdir+" || key == "datadir+");
        if (!overlay_paths && !value.starts_with('/')) {
            continue;
        }
        if (value.find('\\') != std::string_view::npos) {
            verdicts.refuse(where,
                            "has \"" + std::string(option) +
                                "\", a path with escapes the kernel reads and the proxy does not",
                            "bind_sources");
            continue;
        }
        // lowerdir lists layers; every other path option is split the same way, which can only
        // find more paths to check. Overlay only reads its lower layers.
        const Access access =
            type == "overlay" && (key == "lowerdir" || key == "lowerdir+" || key == "datadir+")
                ? Access::read_only
                : Access::writable;
        for (const std::string_view path : split(value, ':')) {
            check_bind_source(verdicts, where + " " + std::string(key), path, access);
        }
    }
}

// A string option the caller has checked is a string; empty when absent.
std::string_view option_text(const json::object& options, std::string_view name) {
    const json::value* value = field(options, name);
    return value ? std::string_view(value->get_string()) : std::string_view();
}

// A local volume mounts `device` at its own directory with mount(2): `type` is the file
// system, and `o` (split on ',' as moby's mount.Mount does) holds flags and file system data.
// With bind or rbind, the device is a host path. Overlay takes host paths in lowerdir
// (':'-separated), upperdir and workdir (measured on Docker 20.10: a volume of type overlay
// with lowerdir=/etc:<dir> shows the host's /etc, shadow included, in the container). Pseudo file
// systems (proc, sysfs, debugfs, cgroup...) mount the host kernel's own, and the proxy refuses
// every type it does not know, under body.privileged.
void check_local_volume_options(Verdicts& verdicts, const std::string& where,
                                const json::object& options) {
    const std::string_view device = option_text(options, "device");
    std::string type(option_text(options, "type"));
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::vector<std::string_view> mount_options = split(option_text(options, "o"), ',');
    const bool bind =
        std::any_of(mount_options.begin(), mount_options.end(),
                    [](std::string_view option) { return option == "bind" || option == "rbind"; });
    const std::string at_device = where + ".device";
    check_option_paths(verdicts, where + ".o", type, mount_options);
    const Access device_access =
        std::find(mount_options.begin(), mount_options.end(), "ro") != mount_options.end()
            ? Access::read_only
            : Access::writable;
    if (bind) {
        check_bind_source(verdicts, at_device, device, device_access);
    } else if (type.empty() || type == "none" || type == "overlay" || memory_file_system(type)) {
        // Overlay's and tmpfs's device is only a name. Without bind, "" and "none" are no file
        // system the kernel mounts, but their device is checked as a host path all the same:
        // deny on doubt.
        if ((type.empty() || type == "none") && !device.empty()) {
            check_bind_source(verdicts, at_device, device, Access::writable);
        }
    } else if (network_file_system(type)) {
        if (!verdicts.limits.remote_mounts) {
            verdicts.refuse(where + ".type",
                            "is " + type +
                                ", a network file system the daemon mounts from the "
                                "host's network",
                            "remote_mounts");
        }
    } else if (block_file_system(type)) {
        check_bind_source(verdicts, at_device, device, device_access);
    } else if (!verdicts.limits.privileged) {
        verdicts.refuse(where + ".type",
                        "is " + type +
                            ", a file system the proxy cannot tell is not the host "
                            "kernel's own (proc, sysfs, cgroup...)",
                        "privileged");
    }
}

}  // namespace

// "src:dst[:mode]" as moby's Linux parser reads it: the mode is a comma-separated list, "ro"
// among it makes the mount read-only.
void check_binds(Verdicts& verdicts, const std::string& where, const json::value* binds) {
    if (!binds) {
        return;
    }
    const auto entries = strings_of(*binds);
    if (!entries || binds->is_string()) {
        verdicts.refuse_unreadable(where, "a list of strings");
        return;
    }
    for (const std::string& bind : *entries) {
        const std::vector<std::string_view> parts = split(bind, ':');
        const std::string_view source = parts.front();
        // A source without a leading '/' is a named volume, which volume_create checks.
        if (!source.empty() && source.front() != '/' && parts.size() > 1) {
            continue;
        }
        if (parts.size() > 3) {
            verdicts.refuse_unreadable(where, "a list of src:dst[:mode] binds");
            return;
        }
        bool read_only = false;
        if (parts.size() == 3) {
            const std::vector<std::string_view> mode = split(parts[2], ',');
            read_only = std::find(mode.begin(), mode.end(), "ro") != mode.end();
        }
        check_bind_source(verdicts, where, source,
                          read_only ? Access::read_only : Access::writable);
    }
}

// A local volume's options, and only those: a plugin's options mean what the plugin says, and
// installing one is its own rule.
void check_volume_driver_options(Verdicts& verdicts, const std::string& where,
                                 const json::value* driver, const json::value* options) {
    if (!options) {
        return;
    }
    if (!options->is_object()) {
        verdicts.refuse_unreadable(where, "an object");
        return;
    }
    const bool local =
        !driver ||
        (driver->is_string() && (driver->get_string() == "local" || driver->get_string().empty()));
    if (!local) {
        return;
    }
    for (const auto& option : options->get_object()) {
        if (!option.value().is_string()) {
            verdicts.refuse_unreadable(where + "." + std::string(option.key()), "a string");
            return;
        }
    }
    check_local_volume_options(verdicts, where, options->get_object());
}

void check_mounts(Verdicts& verdicts, const std::string& where, const json::value* mounts) {
    if (!mounts) {
        return;
    }
    if (!mounts->is_array()) {
        verdicts.refuse_unreadable(where, "a list");
        return;
    }
    std::size_t index = 0;
    for (const auto& mount : mounts->get_array()) {
        const std::string at = where + "[" + std::to_string(index++) + "]";
        if (!mount.is_object()) {
            verdicts.refuse_unreadable(at, "an object");
            return;
        }
        const json::object& spec = mount.get_object();
        const json::value* type = field(spec, "Type");
        const std::string kind = type && type->is_string() ? std::string(type->get_string()) : "";
        const json::value* source = field(spec, "Source");
        const std::string_view source_text =
            source && source->is_string() ? std::string_view(source->get_string()) : "";
        if (kind == "bind") {
            check_bind_source(
                verdicts, at + ".Source", source_text,
                read_only_flag(field(spec, "ReadOnly")) ? Access::read_only : Access::writable);
        } else if (kind == "volume") {
            if (const json::value* options = field(spec, "VolumeOptions");
                options && options->is_object()) {
                if (const json::value* config = field(options->get_object(), "DriverConfig");
                    config && config->is_object()) {
                    check_volume_driver_options(verdicts,
                                                at + ".VolumeOptions.DriverConfig.Options",
                                                field(config->get_object(), "Name"),
                                                field(config->get_object(), "Options"));
                }
            }
        } else if (kind != "tmpfs") {
            verdicts.refuse(at + ".Type", "is \"" + kind + "\", not bind, volume or tmpfs",
                            "unconfined");
        }
    }
}

}  // namespace body_checks

using namespace body_checks;

std::optional<std::string> bind_sources_problem(const std::vector<std::string>& entries) {
    std::vector<std::pair<std::string_view, std::vector<std::string_view>>> roots;
    for (const std::string& entry : entries) {
        const auto segments = host_path_segments(bind_source_root(entry).first);
        if (!segments) {
            return "\"" + entry + "\" is not an absolute host path without . or .. segments";
        }
        roots.emplace_back(entry, *segments);
    }
    for (const auto& [outer, outer_segments] : roots) {
        for (const auto& [inner, inner_segments] : roots) {
            if (&outer == &inner || outer_segments.size() > inner_segments.size() ||
                !std::equal(outer_segments.begin(), outer_segments.end(), inner_segments.begin())) {
                continue;
            }
            if (outer_segments.size() == inner_segments.size() && &outer > &inner) {
                continue;  // the same path twice: named once, below
            }
            return "\"" + std::string(inner) + "\" lies within \"" + std::string(outer) +
                   "\": a container that may write the one could put a symlink in place of the "
                   "other, which the kernel follows; list paths that do not contain each other";
        }
    }
    return std::nullopt;
}

}  // namespace socket_proxy
