#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "certs.hpp"
#include "commands.hpp"
#include "config.hpp"
#include "health.hpp"
#include "log.hpp"
#include "server.hpp"

#ifndef SOCKET_PROXY_VERSION
#define SOCKET_PROXY_VERSION "dev"
#endif

int main(int argc, char** argv) {
    using namespace socket_proxy;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    // `certs` has flags of its own (--host, --client, --force) that mean nothing to the proxy.
    if (!args.empty() && args.front() == "certs") {
        return run_certs({args.begin() + 1, args.end()});
    }
    const Environment environment = [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        return value ? std::optional<std::string>(value) : std::nullopt;
    };
    CommandLine command_line;
    try {
        command_line = parse_command_line(args, environment);
    } catch (const ConfigError& error) {
        std::fprintf(stderr, "socket-proxy: %s\n", error.what());
        return 2;
    }
    set_log_format(command_line.config.log_format.value_or(
        ::isatty(STDOUT_FILENO) ? LogFormat::text : LogFormat::json));
    switch (command_line.command) {
        case Command::help:
            std::fputs(usage().c_str(), stdout);
            return 0;
        case Command::version:
            std::printf("socket-proxy %s\n", SOCKET_PROXY_VERSION);
            return 0;
        case Command::check:
            return run_check(command_line, environment);
        case Command::explain:
            return run_explain(command_line, environment);
        case Command::learn:
            return run_learn(command_line);
        case Command::healthcheck:
            return run_healthcheck(command_line.config);
        case Command::serve:
            return run_server(command_line.config, environment);
    }
    return 2;
}
