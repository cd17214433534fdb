// The policy core: which requests reach the daemon. Pure: no I/O, no clocks, no globals.
//
// A policy is an ordered list of rules, first match wins, with a default verdict when no
// rule matches. The built-in read-only policy is such a list; configurable policies
// (a file, environment switches, per-client selectors) will build the same structure.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.hpp"
#include "caller_container.hpp"
#include "client_limits.hpp"
#include "label_scope.hpp"
#include "route.hpp"
#include "target.hpp"
#include "write_body.hpp"

namespace socket_proxy {

// Who is asking. Unix clients carry SO_PEERCRED, TCP clients their source address.
// A TLS client's verified certificate, as the handshake checked it against SOCKET_PROXY_TLS_CA.
struct PeerCertificate {
    std::string common_name;             // the subject's CN; empty when it has none
    std::vector<std::string> dns_names;  // subjectAltName DNS entries
    std::vector<std::string> uris;       // subjectAltName URIs (SPIFFE IDs are URIs)
    std::string sha256;                  // of the DER certificate, lowercase hex, no colons
};

// The names of the listeners the proxy always has: its unix socket in SOCKET_PROXY_VOLUME, and
// the SOCKET_PROXY_TCP port. A named listener may not take them.
inline constexpr std::string_view default_unix_listener = "default";
inline constexpr std::string_view default_tcp_listener = "tcp";

struct Client {
    enum class Transport { unix_socket, tcp };
    Transport transport = Transport::unix_socket;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::optional<pid_t> pid;
    std::string address;          // "127.0.0.1:53122", "[::1]:4000"; empty for unix clients
    std::optional<IpAddress> ip;  // TCP clients
    // TCP clients of a TLS listener that sent a certificate the CA verified.
    std::optional<PeerCertificate> certificate;
    // The container the client runs in, as the engine described it when the connection asked
    // its first question a container selector needed (caller_container.hpp); null: unknown,
    // or not looked up.
    std::shared_ptr<const CallerContainer> container;
    // Unix clients: the container id the peer process's cgroup named at accept, the evidence
    // `container` is looked up from; read only while a rule selects by container.
    std::optional<std::string> process_container;
    // The listener it connected to: a SOCKET_PROXY_LISTEN name, or one of the default ones.
    std::string listener = std::string(default_unix_listener);

    // A SOCKET_PROXY_LISTEN one, which names the client where the default ones say nothing
    // the transport does not.
    [[nodiscard]] bool came_through_named_listener() const {
        return listener != default_unix_listener && listener != default_tcp_listener;
    }
};

// A listener's name, as SOCKET_PROXY_LISTEN and `clients: [{listener: NAME}]` write it:
// 1 to 32 of a-z, 0-9, '_' and '-', so it is safe in a log line, a path and a metric label.
[[nodiscard]] bool is_listener_name(std::string_view name);

// A SHA-256 fingerprint as users copy it: 64 hex digits in either case, bare or in pairs joined
// by colons (`openssl x509 -noout -fingerprint -sha256`). Lowercase hex without colons, the
// form PeerCertificate::sha256 holds; nullopt for anything else.
[[nodiscard]] std::optional<std::string> normalise_sha256_fingerprint(std::string_view text);

// A TLS client as the request log names it: `tls:cn=NAME`, or `tls:sha256=` and the whole
// fingerprint (what a cert_sha256 selector takes) when the certificate has no CN.
// Bytes outside printable ASCII in the CN are written as \xHH, so a CA-issued name cannot
// forge a log line or a label.
[[nodiscard]] std::string describe_certificate(const PeerCertificate& certificate);

// The request as parsed from the client's head; views into the parser's storage.
struct Request {
    std::string_view method;  // case-sensitive, as the daemon treats it
    std::string_view target;  // raw request-target from the request line
    std::string_view host;    // Host header, empty when absent
    // Go's ParseForm reads a form-encoded body into the same values as the query, the body
    // winning: a rule on query values cannot hold for such a request.
    bool form_body = false;
};

enum class Verdict { allow, deny };

// A query parameter a rule looks at. The daemon reads the first value of a parameter (Go's
// Form.Get), so that is the one compared; it must be one of `values`, where nullopt stands for
// "absent". Example: follow in {nullopt, "0", "false"} is "not following".
struct QueryCondition {
    std::string name;
    std::vector<std::optional<std::string>> values;
};

// Who a rule is for. Every field that is set must match; a rule with several selectors
// applies to a client matching any of them.
struct ClientSelector {
    std::optional<Client::Transport> transport;
    std::optional<uid_t> uid;          // unix clients, from SO_PEERCRED
    std::optional<gid_t> gid;          // unix clients, from SO_PEERCRED
    std::optional<IpNetwork> network;  // TCP clients, by source address
    // TLS clients, by their verified certificate; a client without one never matches. No
    // wildcards: a value is compared as it is written.
    std::optional<std::string> cert_cn;      // the subject's CN, exactly (case-sensitive)
    std::optional<std::string> cert_san;     // a DNS SAN (ASCII case-insensitive) or, with a
                                             // ':', a URI SAN (exactly; SPIFFE IDs)
    std::optional<std::string> cert_sha256;  // normalised as PeerCertificate::sha256
    // Clients in a container the engine runs; a client whose container is unknown never
    // matches. The name exactly (no leading '/'); labels as the engine reports them.
    std::optional<std::string> container;
    std::optional<LabelSelector> container_label;
    std::optional<std::string> compose_service;  // label com.docker.compose.service
    std::optional<std::string> compose_project;  // label com.docker.compose.project
    // Clients of one listener, by its name: who could reach its socket is who the rule is for.
    std::optional<std::string> listener;

    [[nodiscard]] bool by_certificate() const { return cert_cn || cert_san || cert_sha256; }
    [[nodiscard]] bool by_container() const {
        return container || container_label || compose_service || compose_project;
    }

    [[nodiscard]] bool matches(const Client& client) const;
};

struct Rule {
    std::string name;                     // stable identifier, logged with every decision
    std::vector<std::string> methods;     // empty: any method
    std::optional<PathPattern> path;      // empty: any path
    std::vector<QueryCondition> query;    // all must hold
    std::vector<ClientSelector> clients;  // empty: any client
    Verdict verdict = Verdict::deny;
    std::string why;             // for denials: why this is refused, shown to the client
    std::optional<bool> redact;  // rewrite secrets in the answers it allows; unset: the policy's
    // Allow rules only: the client sees only containers carrying all these labels
    // (label_scope.hpp); routes the proxy cannot narrow to them are refused.
    std::vector<LabelSelector> container_labels;
    // Allow rules only: what a write's body may ask for (write_body.hpp); unset: the safe
    // defaults. Applies to the routes write_kind() names, whatever the rule's path says.
    std::optional<WriteLimits> body{};
    // Allow rules only: owner isolation. Containers, volumes and networks the rule's clients
    // create carry this label with the client's owner_identity(), and the rest of the rule shows
    // each client only those carrying its own (as container_labels would for containers).
    std::optional<std::string> owner{};
    // Allow rules only: each client the rule matches gets these (client_limits.hpp).
    std::optional<ClientLimits> limits{};
};

struct Policy {
    std::vector<Rule> rules;
    Verdict default_verdict = Verdict::deny;

    // GET and HEAD only, minus the reads that leak files or secrets.
    [[nodiscard]] static Policy read_only();

    std::string source = "built-in read-only";  // where it came from, for logs and `check`
    bool redact = true;  // redact.hpp: on unless the policy or SOCKET_PROXY_REDACT turns it off

    // Whether a rule selects clients by their container: only then does a connection cost the
    // engine a question about who is calling.
    [[nodiscard]] bool selects_containers() const;
};

struct Decision {
    Verdict verdict = Verdict::deny;
    int status = 403;     // HTTP status for a denial: 403 by policy, 400 for a malformed target
    std::string rule;     // name of the rule that decided, "default" or "target" (normalisation)
    std::string message;  // for denials: the sentence the client sees in {"message": ...}
    std::optional<Target> target;  // the normalised target when it could be normalised
    bool redact = true;            // for allowed requests: rewrite secrets in the answer
    // For requests allowed by a label-scoped rule: the labels, and how the answer is narrowed.
    std::vector<LabelSelector> container_labels;
    std::optional<ScopedRoute> scope;
    // Under an owner rule: the owner's label and this client's value. A create (creates_object())
    // carries it when it is forwarded, whatever the client wrote there; what a body names must
    // carry it (owned_references()).
    std::optional<LabelSelector> owner;
    // For allowed writes whose body says what will run: the body must pass these limits
    // before it is forwarded (write_body.hpp).
    WriteKind write = WriteKind::none;
    WriteLimits write_limits;
    // For requests allowed by a rule with `limits:`: what each client of the rule may use.
    std::optional<ClientLimits> limits;

    [[nodiscard]] bool allowed() const { return verdict == Verdict::allow; }
};

[[nodiscard]] Decision decide(const Request& request, const Client& client, const Policy& policy);

// Who owns what a client creates under an owner rule, from the strongest identity it has: its
// certificate (`tls:cn=NAME`), its container (`container:NAME`), the named listener it came
// through (`listener:NAME`), its unix user (`unix:uid=N`), or its address (`tcp:IP`).
[[nodiscard]] std::string owner_identity(const Client& client);

// One rule as a line of text, the way `socket-proxy check` lists it:
// `allow-logs: allow GET,HEAD /containers/{id...}/logs query follow=(absent|0) clients uid=1000`.
[[nodiscard]] std::string describe_rule(const Rule& rule);

}  // namespace socket_proxy
