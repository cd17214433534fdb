// Read guards: ps arguments that cannot print an environment, and logs without details.
#include "read_guard.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "go_text.hpp"
#include "json_text.hpp"
#include "route.hpp"

namespace socket_proxy {
namespace {

// procps reads an argument list twice: as written, and if anything in it fails (an unknown
// user, conflicting options, the -q list the daemon appends) again with every option read as a
// BSD one, where `e` prints the environment. So "-ef" is safe on its own but "-ef -x" is
// BSD "ef" plus "x" (measured with procps-ng 4.0.2). UNIX -e is therefore allowed only among
// these argument-free flags, every combination of which was run against ps without a failure.
constexpr std::string_view kSimpleUnixFlags = "AFLMZacdefjlwy";
// Everywhere else no option may be `e`, so a second, BSD reading finds none either.
constexpr std::string_view kUnixFlags = "AFHLMNTZacdfjlmwy";
constexpr std::string_view kUnixWithArgument = "CGOUgopqstu";
constexpr std::string_view kBsdFlags = "HLSTXZacfhjlmnrsuvwx";
constexpr std::string_view kBsdWithArgument = "OUkopqt";

// Output columns that print no environment (procps `ps L`); `environ` is not among them.
constexpr auto kFormatKeywords = std::to_array<std::string_view>({
    "pid",      "ppid",     "pgid",    "pgrp",    "sid",     "sess",    "tid",     "lwp",
    "spid",     "nlwp",     "thcount", "uid",     "euid",    "ruid",    "suid",    "fsuid",
    "user",     "euser",    "ruser",   "suser",   "fuser",   "uname",   "gid",     "egid",
    "rgid",     "sgid",     "fsgid",   "group",   "egroup",  "rgroup",  "sgroup",  "fgroup",
    "comm",     "ucomm",    "ucmd",    "fname",   "cmd",     "args",    "command", "etime",
    "etimes",   "time",     "cputime", "bsdtime", "start",   "stime",   "lstart",  "start_time",
    "bsdstart", "stat",     "state",   "s",       "tty",     "tt",      "tname",   "pcpu",
    "%cpu",     "c",        "cp",      "pmem",    "%mem",    "rss",     "rssize",  "rsz",
    "vsz",      "vsize",    "sz",      "size",    "drs",     "trs",     "nice",    "ni",
    "pri",      "priority", "rtprio",  "cls",     "class",   "policy",  "psr",     "wchan",
    "nwchan",   "flags",    "f",       "label",   "maj_flt", "min_flt",
});

bool contains(std::string_view set, char c) {
    return set.find(c) != std::string_view::npos;
}

// Client text echoed in a refusal stays on one line and short: it goes to the client's
// terminal and to the log, between quotes, with '%' escaped so that %XX reads unambiguously.
std::string printable(std::string_view text) {
    constexpr std::size_t kLimit = 100;
    std::string out;
    append_percent_escaped(out, text, kLimit, [](unsigned char byte) {
        return byte < 0x20 || byte >= 0x7f || byte == '%' || byte == '"';
    });
    return out;
}

bool is_allowed_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           contains(",._/:+-=%", c);
}

std::optional<std::string> check_keywords(std::string_view list, bool sort) {
    for (std::string_view item : split(list, ',')) {
        if (sort && !item.empty() && (item.front() == '+' || item.front() == '-')) {
            item.remove_prefix(1);
        }
        if (std::find(kFormatKeywords.begin(), kFormatKeywords.end(), item) ==
            kFormatKeywords.end()) {
            return "the column \"" + printable(item) +
                   "\" is not in the proxy's list of ps columns that print no environment";
        }
    }
    return std::nullopt;
}

// A list of processes, users, groups or terminals. It holds no `e`: were the options read a
// second time, as BSD ones, the letters of an argument could become options.
std::optional<std::string> check_selection(std::string_view list) {
    if (list.empty() || list.find_first_of("eE=%") != std::string_view::npos) {
        return "the selection \"" + printable(list) +
               "\" is not one the proxy allows (no letter e, no '=' or '%')";
    }
    return std::nullopt;
}

std::optional<std::string> check_argument(char option, std::string_view argument) {
    if (option == 'o' || option == 'O') {
        return check_keywords(argument, false);
    }
    if (option == 'k') {
        return check_keywords(argument, true);
    }
    return check_selection(argument);
}

class PsArguments {
  public:
    explicit PsArguments(std::string_view ps_args) : tokens_(split(ps_args, ' ')) {}

    std::optional<std::string> check() {
        if (all_simple()) {
            return std::nullopt;
        }
        for (next_ = 0; next_ < tokens_.size();) {
            const std::string_view token = tokens_[next_++];
            if (auto problem = check_token(token)) {
                return problem;
            }
        }
        return std::nullopt;
    }

  private:
    bool all_simple() const {
        return std::all_of(tokens_.begin(), tokens_.end(), [](std::string_view token) {
            return token == "--forest" || (token.size() > 1 && token.front() == '-' &&
                                           std::all_of(token.begin() + 1, token.end(), [](char c) {
                                               return contains(kSimpleUnixFlags, c);
                                           }));
        });
    }

    std::optional<std::string_view> take_argument() {
        if (next_ >= tokens_.size()) {
            return std::nullopt;
        }
        return tokens_[next_++];
    }

    std::optional<std::string> check_token(std::string_view token) {
        if (token.empty()) {
            return std::string("it has an empty argument (two spaces in a row, or one at an end)");
        }
        if (!std::all_of(token.begin(), token.end(), is_allowed_character)) {
            return "the argument \"" + printable(token) +
                   "\" has a character the proxy does not allow in ps arguments";
        }
        if (token.starts_with("--")) {
            return check_long_option(token);
        }
        if (token.front() == '-') {
            return check_cluster(token.substr(1), kUnixFlags, kUnixWithArgument, "-");
        }
        if (token.find_first_not_of("0123456789,") == std::string_view::npos) {
            return std::nullopt;  // a list of process ids
        }
        return check_cluster(token, kBsdFlags, kBsdWithArgument, "");
    }

    std::optional<std::string> check_long_option(std::string_view token) {
        const std::size_t equals = token.find('=');
        const std::string_view name = token.substr(0, equals);
        if (name == "--forest" && equals == std::string_view::npos) {
            return std::nullopt;
        }
        if (name != "--format" && name != "--sort" && name != "--cols" && name != "--columns" &&
            name != "--width") {
            return "the option " + printable(name) + " is not in the proxy's list of ps options";
        }
        std::optional<std::string_view> argument = equals == std::string_view::npos
                                                       ? take_argument()
                                                       : std::optional(token.substr(equals + 1));
        if (!argument) {
            return "the option " + printable(name) + " has no argument";
        }
        if (name == "--format" || name == "--sort") {
            return check_keywords(*argument, name == "--sort");
        }
        if (argument->empty() ||
            argument->find_first_not_of("0123456789") != std::string_view::npos) {
            return "the option " + printable(name) + " takes a number";
        }
        return std::nullopt;
    }

    std::optional<std::string> check_cluster(std::string_view letters, std::string_view flags,
                                             std::string_view with_argument,
                                             std::string_view dash) {
        if (letters.empty()) {
            return std::string("it has a lone '-'");
        }
        for (std::size_t i = 0; i < letters.size(); ++i) {
            const char option = letters[i];
            if (option == 'e') {
                return "the option " + std::string(dash) +
                       "e is allowed only among the flags -A -F -L -M -Z -a -c -d -f -j -l -w "
                       "-y: anywhere else ps can read it as BSD e, which prints every "
                       "process's environment";
            }
            if (contains(flags, option)) {
                continue;
            }
            if (!contains(with_argument, option)) {
                return "the option " + std::string(dash) + std::string(1, option) +
                       " is not in the proxy's list of ps options";
            }
            std::optional<std::string_view> argument =
                i + 1 < letters.size() ? std::optional(letters.substr(i + 1)) : take_argument();
            if (!argument) {
                return "the option " + std::string(dash) + std::string(1, option) +
                       " has no argument";
            }
            return check_argument(option, *argument);
        }
        return std::nullopt;
    }

    std::vector<std::string_view> tokens_;
    std::size_t next_ = 0;
};

enum class GuardedRead { none, top, libpod_top, logs };

GuardedRead guarded_read(std::string_view route_path) {
    static const std::array<PathPattern, 3> top{
        PathPattern::parse("/containers/{id...}/top"),
        PathPattern::parse("/libpod/containers/{id...}/top"),
        PathPattern::parse("/libpod/pods/{id...}/top"),
    };
    static const std::array<PathPattern, 4> logs{
        PathPattern::parse("/containers/{id...}/logs"),
        PathPattern::parse("/libpod/containers/{id...}/logs"),
        PathPattern::parse("/services/{id...}/logs"),
        PathPattern::parse("/tasks/{id...}/logs"),
    };
    if (top[0].matches(route_path)) {
        return GuardedRead::top;
    }
    if (top[1].matches(route_path) || top[2].matches(route_path)) {
        return GuardedRead::libpod_top;
    }
    for (const PathPattern& pattern : logs) {
        if (pattern.matches(route_path)) {
            return GuardedRead::logs;
        }
    }
    return GuardedRead::none;
}

// Docker reads the first ps_args and splits it on single spaces. Podman passes every value as
// one argument of its own, and for libpod clients older than 4.8 splits a single value on
// commas. Every value, all of them together, and on libpod routes commas read as separators
// must pass.
std::optional<std::string> check_top(const QueryValues& values, bool libpod) {
    std::vector<std::string> readings;
    std::string joined;
    for (const auto& [key, value] : values) {
        // Podman decodes queries with gorilla/schema, which matches keys with strings.EqualFold
        // (go_fold_equals); Docker matches exactly: the wider reading holds for both.
        if (!go_fold_equals(key, "ps_args")) {
            continue;
        }
        readings.push_back(value);
        if (libpod) {
            std::string separated = value;
            std::replace(separated.begin(), separated.end(), ',', ' ');
            readings.push_back(std::move(separated));
        }
        joined += (joined.empty() ? "" : " ") + value;
    }
    if (readings.size() > (libpod ? 2U : 1U)) {
        readings.push_back(joined);
    }
    for (const std::string& reading : readings) {
        if (auto problem = check_ps_args(reading)) {
            return "ps_args \"" + printable(reading) +
                   "\" could print process environments: " + *problem;
        }
    }
    return std::nullopt;
}

std::optional<std::string> check_logs(const QueryValues& values) {
    for (const auto& [key, value] : values) {
        if (go_fold_equals(key, "details") && daemon_reads_true(value)) {
            return "details=" + printable(value) +
                   " prefixes every line with the values of the container's --log-opt env= and "
                   "labels= variables; ask without details";
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> check_ps_args(std::string_view ps_args) {
    if (ps_args.empty()) {
        return std::nullopt;  // the daemon's own "-ef"
    }
    return PsArguments(ps_args).check();
}

bool daemon_reads_true(std::string_view value) {
    constexpr std::string_view kSpace = " \t\n\v\f\r";
    const std::size_t first = value.find_first_not_of(kSpace);
    if (first == std::string_view::npos) {
        return false;
    }
    value = value.substr(first, value.find_last_not_of(kSpace) - first + 1);
    std::string lower(value);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return lower != "0" && lower != "no" && lower != "false" && lower != "none";
}

std::optional<std::string> refuse_read(std::string_view method, std::string_view route_path,
                                       std::string_view query, bool form_body) {
    if (method != "GET" && method != "HEAD") {
        return std::nullopt;
    }
    const GuardedRead read = guarded_read(route_path);
    if (read == GuardedRead::none) {
        return std::nullopt;
    }
    if (form_body) {
        return std::string(
            "the proxy checks this read's query, which a form-encoded body could override");
    }
    const std::optional<QueryValues> values = parse_query(query);
    if (!values) {
        return std::string(
            "the proxy checks this read's query, which the daemon could read another way (a ';' "
            "separator or a bad escape)");
    }
    if (read == GuardedRead::logs) {
        return check_logs(*values);
    }
    return check_top(*values, read == GuardedRead::libpod_top);
}

}  // namespace socket_proxy
