// Per-client limits a rule sets (`limits:` in a policy file): a token bucket of requests per
// second with a burst, and caps on the requests and the streams a client has in flight. Each
// distinct client a rule matches (client_key.hpp) has its own bucket and counts, so a client
// that hammers the proxy spends only its own allowance. Pure: the caller passes the time in and
// owns the locking; no clocks, no I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace socket_proxy {

// What a rule's `limits:` sets; an unset field is no limit.
struct ClientLimits {
    std::optional<double> requests_per_second{};  // the bucket's refill rate
    std::optional<double> burst{};                // the bucket's size; unset: max(1, rate)
    std::optional<std::size_t> concurrent{};      // requests in flight, streams included
    std::optional<std::size_t> streams{};         // long-lived answers in flight (opens_stream)

    [[nodiscard]] double bucket_size() const;
};

// The largest value a policy file may give: past these a limit limits nothing, and a typo
// (an extra digit) is more likely than intent.
inline constexpr double max_requests_per_second = 1'000'000;
inline constexpr std::size_t max_in_flight_limit = 100'000;

enum class LimitKind { rate, concurrent, streams };

// As `check` lists a rule: "requests_per_second=5,burst=10,concurrent=4,streams=2".
[[nodiscard]] std::string describe_client_limits(const ClientLimits& limits);

// The metric label and the word in messages: "requests_per_second", "concurrent", "streams".
[[nodiscard]] std::string_view limit_name(LimitKind kind);

// A request's standing against its rule's limits.
struct Admission {
    std::optional<LimitKind> refused;  // unset: admitted, and its slots are taken
    unsigned retry_after_seconds = 0;  // when refused: the Retry-After a client waits
};

// The buckets and in-flight counts of every (rule, client) pair. Bounded: past `max_entries`
// it forgets idle pairs, first those whose bucket has refilled (forgetting them changes
// nothing), then the longest unused, so a client cycling through source addresses cannot grow
// it. A pair with requests in flight is never forgotten: those are bounded by the connection
// limit. Keyed by rule name, so a reload that keeps a rule keeps its clients' buckets.
class LimitTable {
  public:
    using Clock = std::chrono::steady_clock;

    explicit LimitTable(std::size_t max_entries = default_max_entries);

    static constexpr std::size_t default_max_entries = 10'000;

    // Takes a token and a concurrent slot (and a stream slot when `stream`), or none of them
    // and says which limit refused. Every admitted request is released exactly once.
    Admission admit(const std::string& rule, const std::string& client, const ClientLimits& limits,
                    bool stream, Clock::time_point now);
    void release(const std::string& rule, const std::string& client, bool stream);

    [[nodiscard]] std::size_t size() const { return entries_.size(); }

  private:
    struct Entry {
        double rate = 0;  // tokens per second, as the rule said when last admitted; 0: none
        double size = 0;  // the bucket's size, likewise
        double tokens = 0;
        Clock::time_point refilled{};
        Clock::time_point used{};
        std::size_t in_flight = 0;
        std::size_t streams = 0;
    };
    static std::string key(const std::string& rule, const std::string& client);
    static void refill(Entry& entry, Clock::time_point now);
    void make_room(Clock::time_point now);

    std::size_t max_entries_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace socket_proxy
