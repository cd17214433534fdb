#include "certs.hpp"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "log_format.hpp"
#include "units.hpp"
#include "x509.hpp"

namespace socket_proxy {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

constexpr days ca_lifetime{3652};
// Apple's limit for TLS server certificates; clients rotate well before a CA would.
constexpr days leaf_lifetime{825};
// Docker's port for TLS (2375 is plain TCP).
constexpr std::string_view docker_tls_port = "2376";
// X.509 allows 64 bytes (RFC 5280, ub-common-name); wolfCrypt keeps a name in 64 bytes with its
// terminating zero.
constexpr std::size_t max_common_name = 63;

constexpr std::string_view help_hint = "socket-proxy certs --help shows the usage";

// What stops `certs` after its arguments were accepted (exit status 1).
class CertsFailure : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

void append_unique(std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) {
        list.push_back(std::move(value));
    }
}

std::string normalise_host(std::string_view flag, std::string_view host) {
    std::string_view name = host;
    // "[::1]" as in a URL: the certificate holds the address itself.
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
        if (!is_ip_address(name)) {
            throw CertsUsageError(std::string(flag) + " " + quote_value(host) +
                                  ": brackets hold an IPv6 address, as in [::1]");
        }
    }
    if (!is_ip_address(name) && !is_dns_name(name)) {
        throw CertsUsageError(std::string(flag) + " " + quote_value(host) +
                              ": not a DNS name or an IP address; name the proxy as clients "
                              "dial it, as in --host docker.example.com,127.0.0.1");
    }
    return std::string(name);
}

std::string check_client_name(std::string_view flag, std::string_view name) {
    if (!is_safe_client_name(name)) {
        throw CertsUsageError(std::string(flag) + " " + quote_value(name) +
                              ": a client name becomes the directory DIR/clients/NAME, so use "
                              "up to 63 letters, digits, '.', '_' and '-', not starting with '.'");
    }
    return std::string(name);
}

// "--host a,b" and "--host=a,b"; repeating the flag adds names.
void add_list(const std::vector<std::string_view>& args, std::size_t& index, std::string_view flag,
              std::string_view example, std::vector<std::string>& list,
              std::string (*check_item)(std::string_view, std::string_view)) {
    const std::string_view arg = args[index];
    std::string_view value;
    if (arg.size() > flag.size() && arg[flag.size()] == '=') {
        value = arg.substr(flag.size() + 1);
    } else if (index + 1 < args.size() && !args[index + 1].starts_with("-")) {
        value = args[++index];
    } else {
        throw CertsUsageError(std::string(flag) + " needs a value, as in " + std::string(flag) +
                              " " + std::string(example));
    }
    std::string_view rest = value;
    while (true) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = trim_spaces(rest.substr(0, comma));
        if (item.empty()) {
            throw CertsUsageError(std::string(flag) + " " + quote_value(value) +
                                  " has an empty name: separate names with single commas, as "
                                  "in " +
                                  std::string(flag) + " " + std::string(example));
        }
        append_unique(list, check_item(flag, item));
        if (comma == std::string_view::npos) {
            break;
        }
        rest = rest.substr(comma + 1);
    }
}

bool is_flag(std::string_view arg, std::string_view flag) {
    return arg == flag ||
           (arg.starts_with(flag) && arg.size() > flag.size() && arg[flag.size()] == '=');
}

// ---------------------------------------------------------------------------- files

bool path_exists(const fs::path& path) {
    std::error_code error;
    // A dangling symlink counts: the file would be written through it.
    return fs::symlink_status(path, error).type() != fs::file_type::not_found;
}

[[noreturn]] void fail_on_path(const fs::path& path, std::string_view doing, int error_number) {
    throw CertsFailure("cannot " + std::string(doing) + " " + path.string() + ": " +
                       std::strerror(error_number) + "; choose a directory you can write to");
}

void make_private_directory(const fs::path& path) {
    if (::mkdir(path.c_str(), 0700) == 0) {
        return;
    }
    const int error_number = errno;
    std::error_code ignored;
    if (error_number == EEXIST && fs::is_directory(path, ignored)) {
        return;
    }
    fail_on_path(path, "create the directory", error_number);
}

enum class Existing { refuse, replace };

// The content goes to a fresh file (O_EXCL, mode 0600 from the start, so a key is never
// readable by others, whatever the umask), which then takes the final name in one step:
// link() refuses an existing name, rename() replaces it. A reader never sees half a file.
void write_file(const fs::path& path, std::string_view content, mode_t mode, Existing existing) {
    std::string temporary =
        (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(temporary.data());
    if (fd < 0) {
        fail_on_path(path, "write", errno);
    }
    const auto give_up = [&](int error_number) {
        ::close(fd);
        ::unlink(temporary.c_str());
        fail_on_path(path, "write", error_number);
    };
    if (::fchmod(fd, mode) != 0) {
        give_up(errno);
    }
    std::string_view rest = content;
    while (!rest.empty()) {
        const ssize_t written = ::write(fd, rest.data(), rest.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            give_up(errno);
        }
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
    if (::fsync(fd) != 0) {
        give_up(errno);
    }
    ::close(fd);
    const int placed = existing == Existing::replace ? ::rename(temporary.c_str(), path.c_str())
                                                     : ::link(temporary.c_str(), path.c_str());
    const int error_number = errno;
    if (existing == Existing::refuse || placed != 0) {
        ::unlink(temporary.c_str());
    }
    if (placed != 0) {
        if (error_number == EEXIST) {
            throw CertsFailure(path.string() +
                               " appeared while certs was writing it; it was "
                               "left as it is: run certs again");
        }
        fail_on_path(path, "write", error_number);
    }
}

std::string read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw CertsFailure("cannot read " + path.string() + ": " + std::strerror(errno));
    }
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// A value for NAME=value as a POSIX shell reads it, quoted only when it has to be, so that the
// line also works in an env file. An assignment gets no pathname expansion: "[::1]" stays bare.
std::string shell_word(std::string_view value) {
    const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               (c != '\0' && std::strchr("_./,:@+=-[]", c));
    });
    if (plain) {
        return std::string(value);
    }
    std::string quoted = "'";
    for (const char c : value) {
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return quoted + "'";
}

// ---------------------------------------------------------------------------- certificates

struct Authority {
    Certificate certificate;
    PrivateKey key;
    std::string pem;
    bool created = false;
};

struct Bundle {
    fs::path directory;
    CertificateSpec spec;
};

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> random(bytes);
    // A name's suffix, not a secret: the kernel's generator directly (at most 256 bytes at once).
    if (getrandom(random.data(), random.size(), 0) != static_cast<ssize_t>(random.size())) {
        throw CertsFailure("the system's random number generator failed");
    }
    std::string hex;
    for (const unsigned char byte : random) {
        constexpr std::string_view digits = "0123456789abcdef";
        hex += digits[byte >> 4];
        hex += digits[byte & 0xf];
    }
    return hex;
}

// The existing CA when DIR holds one (checked before anything is written), else none.
std::optional<Authority> existing_authority(const fs::path& ca_path, const fs::path& key_path) {
    const bool has_key = path_exists(key_path);
    const bool has_certificate = path_exists(ca_path);
    if (!has_key && !has_certificate) {
        return std::nullopt;
    }
    if (!has_certificate) {
        throw CertsFailure(key_path.string() + " exists without " + ca_path.string() +
                           ": put the CA's certificate back as ca.pem, or choose another "
                           "directory for a new CA (the CA key is never replaced)");
    }
    if (!has_key) {
        throw CertsFailure(ca_path.string() + " exists without its key " + key_path.string() +
                           ": put the key back as ca-key.pem, or choose another directory for "
                           "a new CA");
    }
    Authority authority;
    authority.pem = read_file(ca_path);
    try {
        authority.certificate = read_certificate_pem(authority.pem, ca_path.string());
        authority.key = read_private_key_pem(read_file(key_path), key_path.string());
    } catch (const X509Error& error) {
        throw CertsFailure(std::string(error.what()) +
                           ": put the CA's own ca.pem and ca-key.pem back, or choose another "
                           "directory for a new CA");
    }
    if (!key_matches_certificate(authority.key, authority.certificate)) {
        throw CertsFailure(key_path.string() + " is not the key of " + ca_path.string() +
                           ": put the matching pair back, or choose another directory for a "
                           "new CA");
    }
    if (!is_certificate_authority(authority.certificate)) {
        throw CertsFailure(ca_path.string() +
                           " is not a CA certificate (no basicConstraints CA:TRUE): choose "
                           "another directory for a new CA");
    }
    if (has_expired(authority.certificate)) {
        throw CertsFailure("the CA " + ca_path.string() + " expired on " +
                           not_after_text(authority.certificate) +
                           ": move ca.pem and ca-key.pem away to make a new CA, and give every "
                           "client a new bundle");
    }
    return authority;
}

Authority new_authority() {
    Authority authority;
    authority.key = generate_p256_key();
    // A distinct name per CA, so that two of them in one trust store are told apart.
    const CertificateSpec spec{
        CertificateRole::authority, "socket-proxy CA " + random_hex(4), {}, ca_lifetime};
    authority.certificate = issue_certificate(spec, authority.key, nullptr, authority.key);
    authority.pem = certificate_pem(authority.certificate);
    authority.created = true;
    return authority;
}

void refuse_existing_bundle(const Bundle& bundle) {
    for (const char* name : {"cert.pem", "key.pem", "ca.pem"}) {
        const fs::path path = bundle.directory / name;
        if (path_exists(path)) {
            throw CertsFailure(path.string() +
                               " exists: pass --force to replace the server and client "
                               "certificates (the CA stays), or choose another directory");
        }
    }
}

Certificate write_bundle(const Bundle& bundle, const Authority& authority, Existing existing) {
    make_private_directory(bundle.directory);
    const PrivateKey key = generate_p256_key();
    Certificate certificate =
        issue_certificate(bundle.spec, key, &authority.certificate, authority.key);
    write_file(bundle.directory / "key.pem", private_key_pem(key), 0600, existing);
    write_file(bundle.directory / "cert.pem", certificate_pem(certificate), 0644, existing);
    write_file(bundle.directory / "ca.pem", authority.pem, 0644, existing);
    return certificate;
}

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += (text.empty() ? "" : ", ") + name;
    }
    return text;
}

// The lines to paste: into the proxy's environment, and per client into its shell.
void print_settings(const Bundle& server, const std::vector<Bundle>& clients,
                    const std::string& first_host) {
    std::printf("\n# socket-proxy's TLS listener:\n");
    std::printf("SOCKET_PROXY_TLS_CERT=%s\n",
                shell_word((server.directory / "cert.pem").string()).c_str());
    std::printf("SOCKET_PROXY_TLS_KEY=%s\n",
                shell_word((server.directory / "key.pem").string()).c_str());
    std::printf("SOCKET_PROXY_TLS_CA=%s\n",
                shell_word((server.directory / "ca.pem").string()).c_str());
    // An IPv6 address goes in brackets in a URL (RFC 3986 section 3.2.2).
    const std::string docker_host =
        "tcp://" +
        (first_host.find(':') != std::string::npos ? "[" + first_host + "]" : first_host) + ":" +
        std::string(docker_tls_port);
    for (const Bundle& client : clients) {
        std::printf("\n# the docker CLI as client %s:\n", client.spec.common_name.c_str());
        std::printf("DOCKER_HOST=%s\n", shell_word(docker_host).c_str());
        std::printf("DOCKER_TLS_VERIFY=1\n");
        std::printf("DOCKER_CERT_PATH=%s\n", shell_word(client.directory.string()).c_str());
    }
}

int write_certificates(const CertsOptions& options) {
    fs::path directory = fs::absolute(options.directory).lexically_normal();
    if (directory.filename().empty()) {
        directory = directory.parent_path();  // "certs/"
    }
    const fs::path ca_path = directory / "ca.pem";
    const fs::path ca_key_path = directory / "ca-key.pem";

    const std::string& first_host = options.hosts.front();
    CertificateSpec server_spec{
        CertificateRole::server,
        first_host.size() <= max_common_name ? first_host : "socket-proxy server", options.hosts,
        leaf_lifetime};
    const Bundle server{directory / "server", server_spec};
    std::vector<Bundle> clients;
    for (const std::string& name : options.clients) {
        clients.push_back(
            Bundle{directory / "clients" / name,
                   CertificateSpec{CertificateRole::client, name, {}, leaf_lifetime}});
    }

    // Everything that can refuse does so before the first file is written.
    std::optional<Authority> reused = existing_authority(ca_path, ca_key_path);
    const Existing existing = options.force ? Existing::replace : Existing::refuse;
    if (!options.force) {
        refuse_existing_bundle(server);
        for (const Bundle& client : clients) {
            refuse_existing_bundle(client);
        }
    }

    if (!path_exists(directory)) {
        std::error_code error;
        fs::create_directories(directory.parent_path(), error);
    }
    make_private_directory(directory);
    const Authority authority = reused ? std::move(*reused) : new_authority();
    if (authority.created) {
        // The key first, and never over an existing file: it is the one thing not to lose.
        write_file(ca_key_path, private_key_pem(authority.key), 0600, Existing::refuse);
        write_file(ca_path, authority.pem, 0644, Existing::refuse);
        std::printf(
            "# wrote a new CA: %s and its key %s (valid until %s; keep the key "
            "private, it signs every certificate)\n",
            ca_path.c_str(), ca_key_path.c_str(), not_after_text(authority.certificate).c_str());
    } else {
        std::printf("# signed with the existing CA %s (valid until %s)\n", ca_path.c_str(),
                    not_after_text(authority.certificate).c_str());
    }

    const Certificate server_certificate = write_bundle(server, authority, existing);
    std::printf("# wrote %s/{ca,cert,key}.pem for %s (valid until %s)\n", server.directory.c_str(),
                joined(options.hosts).c_str(), not_after_text(server_certificate).c_str());
    make_private_directory(directory / "clients");
    for (const Bundle& client : clients) {
        const Certificate certificate = write_bundle(client, authority, existing);
        std::printf("# wrote %s/{ca,cert,key}.pem for client %s (valid until %s)\n",
                    client.directory.c_str(), client.spec.common_name.c_str(),
                    not_after_text(certificate).c_str());
    }

    print_settings(server, clients, first_host);
    return 0;
}

}  // namespace

bool is_safe_client_name(std::string_view name) {
    return !name.empty() && name.size() <= max_common_name && name.front() != '.' &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                      c == '-';
           });
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
bool is_dns_name(std::string_view name) {
    if (name.empty() || name.size() > 253) {
        return false;
    }
    bool all_numeric = true;
    std::string_view rest = name;
    while (true) {
        const std::size_t dot = rest.find('.');
        const std::string_view label = rest.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (const char c : label) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
                return false;
            }
            all_numeric = all_numeric && std::isdigit(static_cast<unsigned char>(c));
        }
        if (dot == std::string_view::npos) {
            break;
        }
        rest = rest.substr(dot + 1);
    }
    // "300.1.1.1" is a mistyped address, not a name.
    return !all_numeric;
}

CertsOptions parse_certs_arguments(const std::vector<std::string_view>& args) {
    CertsOptions options;
    for (std::size_t index = 0; index < args.size(); ++index) {
        const std::string_view arg = args[index];
        if (arg == "--help" || arg == "-h") {
            options.help = true;
        } else if (arg == "--force") {
            options.force = true;
        } else if (is_flag(arg, "--host")) {
            add_list(args, index, "--host", "docker.example.com,127.0.0.1", options.hosts,
                     normalise_host);
        } else if (is_flag(arg, "--client")) {
            add_list(args, index, "--client", "alice,ci", options.clients, check_client_name);
        } else if (arg.starts_with("-")) {
            throw CertsUsageError("unknown flag " + quote_value(arg) + ": " +
                                  std::string(help_hint));
        } else if (!options.directory.empty()) {
            throw CertsUsageError("unexpected argument " + quote_value(arg) +
                                  ": certs writes to one directory, " +
                                  quote_value(options.directory));
        } else {
            options.directory = std::string(arg);
        }
    }
    if (options.help) {
        return options;
    }
    if (options.directory.empty()) {
        throw CertsUsageError(
            "name the directory to write to, as in socket-proxy certs ./certs --host "
            "docker.example.com --client alice");
    }
    if (options.hosts.empty()) {
        throw CertsUsageError(
            "name the server with --host NAME[,NAME...]: the DNS names and IP addresses "
            "clients dial, as in --host docker.example.com,127.0.0.1");
    }
    if (options.clients.empty()) {
        throw CertsUsageError(
            "name at least one client with --client NAME[,NAME...]: each gets its bundle in "
            "DIR/clients/NAME, as in --client alice,ci");
    }
    return options;
}

std::string certs_usage() {
    return R"(Usage: socket-proxy certs DIR --host NAME[,NAME...] --client NAME[,NAME...] [--force]

Writes what TLS between the docker CLI and socket-proxy needs, without a PKI (ECDSA P-256 keys,
SHA-256 signatures, random 128-bit serials):

  DIR/ca.pem, DIR/ca-key.pem          a CA, valid 10 years. If DIR already holds one, it signs
                                      the new certificates; its key is never replaced.
  DIR/server/{ca,cert,key}.pem        the proxy's certificate for the --host names (825 days)
  DIR/clients/NAME/{ca,cert,key}.pem  a client bundle per --client name (825 days), Docker's
                                      layout: point DOCKER_CERT_PATH at the directory

Keys are mode 0600, certificates 0644, new directories 0700. Then it prints the settings to
use: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH per client, and SOCKET_PROXY_TLS_CERT,
SOCKET_PROXY_TLS_KEY and SOCKET_PROXY_TLS_CA for the proxy.

  --host NAME[,NAME...]    the DNS names and IP addresses (IPv4 or IPv6) clients dial; the
                           first one goes into DOCKER_HOST. Repeatable.
  --client NAME[,NAME...]  one bundle per name, the certificate's common name: letters,
                           digits, '.', '_' and '-', not starting with '.'. Repeatable.
  --force                  replace existing server and client certificates (never the CA)
  -h, --help               this text

Exit status: 0 written, 1 not written (stderr says why), 2 a usage error.
)";
}

int run_certs(const std::vector<std::string_view>& args) {
    CertsOptions options;
    try {
        options = parse_certs_arguments(args);
    } catch (const CertsUsageError& error) {
        std::fprintf(stderr, "socket-proxy certs: %s\n", error.what());
        return exit_usage;
    }
    if (options.help) {
        std::fputs(certs_usage().c_str(), stdout);
        return 0;
    }
    try {
        return write_certificates(options);
    } catch (const CertsFailure& error) {
        std::fflush(stdout);
        std::fprintf(stderr, "socket-proxy certs: %s\n", error.what());
    } catch (const X509Error& error) {
        std::fflush(stdout);
        std::fprintf(stderr, "socket-proxy certs: %s\n", error.what());
    }
    return exit_failed;
}

}  // namespace socket_proxy
