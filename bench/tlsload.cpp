// tlsload: HTTP/1.1 GET load over mutual TLS, for bench/run --tls.
//
// wrk speaks TLS but cannot present a client certificate, and the TLS listener the benchmark
// measures is mutual. Two modes, both a closed loop (each connection sends its next request as
// soon as the previous answer is complete):
//
//   --kept        N connections, each handshakes once and then sends request after request
//                 (requests per second on kept connections);
//   --handshakes  N workers, each opens a new connection per request: connect, full handshake
//                 (no session resumption), one GET, close (handshakes per second).
//
// One thread per connection with blocking sockets: simple, and the same for every contender;
// the latency of a request is measured from its first byte written to the last byte read (with
// --handshakes, from connect() to the last byte read).
//
//   tlsload --tcp 127.0.0.1:2376 --ca ca.pem --cert cert.pem --key key.pem --kept -c 16 -d 3
//
// Prints one line of key=value pairs (requests, seconds, rps, p50_us, p99_us, errors, non2xx).
//
// Build: g++ -O2 -std=c++20 -pthread bench/tlsload.cpp -o tlsload -lssl -lcrypto

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path = "/_ping";
    std::string ca, cert, key;
    bool handshakes = false;
    int connections = 1;
    double seconds = 3;
};

struct Totals {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t non_2xx = 0;
    std::vector<std::uint64_t> latencies_ns;
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr,
                 "tlsload: %s\n"
                 "usage: tlsload --tcp HOST:PORT --ca PEM --cert PEM --key PEM (--kept | "
                 "--handshakes) [--path /_ping] [-c N] [-d SECONDS]\n",
                 message);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options options;
    bool mode_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage("a flag is missing its value");
            return argv[++i];
        };
        if (flag == "--tcp") {
            const std::string address = value();
            const auto colon = address.rfind(':');
            if (colon == std::string::npos)
                usage("--tcp takes HOST:PORT");
            options.host = address.substr(0, colon);
            options.port = std::atoi(address.c_str() + colon + 1);
        } else if (flag == "--ca") {
            options.ca = value();
        } else if (flag == "--cert") {
            options.cert = value();
        } else if (flag == "--key") {
            options.key = value();
        } else if (flag == "--path") {
            options.path = value();
        } else if (flag == "--kept" || flag == "--handshakes") {
            options.handshakes = flag == "--handshakes";
            mode_given = true;
        } else if (flag == "-c") {
            options.connections = std::atoi(value().c_str());
        } else if (flag == "-d") {
            options.seconds = std::atof(value().c_str());
        } else {
            usage("unknown flag");
        }
    }
    if (options.port <= 0 || options.ca.empty() || options.cert.empty() || options.key.empty())
        usage("--tcp, --ca, --cert and --key are required");
    if (!mode_given)
        usage("give --kept or --handshakes");
    if (options.connections < 1)
        usage("-c must be at least 1");
    return options;
}

SSL_CTX* make_context(const Options& options) {
    SSL_CTX* context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    // Every handshake in --handshakes is a full one: no tickets, no session cache.
    SSL_CTX_set_options(context, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(context, options.ca.c_str(), nullptr) != 1 ||
        SSL_CTX_use_certificate_chain_file(context, options.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, options.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        usage("cannot load --ca, --cert or --key");
    }
    return context;
}

int connect_tcp(const Options& options) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(options.port));
    ::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// One connection: the socket, TLS over it, and the bytes read past the last answer.
class TlsConnection {
  public:
    TlsConnection(SSL_CTX* context, const Options& options) {
        fd_ = connect_tcp(options);
        if (fd_ < 0)
            return;
        ssl_ = SSL_new(context);
        SSL_set_fd(ssl_, fd_);
        SSL_set1_host(ssl_, options.host.c_str());
        if (SSL_connect(ssl_) != 1) {
            close();
        }
    }
    ~TlsConnection() { close(); }
    TlsConnection(const TlsConnection&) = delete;
    TlsConnection& operator=(const TlsConnection&) = delete;

    [[nodiscard]] bool open() const { return ssl_ != nullptr; }

    bool write_all(std::string_view bytes) {
        while (!bytes.empty()) {
            const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
            if (n <= 0)
                return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one answer with a Content-Length (what every contender sends for these paths).
    // Returns the status, or 0 on an error.
    int read_answer() {
        std::size_t head_end = std::string::npos;
        while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
            if (!read_more())
                return 0;
        }
        const std::string_view head(pending_.data(), head_end);
        if (head.size() < 12 || head.substr(0, 5) != "HTTP/")
            return 0;
        int status = 0;
        std::from_chars(head.data() + 9, head.data() + 12, status);
        std::size_t length = 0;
        bool has_length = false;
        std::size_t line = head.find("\r\n");
        while (line != std::string_view::npos) {
            const std::size_t next = head.find("\r\n", line + 2);
            std::string field(head.substr(line + 2, next == std::string_view::npos
                                                        ? std::string_view::npos
                                                        : next - line - 2));
            std::transform(field.begin(), field.end(), field.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (field.starts_with("content-length:")) {
                const char* digits = field.c_str() + 15;
                while (*digits == ' ')
                    ++digits;
                std::from_chars(digits, field.c_str() + field.size(), length);
                has_length = true;
            }
            line = next;
        }
        if (!has_length)
            return 0;
        const std::size_t total = head_end + 4 + length;
        while (pending_.size() < total) {
            if (!read_more())
                return 0;
        }
        pending_.erase(0, total);
        return status;
    }

    void close() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

  private:
    bool read_more() {
        char buffer[16384];
        const int n = SSL_read(ssl_, buffer, sizeof buffer);
        if (n <= 0)
            return false;
        pending_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    SSL* ssl_ = nullptr;
    std::string pending_;
};

void worker(SSL_CTX* context, const Options& options, Clock::time_point end, Totals& totals) {
    const std::string request =
        "GET " + options.path + " HTTP/1.1\r\nHost: docker\r\nUser-Agent: tlsload\r\n\r\n";
    totals.latencies_ns.reserve(1 << 16);
    auto count = [&](int status, Clock::time_point started) {
        if (status == 0) {
            ++totals.errors;
            return;
        }
        ++totals.requests;
        if (status < 200 || status >= 300)
            ++totals.non_2xx;
        totals.latencies_ns.push_back(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count()));
    };
    if (options.handshakes) {
        while (Clock::now() < end) {
            const auto started = Clock::now();
            TlsConnection connection(context, options);
            const bool sent = connection.open() && connection.write_all(request);
            count(sent ? connection.read_answer() : 0, started);
        }
        return;
    }
    auto connection = std::make_unique<TlsConnection>(context, options);
    while (Clock::now() < end) {
        if (!connection->open()) {
            ++totals.errors;
            connection = std::make_unique<TlsConnection>(context, options);
            continue;
        }
        const auto started = Clock::now();
        const int status = connection->write_all(request) ? connection->read_answer() : 0;
        count(status, started);
        if (status == 0)
            connection = std::make_unique<TlsConnection>(context, options);
    }
}

std::uint64_t percentile(std::vector<std::uint64_t>& sorted, double fraction) {
    if (sorted.empty())
        return 0;
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
    return sorted[index];
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    SSL_CTX* context = make_context(options);
    const auto started = Clock::now();
    const auto end = started + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options.seconds));
    std::vector<Totals> per_thread(static_cast<std::size_t>(options.connections));
    std::vector<std::thread> threads;
    for (auto& totals : per_thread)
        threads.emplace_back(worker, context, std::cref(options), end, std::ref(totals));
    for (auto& thread : threads)
        thread.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    Totals all;
    for (auto& totals : per_thread) {
        all.requests += totals.requests;
        all.errors += totals.errors;
        all.non_2xx += totals.non_2xx;
        all.latencies_ns.insert(all.latencies_ns.end(), totals.latencies_ns.begin(),
                                totals.latencies_ns.end());
    }
    std::sort(all.latencies_ns.begin(), all.latencies_ns.end());
    std::printf(
        "requests=%llu seconds=%.3f rps=%.1f p50_us=%.1f p99_us=%.1f errors=%llu non2xx=%llu\n",
        static_cast<unsigned long long>(all.requests), elapsed,
        static_cast<double>(all.requests) / elapsed,
        static_cast<double>(percentile(all.latencies_ns, 0.50)) / 1000.0,
        static_cast<double>(percentile(all.latencies_ns, 0.99)) / 1000.0,
        static_cast<unsigned long long>(all.errors), static_cast<unsigned long long>(all.non_2xx));
    SSL_CTX_free(context);
    return all.requests > 0 ? 0 : 1;
}
