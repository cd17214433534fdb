#include "write_body.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <initializer_list>
#include <limits>
#include <span>
#include <utility>

#include "daemon_json.hpp"
#include "go_text.hpp"
#include "route.hpp"
#include "target.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

// A key folded as go_fold() folds it, from its raw JSON text (quotes excluded), escapes
// decoded: "Privileg\u0065d" and "privileged" are one key to the daemon.
std::string fold_raw_key(std::string_view raw) {
    std::string decoded;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            decoded += raw[i];
            continue;
        }
        const char escape = raw[++i];
        if (escape != 'u') {
            decoded += escape;  // \" \\ \/ and the control escapes: never letters
            continue;
        }
        unsigned code = 0;
        for (int digit = 0; digit < 4; ++digit) {
            code = code * 16 + static_cast<unsigned>(hex_digit_value(raw[++i]));
        }
        // UTF-8, so that go_fold() sees "\u017f" as it sees a raw long s; a surrogate
        // half is kept as its own three bytes, which no field name has.
        if (code < 0x80) {
            decoded += static_cast<char>(code);
        } else if (code < 0x800) {
            decoded += static_cast<char>(0xC0 | (code >> 6));
            decoded += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            decoded += static_cast<char>(0xE0 | (code >> 12));
            decoded += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            decoded += static_cast<char>(0x80 | (code & 0x3F));
        }
    }
    return go_fold(decoded);
}

// A second pass over text Boost.JSON has already accepted as JSON, for what its value tree
// cannot show: two keys of one object that fold alike (the daemon takes the last of them, a
// check could read another), and objects too large to judge. Each object's folded keys are
// sorted when it closes, so the pass is O(n log n) in the body whatever its keys: a hash set
// would be quadratic on keys chosen to collide, and std::hash has no secret seed.
std::optional<WriteRefusal> check_keys(std::string_view text) {
    struct Key {
        std::string folded;
        std::string_view raw;
    };
    struct Level {
        bool object = false;
        bool expecting_key = false;
        std::vector<Key> keys;
    };
    std::vector<Level> levels;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '{' || c == '[') {
            levels.push_back({c == '{', c == '{', {}});
        } else if (c == '}' || c == ']') {
            std::vector<Key>& keys = levels.back().keys;
            std::sort(keys.begin(), keys.end(),
                      [](const Key& a, const Key& b) { return a.folded < b.folded; });
            const auto twice =
                std::adjacent_find(keys.begin(), keys.end(),
                                   [](const Key& a, const Key& b) { return a.folded == b.folded; });
            if (twice != keys.end()) {
                return WriteRefusal{403,
                                    "the body has the field \"" + std::string(twice->raw) +
                                        "\" twice (names are compared as the daemon compares them, "
                                        "ignoring case), so the daemon could read another value"};
            }
            levels.pop_back();
        } else if (c == ',' && !levels.empty() && levels.back().object) {
            levels.back().expecting_key = true;
        } else if (c == '"') {
            const std::size_t start = ++i;
            while (text[i] != '"') {
                i += text[i] == '\\' ? 2 : 1;
            }
            if (!levels.empty() && levels.back().expecting_key) {
                Level& level = levels.back();
                level.expecting_key = false;
                if (level.keys.size() == max_object_keys) {
                    return WriteRefusal{413, "the body has an object with more than " +
                                                 std::to_string(max_object_keys) +
                                                 " keys, too many to check"};
                }
                const std::string_view raw = text.substr(start, i - start);
                level.keys.push_back({fold_raw_key(raw), raw});
            }
        }
    }
    return std::nullopt;
}

// The body as the daemon will read it, or why it cannot be judged.
struct ReadBody {
    std::optional<json::value> document;
    std::optional<WriteRefusal> problem;
};

ReadBody read_body(std::string_view body) {
    json::parse_options options;
    options.max_depth = max_body_depth;
    json::error_code error;
    // One arena per body, freed with the document: the tree of a 1 MiB body is some 100,000
    // small allocations, which would otherwise cost as much as the check itself.
    json::value document =
        json::parse(json::string_view(body.data(), body.size()), error,
                    json::make_shared_resource<json::monotonic_resource>(), options);
    if (error == json::error::too_deep) {
        return {std::nullopt,
                WriteRefusal{400, "the body nests deeper than " + std::to_string(max_body_depth) +
                                      " levels, deeper than any Docker body"}};
    }
    if (error) {
        return {std::nullopt,
                WriteRefusal{403, "the body is not JSON the proxy can read: " + error.message()}};
    }
    if (auto problem = check_keys(body)) {
        return {std::nullopt, std::move(problem)};
    }
    return {std::move(document), std::nullopt};
}

// The value of a field as Go's decoder finds it; nullptr when absent or null (Go leaves the
// field at its zero value for null).
const json::value* field(const json::object& object, std::string_view name) {
    for (const auto& member : object) {
        if (go_fold_equals(std::string_view(member.key().data(), member.key().size()), name)) {
            return member.value().is_null() ? nullptr : &member.value();
        }
    }
    return nullptr;
}

json::value* field(json::object& object, std::string_view name) {
    return const_cast<json::value*>(field(std::as_const(object), name));
}

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

// Go's strslice.StrSlice and friends: a string or an array of strings.
std::optional<std::vector<std::string>> strings_of(const json::value& value) {
    std::vector<std::string> out;
    if (value.is_string()) {
        out.emplace_back(value.get_string());
        return out;
    }
    if (!value.is_array()) {
        return std::nullopt;
    }
    for (const auto& item : value.get_array()) {
        if (!item.is_string()) {
            return std::nullopt;
        }
        out.emplace_back(item.get_string());
    }
    return out;
}

bool is_true(const json::value* value) {
    return value && !(value->is_bool() && !value->get_bool());
}

bool nonempty(const json::value* value) {
    if (!value) {
        return false;
    }
    if (value->is_array()) {
        return !value->get_array().empty();
    }
    if (value->is_object()) {
        return !value->get_object().empty();
    }
    return !(value->is_string() && value->get_string().empty());
}

// Whether a mount lets the container write to the host path it names.
enum class Access { read_only, writable };

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

// A local volume mounts `device` at its own directory with mount(2): `type` is the file
// system, and `o` (split on ',' as moby's mount.Mount does) holds flags and file system data.
// With bind or rbind, the device is a host path. Overlay takes host paths in lowerdir
// (':'-separated), upperdir and workdir (measured on Docker 20.10: a volume of type overlay
// with lowerdir=/etc:<dir> shows the host's /etc, shadow included, in the container). Pseudo file
// systems (proc, sysfs, debugfs, cgroup...) mount the host kernel's own, and the proxy refuses
// every type it does not know, under body.privileged.
void check_local_volume_options(Verdicts& verdicts, const std::string& where,
                                const json::object& options) {
    const json::value* device_value = field(options, "device");
    const std::string_view device =
        device_value ? std::string_view(device_value->get_string()) : std::string_view();
    const json::value* type_value = field(options, "type");
    std::string type = type_value ? std::string(type_value->get_string()) : std::string();
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const json::value* o_value = field(options, "o");
    const std::string_view o =
        o_value ? std::string_view(o_value->get_string()) : std::string_view();
    const std::vector<std::string_view> mount_options = split(o, ',');
    const bool bind =
        std::any_of(mount_options.begin(), mount_options.end(),
                    [](std::string_view option) { return option == "bind" || option == "rbind"; });
    const std::string at_device = where + ".device";
    const std::string at_o = where + ".o";
    // Any option whose value is a path names a host path, whatever the type: overlay's, and
    // those of file systems the proxy does not list (journal_path=, for one).
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
            verdicts.refuse(at_o,
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
            check_bind_source(verdicts, at_o + " " + std::string(key), path, access);
        }
    }
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

void check_capabilities(Verdicts& verdicts, const std::string& where, const json::value* caps) {
    if (!caps) {
        return;
    }
    const auto names = strings_of(*caps);
    if (!names) {
        verdicts.refuse_unreadable(where, "a list of strings");
        return;
    }
    const auto& allowed = verdicts.limits.capabilities;
    const bool any = std::find(allowed.begin(), allowed.end(), "ALL") != allowed.end();
    for (const std::string& name : *names) {
        const std::string capability = capability_name(name);
        if (!any && std::find(allowed.begin(), allowed.end(), capability) == allowed.end()) {
            verdicts.refuse(where, "adds the capability " + name + ", which is not allowed",
                            "capabilities");
        }
    }
}

// What Docker 20.10 (oci/defaults.go) hides from and makes read-only in every container.
constexpr std::string_view docker_masked_paths[] = {
    "/proc/asound",        "/proc/acpi",       "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware"};
constexpr std::string_view docker_readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq",
                                                      "/proc/sys", "/proc/sysrq-trigger"};

// The SecurityOpt entries that keep the container confined; any other is refused.
bool confining_security_option(std::string_view option) {
    std::string lower(option);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::size_t separator = lower.find_first_of("=:");
    const std::string_view key = std::string_view(lower).substr(0, separator);
    const std::string_view value = separator == std::string::npos
                                       ? std::string_view{}
                                       : std::string_view(lower).substr(separator + 1);
    if (key == "no-new-privileges") {
        return value.empty() || value == "true";
    }
    if (key == "apparmor") {
        return !value.empty() && value != "unconfined";
    }
    if (key == "label") {
        return value.starts_with("user:") || value.starts_with("role:") ||
               value.starts_with("type:") || value.starts_with("level:");
    }
    return false;  // seccomp profiles, systempaths=unconfined, label=disable, the unknown
}

void check_host_config(Verdicts& verdicts, const std::string& where, const json::object& config) {
    const WriteLimits& limits = verdicts.limits;
    const auto at = [&](std::string_view name) { return where + std::string(name); };
    if (!limits.privileged && is_true(field(config, "Privileged"))) {
        verdicts.refuse(at("Privileged"), "is true", "privileged");
    }
    if (!limits.host_namespaces) {
        // Not CgroupnsMode: "host" is Docker's own default on cgroup v1 hosts (inspect shows
        // it, and Watchtower sends it back), and it shows cgroup paths, not host processes.
        for (const std::string_view mode :
             {"NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode"}) {
            if (const json::value* value = field(config, mode)) {
                if (!value->is_string()) {
                    verdicts.refuse_unreadable(at(mode), "a string");
                    continue;
                }
                const std::string folded = go_fold(std::string_view(value->get_string()));
                if (folded == "host") {
                    verdicts.refuse(at(mode), "is host, the host's own namespace",
                                    "host_namespaces");
                } else if (const std::string_view text(value->get_string());
                           text.starts_with("container:") && text.size() > 10 &&
                           (mode == "NetworkMode" || mode == "PidMode" || mode == "IpcMode")) {
                    // Measured: --network container:X, with X on the host network, lists the
                    // host's interfaces; --pid container:Y, Y with --pid host, the host's
                    // processes. So the engine is asked what X's own mode is. (Go reads the
                    // prefix case-sensitively; the engine stores the id it resolved X to.)
                    verdicts.ask_engine({EngineReference::Kind::namespace_owner, at(mode),
                                         std::string(text.substr(10)), std::string(mode)});
                } else if (folded.starts_with("container:")) {
                    // Docker 20.10 creates UTSMode and UsernsMode container:X too (the UTS
                    // stayed the container's own), and a prefix spelled in another case is
                    // no mode Go knows: refused, on doubt.
                    verdicts.refuse(at(mode),
                                    "is " + std::string(value->get_string()) +
                                        ", which joins that container's namespace, and it may "
                                        "be the host's",
                                    "host_namespaces");
                }
            }
        }
    }
    check_capabilities(verdicts, at("CapAdd"), field(config, "CapAdd"));
    if (!limits.unconfined && nonempty(field(config, "Capabilities"))) {
        verdicts.refuse(at("Capabilities"), "sets the capabilities", "capabilities");
    }
    if (!limits.devices) {
        for (const std::string_view name : {"Devices", "DeviceCgroupRules", "DeviceRequests"}) {
            if (nonempty(field(config, name))) {
                verdicts.refuse(at(name), "gives the container host devices", "devices");
            }
        }
    }
    if (!limits.unconfined) {
        if (const json::value* options = field(config, "SecurityOpt")) {
            const auto entries = strings_of(*options);
            if (!entries) {
                verdicts.refuse_unreadable(at("SecurityOpt"), "a list of strings");
            } else {
                for (const std::string& option : *entries) {
                    if (!confining_security_option(option)) {
                        verdicts.refuse(at("SecurityOpt"),
                                        "has \"" + option + "\", which lifts a confinement",
                                        "unconfined");
                    }
                }
            }
        }
        // A list without Docker's defaults unmasks /proc and /sys paths
        // (systempaths=unconfined sends []); the defaults themselves come back from inspect
        // in every recreated container, so a list that keeps them all is allowed.
        for (const auto& [name, defaults] :
             {std::pair{std::string_view("MaskedPaths"),
                        std::span<const std::string_view>(docker_masked_paths)},
              std::pair{std::string_view("ReadonlyPaths"),
                        std::span<const std::string_view>(docker_readonly_paths)}}) {
            const json::value* paths = field(config, name);
            if (!paths) {
                continue;
            }
            const auto listed = strings_of(*paths);
            if (!listed || paths->is_string()) {
                verdicts.refuse_unreadable(at(name), "a list of strings");
                continue;
            }
            for (const std::string_view path : defaults) {
                if (std::find(listed->begin(), listed->end(), path) == listed->end()) {
                    verdicts.refuse(at(name),
                                    "leaves out " + std::string(path) +
                                        ", which Docker masks from every container",
                                    "unconfined");
                    break;
                }
            }
        }
    }
    check_binds(verdicts, at("Binds"), field(config, "Binds"));
    check_mounts(verdicts, at("Mounts"), field(config, "Mounts"));
    if (!limits.volumes_from && nonempty(field(config, "VolumesFrom"))) {
        verdicts.refuse(at("VolumesFrom"), "mounts another container's volumes", "volumes_from");
    }
}

// Wildcards: "*" alone (any), or a final "/*" (any repository below).
bool image_allowed(std::string_view reference, const std::vector<std::string>& allowed) {
    if (allowed.empty()) {
        return true;
    }
    const std::string repository = image_repository(reference);
    for (const std::string& pattern : allowed) {
        if (pattern == "*") {
            return true;
        }
        const std::string wanted = pattern.ends_with("/*")
                                       ? image_repository(pattern.substr(0, pattern.size() - 2))
                                       : image_repository(pattern);
        if (pattern.ends_with("/*") ? repository.starts_with(wanted + "/") : repository == wanted) {
            return true;
        }
    }
    return false;
}

void check_image(Verdicts& verdicts, const std::string& where, const json::value* image) {
    if (verdicts.limits.images.empty()) {
        return;
    }
    if (!image || !image->is_string()) {
        verdicts.refuse(where, "names no image the proxy can check against the allowed ones",
                        "images");
        return;
    }
    const std::string_view reference(image->get_string());
    if (!image_allowed(reference, verdicts.limits.images)) {
        verdicts.refuse(where, "is " + std::string(reference) + ", not an allowed image", "images");
    }
}

// Both places runconfig's ContainerConfigWrapper reads a HostConfig from: the "HostConfig"
// key and, when that is absent, the top level (Docker 20.10, measured).
void check_host_configs(Verdicts& verdicts, const json::object& body) {
    check_host_config(verdicts, "", body);
    if (const json::value* host_config = field(body, "HostConfig")) {
        if (!host_config->is_object()) {
            verdicts.refuse_unreadable("HostConfig", "an object");
            return;
        }
        check_host_config(verdicts, "HostConfig.", host_config->get_object());
    }
}

void check_container_create(Verdicts& verdicts, const json::object& body) {
    check_image(verdicts, "Image", field(body, "Image"));
    check_host_configs(verdicts, body);
}

void check_exec(Verdicts& verdicts, const json::object& body) {
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

// A service that mounts a secret can print it into its logs, which read-only rules serve:
// each reference must name an allowed secret (or config). Swarmkit's control API refuses a
// reference whose SecretName is not the name of the secret its SecretID points to
// (checkSecretExistence, and checkConfigExistence alike), so the name is what is mounted.
void check_references(Verdicts& verdicts, const std::string& where, const json::value* references,
                      std::string_view name_field, const std::vector<std::string>& allowed,
                      std::string_view setting) {
    if (!references) {
        return;
    }
    if (!references->is_array()) {
        verdicts.refuse_unreadable(where, "a list");
        return;
    }
    std::size_t index = 0;
    for (const auto& reference : references->get_array()) {
        const std::string at = where + "[" + std::to_string(index++) + "]";
        const json::value* name =
            reference.is_object() ? field(reference.get_object(), name_field) : nullptr;
        if (!name || !name->is_string()) {
            verdicts.refuse(at, "names no " + std::string(name_field) + " the proxy can check",
                            setting);
            continue;
        }
        const std::string_view wanted(name->get_string());
        if (std::find(allowed.begin(), allowed.end(), wanted) == allowed.end()) {
            verdicts.refuse(at, "mounts " + std::string(wanted) + ", which is not allowed",
                            setting);
        }
    }
}

void check_service(Verdicts& verdicts, const json::object& body) {
    const json::value* task = field(body, "TaskTemplate");
    if (task && !task->is_object()) {
        verdicts.refuse_unreadable("TaskTemplate", "an object");
        return;
    }
    const json::object empty;
    const json::object& template_spec = task ? task->get_object() : empty;
    const json::value* container = field(template_spec, "ContainerSpec");
    if (container && container->is_object()) {
        const json::object& spec = container->get_object();
        const std::string at = "TaskTemplate.ContainerSpec.";
        check_image(verdicts, at + "Image", field(spec, "Image"));
        check_mounts(verdicts, at + "Mounts", field(spec, "Mounts"));
        check_capabilities(verdicts, at + "CapabilityAdd", field(spec, "CapabilityAdd"));
        if (!verdicts.limits.unconfined && nonempty(field(spec, "Privileges"))) {
            verdicts.refuse(at + "Privileges", "is set (seccomp, AppArmor, SELinux, credentials)",
                            "unconfined");
        }
        check_references(verdicts, at + "Secrets", field(spec, "Secrets"), "SecretName",
                         verdicts.limits.secrets, "secrets");
        check_references(verdicts, at + "Configs", field(spec, "Configs"), "ConfigName",
                         verdicts.limits.configs, "configs");
    } else if (container) {
        verdicts.refuse_unreadable("TaskTemplate.ContainerSpec", "an object");
    } else if (!verdicts.limits.unconfined && field(template_spec, "PluginSpec")) {
        verdicts.refuse("TaskTemplate.PluginSpec", "installs a plugin on every node",
                        "plugin_privileges");
    }
    // A Target is resolved by the engine as a name, an id or an id prefix (swarmkit's, then
    // the local engine's predefined networks): only the name "host" is plain here, every other
    // target is asked about.
    if (!verdicts.limits.host_namespaces) {
        for (const auto& [owner, networks] :
             {std::pair{std::string("TaskTemplate.Networks"), field(template_spec, "Networks")},
              std::pair{std::string("Networks"), field(body, "Networks")}}) {
            if (!networks || !networks->is_array()) {
                continue;
            }
            for (const auto& network : networks->get_array()) {
                const json::value* target =
                    network.is_object() ? field(network.get_object(), "Target") : nullptr;
                if (target && target->is_string() && target->get_string() == "host") {
                    verdicts.refuse(owner, "attaches the host network", "host_namespaces");
                } else if (target && target->is_string()) {
                    verdicts.ask_engine({EngineReference::Kind::network, owner,
                                         std::string(target->get_string()), ""});
                } else if (target) {
                    verdicts.refuse_unreadable(owner + "[].Target", "a string");
                }
            }
        }
    }
}

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
    const json::object& object = read.document->get_object();
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

std::string reference_target(const EngineReference& reference) {
    return reference.kind == EngineReference::Kind::namespace_owner
               ? "/containers/" + encode_path(reference.name) + "/json"
               : "/networks/" + encode_path(reference.name);
}

std::optional<WriteRefusal> judge_reference(const EngineReference& reference, unsigned status,
                                            std::string_view answer) {
    const bool container = reference.kind == EngineReference::Kind::namespace_owner;
    const std::string named =
        reference.where + " names " + (container ? "container " : "network ") + reference.name;
    if (status == 404) {
        return WriteRefusal{403, named + ", which the engine does not know"};
    }
    if (status != 200) {
        return WriteRefusal{403, named + ", which the engine could not resolve (it answered " +
                                     std::to_string(status) + ")"};
    }
    const std::optional<json::value> document = parse_daemon_json(answer);
    const json::object* object = document ? document->if_object() : nullptr;
    const auto text = [](const json::object* from,
                         std::string_view key) -> std::optional<std::string> {
        const json::value* value =
            from ? from->if_contains(json::string_view(key.data(), key.size())) : nullptr;
        if (value && value->is_string()) {
            return std::string(value->get_string());
        }
        return std::nullopt;
    };
    if (container) {
        const json::value* host_config = object ? object->if_contains("HostConfig") : nullptr;
        const std::optional<std::string> mode =
            text(host_config ? host_config->if_object() : nullptr, reference.mode);
        if (!mode) {
            return WriteRefusal{502, named + ", whose " + reference.mode +
                                         " the engine's answer does not show readably"};
        }
        if (*mode == "host") {
            return WriteRefusal{403, named + ", whose " + reference.mode +
                                         " is the host's: joining it is joining the host's "
                                         "(body.host_namespaces)"};
        }
        if (mode->starts_with("container:")) {
            return WriteRefusal{403, named + ", which itself joins another container's " +
                                         reference.mode +
                                         " (the proxy follows no chain; "
                                         "body.host_namespaces)"};
        }
        return std::nullopt;
    }
    const std::optional<std::string> name = text(object, "Name");
    const std::optional<std::string> driver = text(object, "Driver");
    if (!name || !driver) {
        return WriteRefusal{502, named + ", which the engine's answer does not describe readably"};
    }
    if (*name == "host" || *driver == "host") {
        return WriteRefusal{403, named + ", the host's network (body.host_namespaces)"};
    }
    return std::nullopt;
}

std::optional<std::string> pin_borrowed_namespaces(
    std::string_view body, const std::vector<std::pair<EngineReference, std::string>>& resolved) {
    ReadBody read = read_body(body);
    if (!read.document || !read.document->is_object()) {
        return std::nullopt;
    }
    json::object& top = read.document->get_object();
    for (const auto& [reference, id] : resolved) {
        if (reference.kind != EngineReference::Kind::namespace_owner) {
            continue;
        }
        json::object* owner = &top;
        std::string_view mode = reference.where;
        if (mode.starts_with("HostConfig.")) {
            json::value* host_config = field(top, "HostConfig");
            owner = host_config ? host_config->if_object() : nullptr;
            mode.remove_prefix(11);
        }
        json::value* value = owner ? field(*owner, mode) : nullptr;
        if (!value || !value->is_string() ||
            std::string_view(value->get_string()) != "container:" + reference.name) {
            return std::nullopt;  // not the body the references came from
        }
        *value = "container:" + id;
    }
    return serialise_daemon_json(*read.document);
}

std::optional<std::string> refuse_write(WriteKind kind, std::string_view query,
                                        std::string_view body, const WriteLimits& limits) {
    if (auto refusal = judge_write(kind, query, body, limits)) {
        return std::move(refusal->reason);
    }
    return std::nullopt;
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

std::string capability_name(std::string_view name) {
    std::string capability(name);
    std::transform(capability.begin(), capability.end(), capability.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (capability.starts_with("CAP_")) {
        capability.erase(0, 4);
    }
    return capability;
}

std::span<const WriteLimitSwitch> write_limit_switches() {
    static constexpr WriteLimitSwitch switches[] = {
        {"privileged", &WriteLimits::privileged},
        {"host_namespaces", &WriteLimits::host_namespaces},
        {"devices", &WriteLimits::devices},
        {"unconfined", &WriteLimits::unconfined},
        {"volumes_from", &WriteLimits::volumes_from},
        {"exec_root", &WriteLimits::exec_root},
        {"remote_build", &WriteLimits::remote_build},
        {"image_import", &WriteLimits::image_import},
        {"plugin_privileges", &WriteLimits::plugin_privileges},
        {"remote_mounts", &WriteLimits::remote_mounts},
        {"libpod_writes", &WriteLimits::libpod_writes},
    };
    return switches;
}

std::string describe_write_limits(const WriteLimits& limits) {
    std::string text;
    const auto add = [&text](std::string_view part) {
        text += text.empty() ? "" : " ";
        text += part;
    };
    for (const WriteLimitSwitch& limit : write_limit_switches()) {
        if (limits.*limit.member) {
            add(limit.name);
        }
    }
    const std::pair<std::string_view, const std::vector<std::string>*> lists[] = {
        {"bind_sources", &limits.bind_sources},
        {"capabilities", &limits.capabilities},
        {"images", &limits.images},
        {"secrets", &limits.secrets},
        {"configs", &limits.configs},
    };
    for (const auto& [name, items] : lists) {
        if (!items->empty()) {
            std::string part = std::string(name) + "=";
            for (std::size_t i = 0; i < items->size(); ++i) {
                part += (i == 0 ? "" : ",") + (*items)[i];
            }
            add(part);
        }
    }
    if (limits.max_body_bytes != WriteLimits{}.max_body_bytes) {
        add("max_size=" + std::to_string(limits.max_body_bytes));
    }
    return text.empty() ? "defaults" : text;
}

std::string image_repository(std::string_view reference) {
    std::string_view name = reference.substr(0, reference.find('@'));
    const std::size_t last_slash = name.rfind('/');
    const std::size_t tag = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
    name = name.substr(0, tag);
    std::string repository(name);
    const std::size_t first_slash = repository.find('/');
    const std::string_view first = std::string_view(repository).substr(0, first_slash);
    const bool has_registry =
        first_slash != std::string::npos &&
        (first.find_first_of(".:") != std::string_view::npos || first == "localhost");
    if (!has_registry) {
        repository =
            (first_slash == std::string::npos ? "docker.io/library/" : "docker.io/") + repository;
    }
    if (repository.starts_with("index.docker.io/")) {
        repository.replace(0, 15, "docker.io");
    }
    std::transform(repository.begin(), repository.end(), repository.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return repository;
}

}  // namespace socket_proxy
