#include "client_limits.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace socket_proxy {

double ClientLimits::bucket_size() const {
    return burst.value_or(std::max(1.0, requests_per_second.value_or(1.0)));
}

std::string_view limit_name(LimitKind kind) {
    switch (kind) {
        case LimitKind::rate:
            return "requests_per_second";
        case LimitKind::concurrent:
            return "concurrent";
        case LimitKind::streams:
            return "streams";
    }
    return "unknown";
}

std::string describe_client_limits(const ClientLimits& limits) {
    std::string text;
    const auto add = [&text](std::string_view name, const std::string& value) {
        text += (text.empty() ? "" : ",") + std::string(name) + "=" + value;
    };
    const auto number = [](double value) {
        std::string written = std::to_string(value);  // "2.500000"
        written.erase(written.find_last_not_of('0') + 1);
        if (written.back() == '.') {
            written.pop_back();
        }
        return written;
    };
    if (limits.requests_per_second) {
        add("requests_per_second", number(*limits.requests_per_second));
        add("burst", number(limits.bucket_size()));
    }
    if (limits.concurrent) {
        add("concurrent", std::to_string(*limits.concurrent));
    }
    if (limits.streams) {
        add("streams", std::to_string(*limits.streams));
    }
    return text;
}

LimitTable::LimitTable(std::size_t max_entries)
    : max_entries_(std::max<std::size_t>(1, max_entries)) {}

// Rule names cannot hold a NUL, so no two pairs share a key.
std::string LimitTable::key(const std::string& rule, const std::string& client) {
    std::string text = rule;
    text += '\0';
    text += client;
    return text;
}

void LimitTable::refill(Entry& entry, Clock::time_point now) {
    if (now > entry.refilled) {
        const double seconds = std::chrono::duration<double>(now - entry.refilled).count();
        entry.tokens = std::min(entry.size, entry.tokens + seconds * entry.rate);
    }
    entry.refilled = std::max(entry.refilled, now);
}

Admission LimitTable::admit(const std::string& rule, const std::string& client,
                            const ClientLimits& limits, bool stream, Clock::time_point now) {
    const std::string pair = key(rule, client);
    auto found = entries_.find(pair);
    if (found == entries_.end()) {
        if (entries_.size() >= max_entries_) {
            make_room(now);
        }
        Entry fresh;
        fresh.size = limits.bucket_size();
        fresh.tokens = fresh.size;
        fresh.refilled = now;
        found = entries_.emplace(pair, fresh).first;
    }
    Entry& entry = found->second;
    // A reload may have changed the rule's numbers: the bucket keeps its tokens, within the
    // new size.
    refill(entry, now);
    entry.rate = limits.requests_per_second.value_or(0);
    entry.size = limits.bucket_size();
    entry.tokens = std::min(entry.tokens, entry.size);
    entry.used = now;

    Admission admission;
    if (limits.requests_per_second && entry.tokens < 1) {
        admission.refused = LimitKind::rate;
        // A rate as small as a policy may write (1e-300) waits longer than an unsigned holds.
        const double wait = std::min(std::ceil((1 - entry.tokens) / entry.rate), 1e9);
        admission.retry_after_seconds = std::max(1u, static_cast<unsigned>(wait));
    } else if (limits.concurrent && entry.in_flight >= *limits.concurrent) {
        admission.refused = LimitKind::concurrent;
    } else if (stream && limits.streams && entry.streams >= *limits.streams) {
        admission.refused = LimitKind::streams;
    }
    if (admission.refused) {
        if (*admission.refused != LimitKind::rate) {
            admission.retry_after_seconds = 1;  // a slot frees when an answer ends: unknown
        }
        return admission;
    }
    if (limits.requests_per_second) {
        entry.tokens -= 1;
    }
    ++entry.in_flight;
    if (stream) {
        ++entry.streams;
    }
    return admission;
}

void LimitTable::release(const std::string& rule, const std::string& client, bool stream) {
    const auto found = entries_.find(key(rule, client));
    if (found == entries_.end()) {
        return;
    }
    Entry& entry = found->second;
    if (entry.in_flight > 0) {
        --entry.in_flight;
    }
    if (stream && entry.streams > 0) {
        --entry.streams;
    }
    if (entry.in_flight == 0 && entry.rate == 0) {
        entries_.erase(found);  // no bucket and nothing in flight: nothing to remember
    }
}

// Frees at least an eighth of the table, so that a stream of new clients pays for one pass
// per eighth of the cap, not one per request.
void LimitTable::make_room(Clock::time_point now) {
    const std::size_t wanted = std::max<std::size_t>(1, max_entries_ / 8);
    std::size_t freed = 0;
    std::vector<std::pair<Clock::time_point, std::string>> idle;
    for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& entry = it->second;
        if (entry.in_flight > 0) {
            ++it;
            continue;
        }
        refill(entry, now);
        if (entry.tokens >= entry.size) {
            it = entries_.erase(it);
            ++freed;
        } else {
            idle.emplace_back(entry.used, it->first);
            ++it;
        }
    }
    if (freed >= wanted || idle.empty()) {
        return;
    }
    // Forgetting a bucket not yet refilled hands its client a full one: the longest unused
    // go first, whose clients are least likely to be back soon.
    const std::size_t more = std::min(wanted - freed, idle.size());
    std::nth_element(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(more - 1),
                     idle.end());
    for (std::size_t i = 0; i < more; ++i) {
        entries_.erase(idle[i].second);
    }
}

}  // namespace socket_proxy
