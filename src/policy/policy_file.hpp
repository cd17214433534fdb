// The policy file (SOCKET_PROXY_POLICY): ordered rules in YAML, first match wins.
//
//   default: deny                 # when no rule matches (allow or deny; default deny)
//   rules:
//     - name: allow-logs          # letters, digits, '-', '_'; unique; logged with decisions
//       methods: [GET, HEAD]      # or one method; absent: any method
//       path: /containers/{id...}/logs    # a PathPattern; absent: any path
//       query: {follow: [~, "0", "false"]} # first value must be one of these; ~ is absent
//       clients:                  # absent: any client; else any of these selectors
//         - {uid: 1000}
//         - {transport: tcp, cidr: 172.18.0.0/16}
//       limits: {requests_per_second: 5, burst: 10, concurrent: 4, streams: 2}  # per client
//       action: allow             # allow or deny
//       reason: "..."             # for deny: the sentence the client sees
//
// Pure: the text is passed in, so every error is unit-tested. A mistake names the file, the
// line, the rule and the field, and says what is accepted.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "policy.hpp"

namespace socket_proxy {

class PolicyError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// `source` names the file in messages ("/etc/socket-proxy/policy.yaml"). Throws PolicyError.
[[nodiscard]] Policy parse_policy_file(std::string_view text, std::string_view source);

}  // namespace socket_proxy
