#include "redact.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "daemon_json.hpp"
#include "policy.hpp"

namespace socket_proxy {
namespace json = boost::json;

namespace {

const std::vector<PathPattern>& secret_routes() {
    static const std::vector<PathPattern> routes{
        PathPattern::parse("/containers/{id...}/json"),
        PathPattern::parse("/images/{name...}/json"),
        PathPattern::parse("/images/{name...}/history"),
        PathPattern::parse("/volumes"),
        PathPattern::parse("/volumes/{name...}"),
        PathPattern::parse("/services"),
        PathPattern::parse("/services/{id}"),
        PathPattern::parse("/tasks"),
        PathPattern::parse("/tasks/{id}"),
        PathPattern::parse("/plugins/**"),
        PathPattern::parse("/swarm"),
        PathPattern::parse("/libpod/containers/{id...}/json"),
        PathPattern::parse("/libpod/images/{name...}/json"),
        PathPattern::parse("/libpod/images/{name...}/history"),
        PathPattern::parse("/libpod/volumes/json"),
        PathPattern::parse("/libpod/volumes/{name...}/json"),
    };
    return routes;
}

// Driver options whose values say what is mounted and how, never with which credentials
// (the local driver's keys; "o" is read option by option). Any other key's value goes: a
// plugin's options are its own, and "password" is only the obvious name.
constexpr auto kHarmlessDriverOptions = std::to_array<std::string_view>({"type", "device", "size"});

// mount(8) options in "o" whose values are addresses, versions, ids and sizes.
constexpr auto kHarmlessMountValues = std::to_array<std::string_view>({
    "addr",  "vers",    "nfsvers",   "port",  "proto",     "mountport", "uid",
    "gid",   "mode",    "size",      "sec",   "timeo",     "retrans",   "rsize",
    "wsize", "actimeo", "iocharset", "cache", "file_mode", "dir_mode",  "nr_inodes",
});

// Flags without a value. Anything else without '=' is refused a place: a password holding a
// comma (mount.cifs escapes it as ",,") would otherwise leave its tail as a "flag".
constexpr auto kHarmlessMountFlags = std::to_array<std::string_view>({
    "ro",     "rw",       "bind",       "rbind",       "nolock",   "noexec", "exec",
    "nosuid", "suid",     "nodev",      "dev",         "sync",     "async",  "noatime",
    "atime",  "relatime", "nodiratime", "strictatime", "soft",     "hard",   "intr",
    "nointr", "noac",     "tcp",        "udp",         "defaults", "noperm", "nounix",
    "nobrl",  "nofail",   "guest",      "_netdev",     "noauto",
});

// Log-driver options that size, name or format the log. Tokens, URLs (which may hold
// user:password@) and credential paths are everything else.
constexpr auto kHarmlessLogOptions = std::to_array<std::string_view>({
    "max-size",
    "max-file",
    "compress",
    "mode",
    "max-buffer-size",
    "tag",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
    "syslog-facility",
    "syslog-format",
    "awslogs-region",
    "awslogs-group",
    "awslogs-stream",
    "awslogs-create-group",
    "awslogs-datetime-format",
    "splunk-index",
    "splunk-source",
    "splunk-sourcetype",
    "splunk-format",
    "splunk-gzip",
    "splunk-verify-connection",
    "splunk-insecureskipverify",
    "gelf-compression-type",
    "gelf-compression-level",
    "fluentd-async",
    "fluentd-max-retries",
    "fluentd-retry-wait",
    "fluentd-buffer-limit",
});

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view key) {
    return std::find(list.begin(), list.end(), key) != list.end();
}

bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_variable_name(std::string_view name) {
    return !name.empty() && (is_letter(name.front()) || name.front() == '_') &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
           });
}

std::string redacted_assignment(std::string_view name) {
    return std::string(name) + "=" + std::string(redacted_value);
}

// "NAME=value" -> "NAME=<redacted>". Without '=' the word is a name only (podman -e NAME takes
// the value from its own environment) and stays.
std::string redact_assignment(std::string_view word) {
    const std::size_t equals = word.find('=');
    if (equals == std::string_view::npos) {
        return std::string(word);
    }
    return redacted_assignment(word.substr(0, equals));
}

void redact_environment(json::array& environment) {
    for (json::value& entry : environment) {
        if (json::string* text = entry.if_string()) {
            const std::string_view variable(*text);
            if (variable.find('=') != std::string_view::npos) {
                *text = redact_assignment(variable);
            }
        } else if (json::object* setting = entry.if_object()) {
            // A plugin's declared variables: {"Name": ..., "Value": ...}.
            if (json::value* value = setting->if_contains("Value");
                value && value->is_string() && !value->get_string().empty()) {
                *value = redacted_value;
            }
        }
    }
}

// ---- build steps (image history, ContainerConfig.Cmd, OnBuild) ----

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> result;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_blank(text[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !is_blank(text[i])) {
            ++i;
        }
        if (i > start) {
            result.push_back(text.substr(start, i - start));
        }
    }
    return result;
}

std::optional<std::string_view> assignment_name(std::string_view word) {
    const std::size_t equals = word.find('=');
    if (equals == std::string_view::npos || !is_variable_name(word.substr(0, equals))) {
        return std::nullopt;
    }
    return word.substr(0, equals);
}

std::string join(const std::vector<std::string>& parts) {
    std::string text;
    for (const std::string& part : parts) {
        text += (text.empty() ? "" : " ") + part;
    }
    return text;
}

// The builders write "K=V K2=V2" with the values unquoted, so a value holding a space runs on
// into the next word. A word starts a new assignment only when it reads NAME=; every other
// word belongs to the value before it and goes with it. ARG also declares names without a
// value ("ARG A B=1"): a bare name counts as one only where no value precedes it.
std::string redact_assignments(std::string_view text, bool bare_names) {
    std::vector<std::string> out;
    bool after_value = false;
    for (const std::string_view word : words(text)) {
        if (const auto name = assignment_name(word)) {
            out.push_back(redacted_assignment(*name));
            after_value = true;
        } else if (bare_names && !after_value && is_variable_name(word)) {
            out.emplace_back(word);
        } else if (!after_value) {
            out.emplace_back(redacted_value);
            after_value = true;
        }
    }
    return join(out);
}

// ENV also has the old form "ENV NAME value with spaces" (raw Dockerfile text in OnBuild).
std::string redact_env(std::string_view text) {
    const std::vector<std::string_view> all = words(text);
    if (!all.empty() && !assignment_name(all.front()) && is_variable_name(all.front())) {
        return std::string(all.front()) +
               (all.size() > 1 ? " " + std::string(redacted_value) : std::string());
    }
    return redact_assignments(text, false);
}

std::optional<std::size_t> build_arg_count(std::string_view word) {
    if (word.size() < 2 || word.size() > 5 || word.front() != '|' ||
        word.find_first_not_of("0123456789", 1) != std::string_view::npos) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(std::stoul(std::string(word.substr(1))));
}

constexpr std::string_view kDefaultShell = "/bin/sh -c";

// Where the default shell starts a word: the end of the build arguments in "|N K=V ...".
std::size_t find_shell(std::string_view text) {
    for (std::size_t at = text.find(kDefaultShell); at != std::string_view::npos;
         at = text.find(kDefaultShell, at + 1)) {
        if (at == 0 || is_blank(text[at - 1])) {
            return at;
        }
    }
    return std::string_view::npos;
}

// "|2 A=1 B=2 /bin/sh -c make": the build arguments a RUN step used, sorted, unquoted. The
// names stay when exactly N of them can be told apart before the default shell; otherwise
// everything up to it goes, and with another shell (SHELL, exec form) everything after "|N".
std::string redact_build_args(std::string_view text) {
    const std::size_t space = text.find_first_of(" \t");
    const std::string_view count_word = text.substr(0, space);
    const std::optional<std::size_t> count = build_arg_count(count_word);
    if (!count) {
        return std::string(text);
    }
    const std::string head(count_word);
    const std::string_view rest = space == std::string_view::npos ? "" : text.substr(space + 1);
    const std::size_t shell = find_shell(rest);
    const std::vector<std::string_view> arguments = words(rest.substr(0, shell));
    std::vector<std::string> names;
    bool readable = true;
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const auto name = assignment_name(arguments[i]);
        if (name) {
            names.push_back(redacted_assignment(*name));
        } else if (i == 0 || shell == std::string_view::npos) {
            readable = false;
        }
        if (shell == std::string_view::npos && names.size() == *count) {
            break;
        }
    }
    readable = readable && names.size() == *count;
    std::string out = head;
    if (!names.empty() || !readable) {
        out += " " + (readable ? join(names) : std::string(redacted_value));
    }
    if (shell != std::string_view::npos) {
        out += " " + std::string(rest.substr(shell));
    } else if (readable && arguments.size() > *count) {
        out += " " + std::string(redacted_value);
    }
    return out;
}

std::string ascii_upper(std::string_view text) {
    std::string upper(text);
    for (char& c : upper) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return upper;
}

// One Dockerfile instruction as the builders record it ("ENV A=1", "ARG T=x",
// "RUN |1 T=x /bin/sh -c make", "ONBUILD ENV A=1"); other instructions stay as they are.
std::string redact_instruction(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size() && is_blank(text[start])) {
        ++start;
    }
    const std::string leading(text.substr(0, start));
    const std::string_view body = text.substr(start);
    if (body.starts_with("|")) {
        return leading + redact_build_args(body);
    }
    std::size_t end = 0;
    while (end < body.size() && !is_blank(body[end])) {
        ++end;
    }
    const std::string_view keyword = body.substr(0, end);
    std::string_view rest = body.substr(end);
    while (!rest.empty() && is_blank(rest.front())) {
        rest.remove_prefix(1);
    }
    if (rest.empty()) {
        return std::string(text);
    }
    const std::string upper = ascii_upper(keyword);
    const std::string prefix = leading + std::string(keyword) + " ";
    if (upper == "ENV") {
        return prefix + redact_env(rest);
    }
    if (upper == "ARG") {
        return prefix + redact_assignments(rest, true);
    }
    if (upper == "ONBUILD") {
        return prefix + redact_instruction(rest);
    }
    if (upper == "RUN" && rest.starts_with("|")) {
        return prefix + redact_build_args(rest);
    }
    return std::string(text);
}

constexpr std::string_view kNop = "#(nop)";

// ContainerConfig.Cmd of a legacy build: ["/bin/sh", "-c", "#(nop) ", "ENV A=1"] for a
// metadata step, ["|1", "T=x", "/bin/sh", "-c", "make"] for a RUN with build arguments.
void redact_command(json::array& command) {
    if (!command.empty() && command.front().is_string()) {
        if (const auto count = build_arg_count(command.front().get_string())) {
            for (std::size_t i = 1; i <= *count && i < command.size(); ++i) {
                if (json::string* argument = command[i].if_string()) {
                    const auto name = assignment_name(*argument);
                    *argument = name ? redacted_assignment(*name) : std::string(redacted_value);
                }
            }
        }
    }
    bool after_nop = false;
    for (json::value& element : command) {
        if (json::string* text = element.if_string()) {
            if (after_nop) {
                *text = redact_instruction(*text);
            } else if (std::string_view(*text).find(kNop) != std::string_view::npos) {
                *text = redact_build_step(*text);
                after_nop = true;
            }
        }
    }
}

// ---- driver and log options ----

std::string redact_log_option(std::string_view option) {
    const std::size_t equals = option.find('=');
    if (equals == std::string_view::npos) {
        return std::string(redacted_value);
    }
    return listed(kHarmlessLogOptions, option.substr(0, equals)) ? std::string(option)
                                                                 : redact_assignment(option);
}

void redact_options(json::object& options, bool driver) {
    for (auto& [key, member] : options) {
        if (member.is_null() || (member.is_string() && member.get_string().empty())) {
            continue;
        }
        if (driver && key == "o" && member.is_string()) {
            member = redact_mount_options(member.get_string());
        } else if (!member.is_string() || !(driver ? listed(kHarmlessDriverOptions, key)
                                                   : listed(kHarmlessLogOptions, key))) {
            member = redacted_value;
        }
    }
}

// HostConfig.LogConfig {"Type", "Config"}, a service's LogDriver {"Name", "Options"}.
void redact_log_driver(json::object& driver);

// ---- Podman's CreateCommand: the podman command line ----

bool starts_with_option(std::string_view word, std::string_view option, std::string_view& value) {
    if (word.size() > option.size() && word.starts_with(option) && word[option.size()] == '=') {
        value = word.substr(option.size() + 1);
        return true;
    }
    return false;
}

// -e/--env K=V, --env-merge K=V, --creds user:password, --url with user:password@,
// --log-opt K=V. Short flags may be clustered and take their value attached ("-deK=V",
// "-e=K=V"): a cluster holding e is read so, which may also catch another flag's value.
// The container's own command after the image cannot be told apart (docs/security.md).
void redact_command_line(json::array& arguments) {
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        json::string* word = arguments[i].if_string();
        if (word == nullptr) {
            continue;
        }
        json::string* next = i + 1 < arguments.size() ? arguments[i + 1].if_string() : nullptr;
        const std::string text(*word);
        std::string_view value;
        if (text == "-e" || text == "--env" || text == "--env-merge") {
            if (next) {
                *next = redact_assignment(*next);
                ++i;
            }
        } else if (starts_with_option(text, "--env", value) ||
                   starts_with_option(text, "--env-merge", value)) {
            *word = text.substr(0, text.size() - value.size()) + redact_assignment(value);
        } else if (text == "--creds" || text == "--url") {
            if (next) {
                *next = redacted_value;
                ++i;
            }
        } else if (starts_with_option(text, "--creds", value) ||
                   starts_with_option(text, "--url", value)) {
            *word = text.substr(0, text.size() - value.size()) + std::string(redacted_value);
        } else if (text == "--log-opt") {
            if (next) {
                *next = redact_log_option(*next);
                ++i;
            }
        } else if (starts_with_option(text, "--log-opt", value)) {
            *word = text.substr(0, text.size() - value.size()) + redact_log_option(value);
        } else if (text.size() > 1 && text[0] == '-' && text[1] != '-') {
            const std::size_t e = text.find('e', 1);
            if (e == std::string::npos) {
                continue;
            }
            std::string_view attached = std::string_view(text).substr(e + 1);
            if (attached.empty()) {
                if (next) {
                    *next = redact_assignment(*next);
                    ++i;
                }
                continue;
            }
            const std::size_t skip = attached.front() == '=' ? 1 : 0;
            *word = text.substr(0, e + 1 + skip) + redact_assignment(attached.substr(skip));
        }
    }
}

// ---- the walk ----

void redact_value(json::value& value);

void redact_member(std::string_view key, json::value& member);

void redact_object(json::object& object) {
    object.erase("JoinTokens");
    for (auto& [key, member] : object) {
        redact_member(key, member);
    }
}

// A member is judged by its key wherever its object sits, inside a log driver too.
void redact_member(std::string_view key, json::value& member) {
    if (key == "Env" && member.is_array()) {
        redact_environment(member.get_array());
    } else if (key == "Cmd" && member.is_array()) {
        redact_command(member.get_array());
    } else if (key == "OnBuild" && member.is_array()) {
        for (json::value& step : member.get_array()) {
            if (json::string* text = step.if_string()) {
                *text = redact_instruction(*text);
            }
        }
    } else if ((key == "CreatedBy" || key == "created_by") && member.is_string()) {
        member = redact_build_step(member.get_string());
    } else if (key == "CreateCommand" && member.is_array()) {
        redact_command_line(member.get_array());
    } else if ((key == "LogConfig" || key == "LogDriver") && member.is_object()) {
        redact_log_driver(member.get_object());
        return;
    } else if (key == "Options" && member.is_object()) {
        redact_options(member.get_object(), true);
        return;
    }
    redact_value(member);
}

void redact_log_driver(json::object& driver) {
    for (auto& [key, member] : driver) {
        if ((key == "Config" || key == "Options") && member.is_object()) {
            redact_options(member.get_object(), false);
        } else {
            redact_member(key, member);
        }
    }
}

void redact_value(json::value& value) {
    if (json::object* object = value.if_object()) {
        redact_object(*object);
    } else if (json::array* array = value.if_array()) {
        for (json::value& element : *array) {
            redact_value(element);
        }
    }
}

}  // namespace

std::string redact_build_step(std::string_view step) {
    const std::size_t nop = step.find(kNop);
    if (nop == std::string_view::npos) {
        return redact_instruction(step);
    }
    const std::size_t end = nop + kNop.size();
    return std::string(step.substr(0, end)) + redact_instruction(step.substr(end));
}

std::string redact_mount_options(std::string_view options) {
    std::string out;
    bool first = true;
    while (true) {
        const std::size_t comma = options.find(',');
        const std::string_view option = options.substr(0, comma);
        out += first ? "" : ",";
        first = false;
        const std::size_t equals = option.find('=');
        if (option.empty()) {
            // ",," escapes a comma inside a value: what follows is still that value.
        } else if (equals == std::string_view::npos) {
            out += listed(kHarmlessMountFlags, option) ? std::string(option)
                                                       : std::string(redacted_value);
        } else if (listed(kHarmlessMountValues, option.substr(0, equals))) {
            out += option;
        } else if (is_variable_name(option.substr(0, equals))) {
            out += redacted_assignment(option.substr(0, equals));
        } else {
            out += redacted_value;
        }
        if (comma == std::string_view::npos) {
            return out;
        }
        options.remove_prefix(comma + 1);
    }
}

bool route_carries_secrets(std::string_view route_path) {
    const std::vector<PathPattern>& routes = secret_routes();
    return std::any_of(routes.begin(), routes.end(),
                       [&](const PathPattern& route) { return route.matches(route_path); });
}

std::optional<std::string> redact_secrets(std::string_view body) {
    std::optional<json::value> document = parse_daemon_json(body);
    if (!document) {
        return std::nullopt;
    }
    redact_value(*document);
    return serialise_daemon_json(*document);
}

}  // namespace socket_proxy
