// The decision of a connection's last request, kept for the next one that asks the same.
// Clients poll (Traefik lists the containers every few seconds, healthchecks ping), and
// decide() is a pure function of the request's method, target, Host and form flag, the client
// and the policy: an equal request from the same client under the same policy gets the same
// decision without normalising and matching again.
#pragma once

#include <memory>
#include <string>

#include "policy.hpp"

namespace socket_proxy {

class DecisionCache {
  public:
    // The decision made for `request` under `policy`, or null when it was made for another.
    [[nodiscard]] std::shared_ptr<const Decision> find(
        const Request& request, const std::shared_ptr<const Policy>& policy) const {
        const bool same = decision_ && policy_ == policy && form_body_ == request.form_body &&
                          method_ == request.method && target_ == request.target &&
                          host_ == request.host;
        return same ? decision_ : nullptr;
    }

    // Holding the policy keeps its address from coming back as a reloaded one's.
    void store(const Request& request, std::shared_ptr<const Policy> policy,
               std::shared_ptr<const Decision> decision) {
        method_ = request.method;
        target_ = request.target;
        host_ = request.host;
        form_body_ = request.form_body;
        policy_ = std::move(policy);
        decision_ = std::move(decision);
    }

    // The client's identity changed (its container became known): what it decided is stale.
    void clear() {
        decision_.reset();
        policy_.reset();
    }

  private:
    std::string method_;
    std::string target_;
    std::string host_;
    bool form_body_ = false;
    std::shared_ptr<const Policy> policy_;
    std::shared_ptr<const Decision> decision_;
};

}  // namespace socket_proxy
