#include "options.hpp"

#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "config_error.hpp"
#include "daemon_address.hpp"
#include "log_format.hpp"
#include "units.hpp"

namespace socket_proxy {
namespace {

// sun_path is NUL-terminated, so one byte of it is not available for the path.
constexpr std::size_t max_unix_socket_path = sizeof(sockaddr_un::sun_path) - 1;

std::string parse_absolute_path(std::string_view what, std::string_view value) {
    if (value.empty()) {
        throw ConfigError(std::string(what) + " is empty: give an absolute path");
    }
    if (value.front() != '/') {
        // Relative paths would depend on the working directory of whoever starts us.
        throw value_error(what, value, "is not an absolute path: start it with /");
    }
    if (value.find('\0') != std::string_view::npos) {
        throw value_error(what, value, "contains a NUL byte: give a plain absolute path");
    }
    return std::string(value);
}

void check_fits_unix_socket(std::string_view what, std::string_view value,
                            std::string_view socket_path, std::string_view advice) {
    if (socket_path.size() <= max_unix_socket_path) {
        return;
    }
    throw value_error(what, value,
                      "is too long: the socket path would have " +
                          std::to_string(socket_path.size()) +
                          " bytes but a unix socket path holds at most " +
                          std::to_string(max_unix_socket_path) + ", so " + std::string(advice));
}

std::string parse_volume(std::string_view what, std::string_view value) {
    Config config;
    config.volume = parse_absolute_path(what, value);
    check_fits_unix_socket(what, value, config.listen_socket_path(), "use a shorter directory");
    return config.volume;
}

std::string parse_docker_socket(std::string_view what, std::string_view value) {
    return parse_daemon_address(what, value).text();
}

// Names are not looked up: the static binary has no NSS, and a number is unambiguous.
// (uid_t)-1 is excluded because chown() and setresuid() read it as "leave unchanged".
template <typename Id>
Id parse_id(std::string_view what, std::string_view value, std::string_view kind) {
    constexpr Id max_id = std::numeric_limits<Id>::max() - 1;
    const auto id = parse_decimal<Id>(value);
    if (!id || *id > max_id) {
        throw value_error(what, value,
                          "is not a numeric " + std::string(kind) +
                              " id: use a decimal number from 0 to " + std::to_string(max_id) +
                              " (names are not looked up)");
    }
    return *id;
}

// Empty is unset, as `SOCKET_PROXY_TLS_CA=` in a compose file means.
std::string parse_tls_file(std::string_view what, std::string_view value) {
    if (value.empty()) {
        return {};
    }
    return parse_absolute_path(what, value);
}

std::string show_file_default(const std::string& path) {
    return path.empty() ? std::string("none") : path;
}

bool parse_bool(std::string_view what, std::string_view value) {
    const std::string lower = ascii_lowercase(value);
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        return true;
    }
    // Empty counts as false: `DEBUG=` in a compose file means "not set".
    if (lower.empty() || lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        return false;
    }
    throw value_error(what, value, "is not a boolean: use true or false (or 1/0, yes/no, on/off)");
}

// Word-wraps `words` into lines of at most `width` columns, each indented by `indent`.
void append_wrapped(std::string& text, std::string_view words, std::size_t indent,
                    std::size_t width) {
    std::string line(indent, ' ');
    while (!words.empty()) {
        const std::size_t space = words.find(' ');
        const std::string_view word = words.substr(0, space);
        words = space == std::string_view::npos ? std::string_view{} : words.substr(space + 1);
        if (line.size() > indent && line.size() + 1 + word.size() > width) {
            text += line + "\n";
            line.assign(indent, ' ');
        }
        if (line.size() > indent) {
            line += ' ';
        }
        line += word;
    }
    text += line + "\n";
}

std::string show_duration_default(Duration duration) {
    return duration == Duration::zero() ? "0 (off)" : format_duration(duration);
}

// Bounds for the limits: below them ordinary clients break, above them one client could
// make the proxy hold more than a limit is for.
constexpr std::size_t min_head_bytes = 1024;
constexpr std::size_t max_head_bytes_limit = 1024 * 1024;
constexpr std::size_t max_header_fields_limit = 10000;
constexpr std::size_t max_connections_limit = 1'000'000;
constexpr std::size_t max_threads = 64;

std::size_t parse_count(std::string_view what, std::string_view value, std::size_t high) {
    const auto count = parse_decimal<std::size_t>(value);
    if (!count || *count == 0 || *count > high) {
        throw value_error(what, value,
                          "is not a count: use a whole number from 1 to " + std::to_string(high));
    }
    return *count;
}

std::string show_size_default(std::size_t bytes) {
    return format_size(bytes);
}

constexpr std::array option_table{
    Option{"--volume", "SOCKET_PROXY_VOLUME", "DIR",
           "directory for the listening socket, which is DIR/docker.sock",
           [](Config& config, std::string_view what, std::string_view value) {
               config.volume = parse_volume(what, value);
           },
           [](const Config& defaults) { return defaults.volume; }},
    Option{"--docker-socket", "SOCKET_PROXY_DOCKER_SOCKET", "PATH|URL",
           "the Docker engine that allowed requests are forwarded to: its unix socket (a path "
           "or unix:///PATH), or tcp://HOST:PORT (DOCKER_HOST's forms; the port is required)",
           [](Config& config, std::string_view what, std::string_view value) {
               config.docker_socket = parse_docker_socket(what, value);
           },
           [](const Config& defaults) { return defaults.docker_socket; }},
    Option{"--docker-cert-path", "SOCKET_PROXY_DOCKER_CERT_PATH", "DIR",
           "speak TLS to a tcp:// engine, as DOCKER_CERT_PATH does: DIR/ca.pem verifies the "
           "engine's certificate and its host name or IP, DIR/cert.pem and DIR/key.pem are the "
           "proxy's client certificate; SIGHUP reloads them",
           [](Config& config, std::string_view what, std::string_view value) {
               config.docker_cert_path = parse_tls_file(what, value);
           },
           [](const Config& defaults) { return show_file_default(defaults.docker_cert_path); }},
    Option{"--uid", "SOCKET_PROXY_UID", "N",
           "numeric user that owns the listening socket and that the proxy runs as",
           [](Config& config, std::string_view what, std::string_view value) {
               config.uid = parse_id<uid_t>(what, value, "user");
           },
           [](const Config& defaults) { return std::to_string(defaults.uid); }},
    Option{"--gid", "SOCKET_PROXY_GID", "N",
           "numeric group that owns the listening socket and that the proxy runs as",
           [](Config& config, std::string_view what, std::string_view value) {
               config.gid = parse_id<gid_t>(what, value, "group");
           },
           [](const Config& defaults) { return std::to_string(defaults.gid); }},
    Option{"--tcp", "SOCKET_PROXY_TCP", "ADDR|off",
           "also listen on TCP at a numeric address and port ([::]:2375, 127.0.0.1:2375, "
           ":2375 for all IPv4 addresses), or off",
           [](Config& config, std::string_view what, std::string_view value) {
               config.tcp = parse_tcp_endpoint(what, value);
           },
           [](const Config& defaults) { return format_tcp_endpoint(defaults.tcp); }},
    Option{"--listen", "SOCKET_PROXY_LISTEN", "NAME=SOCKET",
           "more listeners, each NAME=unix:PATH or NAME=tcp:ADDR:PORT (comma-separated in the "
           "variable; the flag repeats and replaces the variable's list); rules select their "
           "clients with {listener: NAME}; the default ones are named default and tcp",
           [](Config& config, std::string_view what, std::string_view value) {
               for (NamedListener& listener : parse_named_listeners(what, value)) {
                   config.listeners.push_back(std::move(listener));
               }
           },
           [](const Config&) { return std::string("none"); }},
    Option{"--tls-cert", "SOCKET_PROXY_TLS_CERT", "FILE",
           "PEM certificate (chain) that makes the TCP listeners TLS 1.2/1.3 only; needs "
           "SOCKET_PROXY_TLS_KEY; SIGHUP reloads it",
           [](Config& config, std::string_view what, std::string_view value) {
               config.tls_cert = parse_tls_file(what, value);
           },
           [](const Config& defaults) { return show_file_default(defaults.tls_cert); }},
    Option{"--tls-key", "SOCKET_PROXY_TLS_KEY", "FILE",
           "PEM private key of SOCKET_PROXY_TLS_CERT, without a passphrase",
           [](Config& config, std::string_view what, std::string_view value) {
               config.tls_key = parse_tls_file(what, value);
           },
           [](const Config& defaults) { return show_file_default(defaults.tls_key); }},
    Option{"--tls-ca", "SOCKET_PROXY_TLS_CA", "FILE",
           "PEM bundle of the CAs whose client certificates the TLS listener requires (mutual "
           "TLS); a client without one fails in the handshake and never reaches the policy",
           [](Config& config, std::string_view what, std::string_view value) {
               config.tls_ca = parse_tls_file(what, value);
           },
           [](const Config& defaults) { return show_file_default(defaults.tls_ca); }},
    Option{"--metrics", "SOCKET_PROXY_METRICS", "ADDR|off",
           "serve Prometheus metrics at http://ADDR/metrics (127.0.0.1:9102), on a listener of "
           "its own that the policy does not apply to, or off",
           [](Config& config, std::string_view what, std::string_view value) {
               config.metrics = parse_tcp_endpoint(what, value);
           },
           [](const Config& defaults) { return format_tcp_endpoint(defaults.metrics); }},
    Option{"--keepalive", "SOCKET_PROXY_KEEPALIVE", "D",
           "how long an idle daemon connection is kept for reuse; 0 disables pooling",
           [](Config& config, std::string_view what, std::string_view value) {
               config.keepalive = parse_duration(what, value);
           },
           [](const Config& defaults) { return show_duration_default(defaults.keepalive); }},
    Option{"--timeout", "SOCKET_PROXY_TIMEOUT", "D",
           "limit for connecting to the daemon and receiving its response head (never the "
           "body, which may stream forever); 0 disables it",
           [](Config& config, std::string_view what, std::string_view value) {
               config.timeout = parse_duration(what, value);
           },
           [](const Config& defaults) { return show_duration_default(defaults.timeout); }},
    Option{"--max-head-size", "SOCKET_PROXY_MAX_HEAD_SIZE", "SIZE",
           "largest request head (request line and all header lines) a client may send; "
           "larger ones get 431 and the connection is closed",
           [](Config& config, std::string_view what, std::string_view value) {
               const std::size_t bytes = parse_size(what, value);
               if (bytes < min_head_bytes || bytes > max_head_bytes_limit) {
                   throw value_error(what, value, "is out of range: use a size from 1KiB to 1MiB");
               }
               config.max_head_bytes = bytes;
           },
           [](const Config& defaults) { return show_size_default(defaults.max_head_bytes); }},
    Option{"--max-headers", "SOCKET_PROXY_MAX_HEADERS", "N",
           "most header lines a request may have; more get 431",
           [](Config& config, std::string_view what, std::string_view value) {
               config.max_header_fields = parse_count(what, value, max_header_fields_limit);
           },
           [](const Config& defaults) { return std::to_string(defaults.max_header_fields); }},
    Option{"--head-timeout", "SOCKET_PROXY_HEAD_TIMEOUT", "D",
           "time a client has to send a complete request head, from its first byte (or from "
           "connecting); a slower one is disconnected",
           [](Config& config, std::string_view what, std::string_view value) {
               config.head_timeout = parse_duration(what, value);
           },
           [](const Config& defaults) { return show_duration_default(defaults.head_timeout); }},
    Option{"--idle-timeout", "SOCKET_PROXY_IDLE_TIMEOUT", "D",
           "how long a keep-alive client connection may wait for its next request; never "
           "applies while a response flows",
           [](Config& config, std::string_view what, std::string_view value) {
               config.idle_timeout = parse_duration(what, value);
           },
           [](const Config& defaults) { return show_duration_default(defaults.idle_timeout); }},
    Option{"--max-connections", "SOCKET_PROXY_MAX_CONNECTIONS", "N",
           "most client connections served at once (unix and TCP together); one more gets 503 "
           "and is closed",
           [](Config& config, std::string_view what, std::string_view value) {
               config.max_connections = parse_count(what, value, max_connections_limit);
           },
           [](const Config& defaults) { return std::to_string(defaults.max_connections); }},
    Option{"--threads", "SOCKET_PROXY_THREADS", "N",
           "threads serving client connections, each with its own event loop and daemon "
           "connections; auto: one per CPU the process may run on, at most 4",
           [](Config& config, std::string_view what, std::string_view value) {
               config.threads = value == "auto" ? 0 : parse_count(what, value, max_threads);
           },
           [](const Config& defaults) {
               return defaults.threads == 0 ? std::string("auto")
                                            : std::to_string(defaults.threads);
           }},
    Option{"--policy", "SOCKET_PROXY_POLICY", "FILE",
           "the policy file (YAML rules, first match wins; see examples/); unset: the "
           "Tecnativa-style switches if any is set, else the built-in read-only policy",
           [](Config& config, std::string_view what, std::string_view value) {
               if (value.empty() || value.find('\0') != std::string_view::npos) {
                   throw value_error(what, value,
                                     "is not a file name: give the policy file's path");
               }
               config.policy_file = std::string(value);
           },
           [](const Config& defaults) {
               return defaults.policy_file.empty() ? std::string("none") : defaults.policy_file;
           }},
    Option{"--mode", "SOCKET_PROXY_MODE", "MODE",
           "enforce, or audit: requests are still decided by the policy, and each one is also "
           "logged with what SOCKET_PROXY_AUDIT_POLICY would have decided",
           [](Config& config, std::string_view what, std::string_view value) {
               if (value == "audit") {
                   config.audit = true;
               } else if (value == "enforce" || value.empty()) {
                   config.audit = false;
               } else {
                   throw value_error(what, value, "is not a mode: use enforce or audit");
               }
           },
           [](const Config&) { return std::string("enforce"); }},
    Option{"--audit-policy", "SOCKET_PROXY_AUDIT_POLICY", "FILE",
           "the candidate policy file audit mode compares every request with",
           [](Config& config, std::string_view what, std::string_view value) {
               if (value.find('\0') != std::string_view::npos) {
                   throw value_error(what, value,
                                     "is not a file name: give the policy file's path");
               }
               config.audit_policy_file = std::string(value);
           },
           [](const Config& defaults) {
               return defaults.audit_policy_file.empty() ? std::string("none")
                                                         : defaults.audit_policy_file;
           }},
    Option{"--preset", "SOCKET_PROXY_PRESET", "NAME",
           "a built-in policy that allows exactly what one tool calls: traefik, homepage, "
           "dozzle, portainer-readonly, watchtower, uptime-kuma, beszel, autoheal or diun; not "
           "with --policy or the Tecnativa-style switches",
           [](Config& config, std::string_view, std::string_view value) {
               // Empty is "not set", as for a compose line without a value; the name is checked
               // where the policy is loaded, which lists the presets.
               config.preset = std::string(value);
           },
           [](const Config&) { return std::string("none"); }},
    Option{"--allow-from", "SOCKET_PROXY_ALLOW_FROM", "CIDRS",
           "TCP clients allowed to connect at all, as comma-separated networks "
           "(172.18.0.0/16,127.0.0.1); others get 403 and are closed",
           [](Config& config, std::string_view what, std::string_view value) {
               config.allow_from = parse_networks(what, value);
           },
           [](const Config&) { return std::string("any address"); }},
    Option{"--redact", "SOCKET_PROXY_REDACT", "BOOL",
           "replace environment variable values and swarm join tokens in the answers that carry "
           "them (inspect, services, tasks, plugins, swarm); false turns it off for every rule "
           "that does not say otherwise",
           [](Config& config, std::string_view what, std::string_view value) {
               // Empty is "not set" here too, which keeps redaction on: it must not turn off a
               // protection by a compose line without a value.
               if (value.empty()) {
                   config.redact.reset();
               } else {
                   config.redact = parse_bool(what, value);
               }
           },
           [](const Config&) { return std::string("true"); }},
    Option{"--log-format", "SOCKET_PROXY_LOG_FORMAT", "FORMAT",
           "text, json (one JSON object per line) or auto: text when stdout is a terminal, JSON "
           "lines otherwise",
           [](Config& config, std::string_view what, std::string_view value) {
               if (value == "text") {
                   config.log_format = LogFormat::text;
               } else if (value == "json") {
                   config.log_format = LogFormat::json;
               } else if (value == "auto") {
                   config.log_format.reset();
               } else {
                   throw value_error(what, value, "is not a log format: use text, json or auto");
               }
           },
           [](const Config&) { return std::string("auto"); }},
    Option{"--debug", "DEBUG", "", "log every request, not only denials",
           [](Config& config, std::string_view what, std::string_view value) {
               config.debug = parse_bool(what, value);
           },
           [](const Config& defaults) { return std::string(defaults.debug ? "true" : "false"); }},
};

}  // namespace

std::span<const Option> options() {
    return option_table;
}

const Option* find_option(std::string_view flag) {
    const auto* found = std::find_if(option_table.begin(), option_table.end(),
                                     [&](const Option& option) { return option.flag == flag; });
    return found == option_table.end() ? nullptr : found;
}

std::string usage() {
    const Config defaults;
    std::string text =
        "Usage: socket-proxy [flags]\n"
        "       socket-proxy healthcheck [flags]\n"
        "       socket-proxy check [flags]\n"
        "       socket-proxy learn LOGFILE\n"
        "       socket-proxy explain METHOD TARGET\n"
        "           [--client unix:uid=N,gid=N|tcp:ADDR|tls:cn=NAME,...|container:NAME,...|\n"
        "            listener:NAME]\n"
        "           [flags]\n"
        "       socket-proxy certs DIR --host NAME[,NAME...] --client NAME[,NAME...] [--force]\n"
        "\n"
        "A proxy in front of the Docker Engine API that forwards only the requests its policy\n"
        "allows. Each setting comes from its environment variable; a flag overrides it.\n"
        "\n"
        "Flags:\n";
    constexpr std::size_t column = 24;
    constexpr std::size_t width = 80;
    for (const Option& option : option_table) {
        std::string left = "  " + std::string(option.flag);
        if (!option.value_name.empty()) {
            left += " " + std::string(option.value_name);
        }
        left.resize(std::max(left.size() + 1, column), ' ');
        text += left + std::string(option.variable) + ", default " + option.show_default(defaults) +
                "\n";
        append_wrapped(text, option.description, column, width);
    }
    text +=
        "\n"
        "D is a duration: 500ms, 30s, 2m, 1h, or a number of seconds (0.5); 0 turns it off.\n"
        "SIZE is a number of bytes, or a value like 64KiB or 1MiB.\n"
        "Flags also take the form --flag=value.\n"
        "\n"
        "Environment only:\n"
        "  TZ                    time zone of the log timestamps, default UTC\n"
        "  CONTAINERS, IMAGES, POST, ALLOW_START, ... (Tecnativa-style switches, 0 or 1)\n"
        "                        without SOCKET_PROXY_POLICY: open those API sections\n"
        "\n"
        "Commands:\n"
        "  check                 validate the policy the flags and environment select, and\n"
        "                        print its rules in order; exit status 0 means valid\n"
        "  explain METHOD TARGET print the decision for that request and the rule that made\n"
        "                        it, as the running proxy would decide\n"
        "  learn LOGFILE         print the smallest policy file that allows the requests in a\n"
        "                        JSON request log (DEBUG=1), for you to review\n"
        "  certs DIR             write a CA, a server certificate for --host and a client\n"
        "                        bundle per --client name (Docker's layout); certs --help\n"
        "  healthcheck, --healthcheck\n"
        "                        check that the proxy answers on its listening socket, with the\n"
        "                        same settings; exit status 0 means healthy\n"
        "  --help, -h            print this help\n"
        "  --version             print the version\n"
        "\n"
        "Reference: docs/configuration.md\n";
    return text;
}

}  // namespace socket_proxy
