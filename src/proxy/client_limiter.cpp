#include "client_limiter.hpp"

#include <chrono>
#include <utility>

namespace socket_proxy {

LimitHold::~LimitHold() {
    limiter_.release(rule_, client_, stream_);
}

Admission ClientLimiter::admit(std::string rule, std::string client_key, const ClientLimits& limits,
                               bool stream, std::optional<LimitHold>& hold) {
    const auto now = LimitTable::Clock::now();
    Admission admission;
    {
        const std::lock_guard lock(mutex_);
        admission = table_.admit(rule, client_key, limits, stream, now);
    }
    if (!admission.refused) {
        hold.emplace(*this, std::move(rule), std::move(client_key), stream);
    }
    return admission;
}

void ClientLimiter::release(const std::string& rule, const std::string& client, bool stream) {
    const std::lock_guard lock(mutex_);
    table_.release(rule, client, stream);
}

}  // namespace socket_proxy
