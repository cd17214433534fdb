// `socket-proxy certs DIR --host NAME[,NAME...] --client NAME[,NAME...] [--force]`: a CA, a
// server certificate and one client bundle per name in Docker's layout, so that TLS needs no
// PKI. The CA's key is never replaced; an existing CA signs the new certificates.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace socket_proxy {

struct CertsOptions {
    std::string directory;
    // Normalised: an IPv6 address without brackets, no duplicates, in the order given.
    std::vector<std::string> hosts;
    std::vector<std::string> clients;
    bool force = false;
    bool help = false;
};

// A command line `certs` cannot run: one sentence saying what to change (exit status 2).
class CertsUsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The arguments after `certs`; throws CertsUsageError.
[[nodiscard]] CertsOptions parse_certs_arguments(const std::vector<std::string_view>& args);
[[nodiscard]] std::string certs_usage();

// A client name becomes a directory under DIR/clients, so it may not climb out of it or hide.
[[nodiscard]] bool is_safe_client_name(std::string_view name);
[[nodiscard]] bool is_dns_name(std::string_view name);

// Writes the files and prints what it wrote and the settings to use; returns the exit status:
// 0 written, 1 failed (stderr says why), 2 usage error.
int run_certs(const std::vector<std::string_view>& args);

}  // namespace socket_proxy
