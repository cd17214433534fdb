// loadgen: keep-alive HTTP/1.1 GET load over a unix socket (or TCP), for bench/run.
//
// wrk only speaks TCP; the Docker API is mostly reached over a unix socket, so this does the
// same job there: N connections, each sending the next GET as soon as the previous answer is
// complete (closed loop, like wrk), for D seconds, spread over T threads with one epoll each.
// Latency is measured per request from the first byte written to the last byte of the answer.
//
//   loadgen --unix /run/proxy/docker.sock --path /_ping -c 16 -d 5 -t 2
//   loadgen --tcp 127.0.0.1:2375 --path /v1.41/version -c 128 -d 5
//
// Prints one line of key=value pairs (requests, seconds, rps, p50_us, p99_us, errors, ...).
//
// Build: g++ -O2 -std=c++20 -pthread bench/loadgen.cpp -o loadgen

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string unix_path;
    std::string tcp_host;
    int tcp_port = 0;
    std::string path = "/_ping";
    std::string host = "docker";
    int connections = 1;
    int threads = 1;
    double seconds = 5;
};

struct Totals {
    std::uint64_t requests = 0;
    std::uint64_t non_2xx = 0;
    std::uint64_t errors = 0;      // connect, read or write failures, malformed answers
    std::uint64_t reconnects = 0;  // the server closed a connection after an answer
    std::uint64_t stalled = 0;     // answers still missing when the run ended, > 1 s late
    std::uint64_t body_bytes = 0;
    std::vector<std::uint64_t> latencies_ns;
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(
        stderr,
        "loadgen: %s\n"
        "usage: loadgen (--unix PATH | --tcp HOST:PORT) [--path /_ping] [-c N] [-d SECONDS]"
        " [-t THREADS] [--host HOST]\n",
        message);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage("a flag is missing its value");
            return argv[++i];
        };
        if (flag == "--unix") {
            options.unix_path = value();
        } else if (flag == "--tcp") {
            const std::string address = value();
            const auto colon = address.rfind(':');
            if (colon == std::string::npos)
                usage("--tcp takes HOST:PORT");
            options.tcp_host = address.substr(0, colon);
            options.tcp_port = std::atoi(address.c_str() + colon + 1);
        } else if (flag == "--path") {
            options.path = value();
        } else if (flag == "--host") {
            options.host = value();
        } else if (flag == "-c") {
            options.connections = std::atoi(value().c_str());
        } else if (flag == "-t") {
            options.threads = std::atoi(value().c_str());
        } else if (flag == "-d") {
            options.seconds = std::atof(value().c_str());
        } else {
            usage("unknown flag");
        }
    }
    if (options.unix_path.empty() == options.tcp_host.empty())
        usage("give one of --unix or --tcp");
    if (options.connections < 1)
        usage("-c must be at least 1");
    options.threads = std::clamp(options.threads, 1, options.connections);
    return options;
}

// The answer to one request, parsed incrementally as bytes arrive (RFC 9112 section 6:
// Content-Length, chunked, or until close).
class ResponseParser {
  public:
    enum class Result { need_more, complete, error };

    void reset() {
        state_ = State::head;
        head_.clear();
        remaining_ = 0;
        line_.clear();
        status_ = 0;
        close_ = false;
        body_bytes_ = 0;
    }

    // Consumes bytes from data; on complete, consumed tells how many belonged to this answer.
    Result feed(const char* data, std::size_t size, std::size_t& consumed) {
        std::size_t at = 0;
        while (at < size) {
            switch (state_) {
                case State::head: {
                    // Only the head is kept, to find its end and read a few fields.
                    const std::size_t before = head_.size();
                    head_.append(data + at, size - at);
                    const auto end = head_.find("\r\n\r\n");
                    if (end == std::string::npos) {
                        if (head_.size() > 64 * 1024)
                            return Result::error;
                        at = size;
                        break;
                    }
                    at += end + 4 - before;
                    head_.resize(end + 4);
                    if (!parse_head())
                        return Result::error;
                    if (state_ == State::done) {
                        consumed = at;
                        return Result::complete;
                    }
                    break;
                }
                case State::body_length: {
                    const std::size_t take = std::min<std::uint64_t>(remaining_, size - at);
                    at += take;
                    remaining_ -= take;
                    body_bytes_ += take;
                    if (remaining_ == 0) {
                        consumed = at;
                        state_ = State::done;
                        return Result::complete;
                    }
                    break;
                }
                case State::body_until_close:
                    body_bytes_ += size - at;
                    at = size;
                    break;
                case State::chunk_size:
                case State::chunk_trailer: {
                    const char c = data[at++];
                    if (c != '\n') {
                        line_.push_back(c);
                        if (line_.size() > 4096)
                            return Result::error;
                        break;
                    }
                    if (!line_.empty() && line_.back() == '\r')
                        line_.pop_back();
                    if (state_ == State::chunk_trailer) {
                        const bool last = line_.empty();
                        line_.clear();
                        if (last) {
                            consumed = at;
                            state_ = State::done;
                            return Result::complete;
                        }
                        break;
                    }
                    std::uint64_t chunk = 0;
                    const auto semicolon = line_.find(';');
                    const std::string_view digits = std::string_view(line_).substr(0, semicolon);
                    const auto [ptr, ec] =
                        std::from_chars(digits.data(), digits.data() + digits.size(), chunk, 16);
                    if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty())
                        return Result::error;
                    line_.clear();
                    if (chunk == 0) {
                        state_ = State::chunk_trailer;
                    } else {
                        remaining_ = chunk;
                        state_ = State::chunk_data;
                    }
                    break;
                }
                case State::chunk_data: {
                    const std::size_t take = std::min<std::uint64_t>(remaining_, size - at);
                    at += take;
                    remaining_ -= take;
                    body_bytes_ += take;
                    if (remaining_ == 0)
                        state_ = State::chunk_data_end;
                    break;
                }
                case State::chunk_data_end: {
                    const char c = data[at++];
                    if (c == '\n')
                        state_ = State::chunk_size;
                    else if (c != '\r')
                        return Result::error;
                    break;
                }
                case State::done:
                    return Result::error;
            }
        }
        consumed = at;
        return Result::need_more;
    }

    // The server closed the connection: an answer delimited by the close is now complete.
    bool complete_at_eof() const { return state_ == State::body_until_close; }
    bool idle() const { return state_ == State::head && head_.empty(); }
    int status() const { return status_; }
    bool close_after() const { return close_; }
    std::uint64_t body_bytes() const { return body_bytes_; }

  private:
    enum class State {
        head,
        body_length,
        body_until_close,
        chunk_size,
        chunk_data,
        chunk_data_end,
        chunk_trailer,
        done
    };

    static bool iequals(std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) ==
                          std::tolower(static_cast<unsigned char>(y));
               });
    }

    static std::string_view trim(std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
            s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
            s.remove_suffix(1);
        return s;
    }

    bool parse_head() {
        std::string_view head = head_;
        if (head.size() < 12 || head.substr(0, 5) != "HTTP/")
            return false;
        status_ = std::atoi(std::string(head.substr(9, 3)).c_str());
        if (status_ < 100)
            return false;
        const bool http10 = head.substr(0, 8) == "HTTP/1.0";
        bool keep_alive_named = false;
        std::optional<std::uint64_t> length;
        bool chunked = false;
        std::size_t line_start = head.find("\r\n") + 2;
        while (line_start < head.size()) {
            const auto line_end = head.find("\r\n", line_start);
            if (line_end == std::string_view::npos || line_end == line_start)
                break;
            const std::string_view line = head.substr(line_start, line_end - line_start);
            line_start = line_end + 2;
            const auto colon = line.find(':');
            if (colon == std::string_view::npos)
                continue;
            const std::string_view name = line.substr(0, colon);
            const std::string_view value = trim(line.substr(colon + 1));
            if (iequals(name, "content-length")) {
                std::uint64_t n = 0;
                const auto [ptr, ec] =
                    std::from_chars(value.data(), value.data() + value.size(), n);
                if (ec != std::errc())
                    return false;
                length = n;
            } else if (iequals(name, "transfer-encoding")) {
                chunked = value.size() >= 7 && iequals(value.substr(value.size() - 7), "chunked");
            } else if (iequals(name, "connection")) {
                if (iequals(value, "close"))
                    close_ = true;
                if (iequals(value, "keep-alive"))
                    keep_alive_named = true;
            }
        }
        if (http10 && !keep_alive_named)
            close_ = true;
        if (status_ < 200 || status_ == 204 || status_ == 304) {
            state_ = State::done;
        } else if (chunked) {
            state_ = State::chunk_size;
        } else if (length) {
            remaining_ = *length;
            state_ = *length == 0 ? State::done : State::body_length;
        } else {
            state_ = State::body_until_close;
            close_ = true;
        }
        return true;
    }

    State state_ = State::head;
    std::string head_;
    std::string line_;
    std::uint64_t remaining_ = 0;
    std::uint64_t body_bytes_ = 0;
    int status_ = 0;
    bool close_ = false;
};

struct Connection {
    int fd = -1;
    bool connecting = false;
    std::size_t written = 0;  // bytes of the current request written
    bool in_flight = false;
    Clock::time_point sent_at;
    ResponseParser parser;
};

int open_socket(const Options& options) {
    int fd = -1;
    int rc = -1;
    if (!options.unix_path.empty()) {
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (options.unix_path.size() >= sizeof(address.sun_path))
            usage("unix socket path too long");
        std::memcpy(address.sun_path, options.unix_path.c_str(), options.unix_path.size() + 1);
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    } else {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(options.tcp_port));
        if (::inet_pton(AF_INET, options.tcp_host.c_str(), &address.sin_addr) != 1)
            usage("--tcp needs a numeric IPv4 address");
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    }
    if (rc < 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

class Worker {
  public:
    Worker(const Options& options, int connections, Clock::time_point end)
        : options_(options), connections_(static_cast<std::size_t>(connections)), end_(end) {
        request_ = "GET " + options.path + " HTTP/1.1\r\nHost: " + options.host +
                   "\r\nUser-Agent: socket-proxy-bench-loadgen\r\nAccept: */*\r\n\r\n";
        totals_.latencies_ns.reserve(1 << 20);
    }

    void run() {
        epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
        for (std::size_t i = 0; i < connections_.size(); ++i)
            start(i);
        std::vector<epoll_event> events(connections_.size() + 1);
        std::vector<char> buffer(256 * 1024);
        while (Clock::now() < end_) {
            const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 5);
            for (int e = 0; e < n; ++e) {
                const std::size_t i = events[e].data.u64;
                Connection& c = connections_[i];
                if (c.fd < 0)
                    continue;
                if (c.connecting) {
                    int err = 0;
                    socklen_t len = sizeof(err);
                    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0) {
                        fail(i);
                        continue;
                    }
                    c.connecting = false;
                    send_next(i);
                    continue;
                }
                if (events[e].events & EPOLLOUT) {
                    write_more(i);
                    if (c.fd < 0)
                        continue;
                }
                if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    read_all(i, buffer);
            }
        }
        const auto finished = Clock::now();
        for (auto& c : connections_) {
            if (c.fd >= 0 && c.in_flight && finished - c.sent_at > std::chrono::seconds(1))
                ++totals_.stalled;
            if (c.fd >= 0)
                ::close(c.fd);
        }
        ::close(epoll_);
    }

    Totals& totals() { return totals_; }

  private:
    void start(std::size_t i) {
        Connection& c = connections_[i];
        c = Connection{};
        c.fd = open_socket(options_);
        while (c.fd < 0) {
            // Refused (a full backlog, a limit): counted, retried after a pause so a refusing
            // server is not spun against, and never given up while the run lasts.
            ++totals_.errors;
            if (Clock::now() >= end_)
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            c.fd = open_socket(options_);
        }
        epoll_event event{};
        event.events = EPOLLOUT | EPOLLIN;
        event.data.u64 = i;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &event);
        c.connecting = true;
    }

    void close_connection(std::size_t i) {
        Connection& c = connections_[i];
        if (c.fd >= 0) {
            ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
        }
        c.fd = -1;
    }

    void fail(std::size_t i) {
        ++totals_.errors;
        close_connection(i);
        if (Clock::now() < end_)
            start(i);
    }

    void want_write(std::size_t i, bool on) {
        epoll_event event{};
        event.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        event.data.u64 = i;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, connections_[i].fd, &event);
    }

    void send_next(std::size_t i) {
        Connection& c = connections_[i];
        c.parser.reset();
        c.written = 0;
        c.in_flight = true;
        c.sent_at = Clock::now();
        want_write(i, false);
        write_more(i);
    }

    void write_more(std::size_t i) {
        Connection& c = connections_[i];
        while (c.written < request_.size()) {
            const ssize_t n = ::send(c.fd, request_.data() + c.written, request_.size() - c.written,
                                     MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) {
                    want_write(i, true);
                    return;
                }
                fail(i);
                return;
            }
            c.written += static_cast<std::size_t>(n);
        }
        want_write(i, false);
    }

    void read_all(std::size_t i, std::vector<char>& buffer) {
        Connection& c = connections_[i];
        for (;;) {
            const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
            if (n < 0) {
                if (errno == EAGAIN)
                    return;
                fail(i);
                return;
            }
            if (n == 0) {
                if (c.in_flight && c.parser.complete_at_eof()) {
                    complete(i, /*closed=*/true);
                    return;
                }
                if (c.in_flight && !c.parser.idle()) {
                    fail(i);  // closed in the middle of an answer
                    return;
                }
                // Closed between answers or before the first byte of one: reconnect and resend.
                ++totals_.reconnects;
                close_connection(i);
                if (Clock::now() < end_)
                    start(i);
                return;
            }
            std::size_t consumed = 0;
            const auto result = c.parser.feed(buffer.data(), static_cast<std::size_t>(n), consumed);
            if (result == ResponseParser::Result::error) {
                fail(i);
                return;
            }
            if (result == ResponseParser::Result::complete) {
                // Closed loop: the next request goes out only after the answer, so no bytes of a
                // later answer can follow in the same read.
                complete(i, c.parser.close_after());
                return;
            }
        }
    }

    void complete(std::size_t i, bool closed) {
        // Taken here, not at the wake-up: a large answer may take many reads of one wake-up.
        const auto now = Clock::now();
        Connection& c = connections_[i];
        c.in_flight = false;
        if (now <= end_) {
            ++totals_.requests;
            totals_.body_bytes += c.parser.body_bytes();
            if (c.parser.status() < 200 || c.parser.status() > 299)
                ++totals_.non_2xx;
            totals_.latencies_ns.push_back(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent_at).count()));
        }
        if (now >= end_)
            return;
        if (closed) {
            ++totals_.reconnects;
            close_connection(i);
            start(i);
            return;
        }
        send_next(i);
    }

    const Options& options_;
    std::vector<Connection> connections_;
    Clock::time_point end_;
    std::string request_;
    int epoll_ = -1;
    Totals totals_;
};

double percentile_us(std::vector<std::uint64_t>& sorted, double p) {
    if (sorted.empty())
        return 0;
    const auto rank =
        static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    const auto begin = Clock::now();
    const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(options.seconds));

    std::vector<Worker> workers;
    workers.reserve(static_cast<std::size_t>(options.threads));
    for (int t = 0; t < options.threads; ++t) {
        const int share = options.connections / options.threads +
                          (t < options.connections % options.threads ? 1 : 0);
        workers.emplace_back(options, share, end);
    }
    std::vector<std::thread> threads;
    for (auto& worker : workers)
        threads.emplace_back([&worker] { worker.run(); });
    for (auto& thread : threads)
        thread.join();
    const double elapsed =
        std::chrono::duration<double>(std::min(Clock::now(), end) - begin).count();

    Totals all;
    for (auto& worker : workers) {
        Totals& t = worker.totals();
        all.requests += t.requests;
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
        all.reconnects += t.reconnects;
        all.stalled += t.stalled;
        all.body_bytes += t.body_bytes;
        all.latencies_ns.insert(all.latencies_ns.end(), t.latencies_ns.begin(),
                                t.latencies_ns.end());
    }
    std::sort(all.latencies_ns.begin(), all.latencies_ns.end());
    std::printf(
        "requests=%llu seconds=%.3f rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f "
        "errors=%llu "
        "non2xx=%llu reconnects=%llu stalled=%llu body_bytes=%llu\n",
        static_cast<unsigned long long>(all.requests), elapsed,
        static_cast<double>(all.requests) / elapsed, percentile_us(all.latencies_ns, 50),
        percentile_us(all.latencies_ns, 90), percentile_us(all.latencies_ns, 99),
        all.latencies_ns.empty() ? 0.0 : static_cast<double>(all.latencies_ns.back()) / 1000.0,
        static_cast<unsigned long long>(all.errors), static_cast<unsigned long long>(all.non_2xx),
        static_cast<unsigned long long>(all.reconnects),
        static_cast<unsigned long long>(all.stalled),
        static_cast<unsigned long long>(all.body_bytes));
    return all.requests > 0 ? 0 : 1;
}
