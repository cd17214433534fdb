// The command line over the environment: a subcommand, then flags that override the variables.
#include <algorithm>

#include "config.hpp"
#include "config_error.hpp"
#include "log_format.hpp"
#include "options.hpp"

namespace socket_proxy {
namespace {

constexpr std::string_view help_hint = "run socket-proxy --help for the list of flags";

std::optional<Command> subcommand(std::string_view word) {
    if (word == "healthcheck") {
        return Command::healthcheck;
    }
    if (word == "check") {
        return Command::check;
    }
    if (word == "explain") {
        return Command::explain;
    }
    if (word == "learn") {
        return Command::learn;
    }
    return std::nullopt;
}

bool is_command_flag(std::string_view flag) {
    return flag == "--help" || flag == "-h" || flag == "--version" || flag == "--healthcheck";
}

void apply_environment(Config& config, const Environment& environment) {
    for (const Option& option : options()) {
        if (const auto value = environment(option.variable)) {
            option.apply(config, option.variable, *value);
        }
    }
}

// A word that is no flag: explain's METHOD and TARGET, learn's LOGFILE.
void take_argument(CommandLine& result, std::string_view arg) {
    if ((result.command == Command::explain && result.arguments.size() < 2) ||
        (result.command == Command::learn && result.arguments.empty())) {
        result.arguments.emplace_back(arg);
        return;
    }
    throw ConfigError("unexpected argument " + quote_value(arg) +
                      ": socket-proxy takes flags, and healthcheck, check, explain "
                      "METHOD TARGET or learn LOGFILE only as the first arguments; " +
                      std::string(help_hint));
}

// explain's --client CLIENT or --client=CLIENT; false when args[index] is no such flag.
bool take_client(CommandLine& result, const std::vector<std::string_view>& args,
                 std::size_t& index) {
    const std::string_view arg = args[index];
    if (result.command != Command::explain ||
        !(arg == "--client" || arg.starts_with("--client="))) {
        return false;
    }
    if (arg == "--client") {
        if (index + 1 >= args.size()) {
            throw ConfigError(
                "flag --client needs a value, as in --client unix:uid=1000 or "
                "--client tcp:172.18.0.5");
        }
        result.client = std::string(args[++index]);
    } else {
        result.client = std::string(arg.substr(std::string_view("--client=").size()));
    }
    return true;
}

// args[index] as a command flag or a setting's flag, with its value inline (--flag=value), in
// the next argument (then `index` moves past it), or none for a switch.
void apply_flag(CommandLine& result, const std::vector<std::string_view>& args,
                std::size_t& index) {
    const std::string_view arg = args[index];
    const std::size_t equals = arg.find('=');
    const std::string_view flag = arg.substr(0, equals);
    const std::optional<std::string_view> inline_value =
        equals == std::string_view::npos ? std::nullopt : std::optional(arg.substr(equals + 1));

    if (is_command_flag(flag)) {
        if (inline_value) {
            throw ConfigError("flag " + std::string(flag) + " takes no value, but got " +
                              quote_value(*inline_value) + ": " + std::string(help_hint));
        }
        if (flag == "--healthcheck") {
            result.command = Command::healthcheck;
        }
        return;
    }

    const Option* option = find_option(flag);
    if (option == nullptr) {
        throw ConfigError("unknown flag " + quote_value(flag) + ": " + std::string(help_hint));
    }
    if (option->value_name.empty()) {
        option->apply(result.config, flag, inline_value.value_or("true"));
        return;
    }
    if (inline_value) {
        option->apply(result.config, flag, *inline_value);
        return;
    }
    // No valid value starts with "--", so `--volume --debug` is a forgotten value, not a
    // directory called "--debug".
    if (index + 1 >= args.size() || args[index + 1].starts_with("--")) {
        throw ConfigError("flag " + std::string(flag) + " needs a value, as in " +
                          std::string(flag) + " " + std::string(option->value_name) + ": " +
                          std::string(help_hint));
    }
    ++index;
    option->apply(result.config, flag, args[index]);
}

// --listen repeats, so its values add up; together they replace SOCKET_PROXY_LISTEN's list, as
// any flag overrides its variable.
void forget_listeners_of_environment(CommandLine& result, std::string_view arg,
                                     bool& listen_flag_seen) {
    if (listen_flag_seen || !(arg == "--listen" || arg.starts_with("--listen="))) {
        return;
    }
    listen_flag_seen = true;
    result.config.listeners.clear();
}

void apply_flags(CommandLine& result, const std::vector<std::string_view>& args) {
    bool listen_flag_seen = false;
    std::size_t index = 0;
    if (!args.empty()) {
        if (const auto command = subcommand(args.front())) {
            result.command = *command;
            index = 1;
        }
    }
    for (; index < args.size(); ++index) {
        if (!args[index].starts_with('-')) {
            take_argument(result, args[index]);
        } else if (!take_client(result, args, index)) {
            forget_listeners_of_environment(result, args[index], listen_flag_seen);
            apply_flag(result, args, index);
        }
    }
}
// The three TLS files make sense only together, and only for the TCP listener.
void check_tls_settings(const Config& config) {
    if (config.tls_cert.empty() != config.tls_key.empty()) {
        throw ConfigError(config.tls_cert.empty()
                              ? "SOCKET_PROXY_TLS_KEY is set without SOCKET_PROXY_TLS_CERT: set "
                                "both to serve TLS, or neither"
                              : "SOCKET_PROXY_TLS_CERT is set without SOCKET_PROXY_TLS_KEY: set "
                                "both to serve TLS, or neither");
    }
    if (!config.tls_ca.empty() && config.tls_cert.empty()) {
        throw ConfigError(
            "SOCKET_PROXY_TLS_CA is set without SOCKET_PROXY_TLS_CERT and SOCKET_PROXY_TLS_KEY: "
            "client certificates need a TLS listener, so set those too");
    }
    if (config.daemon_tls() && !config.daemon_address().tcp()) {
        throw ConfigError("SOCKET_PROXY_DOCKER_CERT_PATH is set but SOCKET_PROXY_DOCKER_SOCKET=" +
                          config.docker_socket +
                          " is a unix socket: TLS is for a tcp://HOST:PORT engine, so unset one");
    }
    const bool named_tcp =
        std::any_of(config.listeners.begin(), config.listeners.end(),
                    [](const NamedListener& listener) { return listener.tcp.has_value(); });
    if (config.tls() && !config.tcp && !named_tcp) {
        throw ConfigError(
            "SOCKET_PROXY_TLS_CERT is set but SOCKET_PROXY_TCP is off: TLS is served on the TCP "
            "listeners, so give it an address (127.0.0.1:2376) or add one to SOCKET_PROXY_LISTEN");
    }
}

}  // namespace

CommandLine parse_command_line(const std::vector<std::string_view>& args,
                               const Environment& environment) {
    // Help and version must work even when the environment is broken: that is when people
    // reach for --help.
    for (const std::string_view arg : args) {
        if (arg == "--help" || arg == "-h") {
            return CommandLine{Command::help, Config{}, {}, {}};
        }
    }
    if (std::find(args.begin(), args.end(), "--version") != args.end()) {
        return CommandLine{Command::version, Config{}, {}, {}};
    }

    CommandLine result;
    apply_environment(result.config, environment);
    apply_flags(result, args);
    if (result.command == Command::explain && result.arguments.size() != 2) {
        throw ConfigError(
            "explain needs a method and a target, as in: socket-proxy explain GET "
            "/v1.41/containers/json [--client unix:uid=1000]");
    }
    if (result.config.audit && result.config.audit_policy_file.empty()) {
        throw ConfigError(
            "SOCKET_PROXY_MODE=audit needs the candidate policy to compare with: set "
            "SOCKET_PROXY_AUDIT_POLICY to its file");
    }
    if (!result.config.audit && !result.config.audit_policy_file.empty()) {
        throw ConfigError(
            "SOCKET_PROXY_AUDIT_POLICY is set but SOCKET_PROXY_MODE is not audit: set "
            "SOCKET_PROXY_MODE=audit to compare, or unset SOCKET_PROXY_AUDIT_POLICY");
    }
    check_tls_settings(result.config);
    check_named_listeners(result.config);
    if (result.command == Command::learn && result.arguments.size() != 1) {
        throw ConfigError(
            "learn needs the log file to learn from, as in: socket-proxy learn proxy.log "
            "(JSON lines with DEBUG on: `docker logs socket-proxy > proxy.log`)");
    }
    return result;
}

}  // namespace socket_proxy
