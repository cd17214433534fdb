#include "answer_strategy.hpp"

namespace socket_proxy {

AnswerStrategy choose_answer_strategy(const AnswerFacts& facts) {
    const bool full_answer = facts.get && facts.status == 200;
    if (full_answer && facts.scope == ScopedRouteKind::events) {
        return AnswerStrategy::scoped_events;
    }
    if (full_answer && (facts.scope == ScopedRouteKind::container_list ||
                        facts.scope == ScopedRouteKind::volume_list ||
                        facts.scope == ScopedRouteKind::network_list)) {
        return AnswerStrategy::filtered_list;
    }
    if (full_answer && facts.redacts) {
        return AnswerStrategy::redacted;
    }
    if (facts.upgraded) {
        return AnswerStrategy::tunnel;
    }
    if (facts.no_body || (facts.remaining && *facts.remaining < splice_threshold_bytes)) {
        return AnswerStrategy::buffered;
    }
    if (!facts.client_is_tls && !facts.daemon_is_tls && facts.remaining) {
        return AnswerStrategy::spliced;
    }
    return AnswerStrategy::relayed;
}

}  // namespace socket_proxy
