// libFuzzer target: any bytes as a policy file, and the client selectors it yields.
//
// A file either loads or throws PolicyError (one line, naming the file). Every selector that
// names a certificate must: never match a client without one (unix, or TCP from the selector's
// own network), match a TLS client whose certificate carries exactly the selector's values,
// still match when a DNS name differs only in ASCII case, and stop matching when the CN does.
// A selector that names a listener matches exactly the clients its other fields match, when they
// came through that listener, and no client of another listener.
// A container selector never matches a client whose container is unknown, and matches one in a
// container with what it asks for. The input as a fingerprint, a CN and a listener name
// exercises the normaliser and the log name. A rule's `limits:` must be within the bounds the file
// reader promises, and its bucket must admit at least one request and refuse once it is spent.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client_limits.hpp"
#include "daemon_model.hpp"
#include "policy.hpp"
#include "policy_file.hpp"

namespace {

using fuzz_model::check;
using socket_proxy::Client;
using socket_proxy::ClientSelector;
using socket_proxy::PeerCertificate;

bool is_lowercase_hex(std::string_view text) {
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string swap_ascii_case(std::string text) {
    for (char& c : text) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 32);
        } else if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c + 32);
        }
    }
    return text;
}

// A TCP client from inside the selector's network, if it has one, through its listener.
Client tcp_client_for(const ClientSelector& selector) {
    Client client;
    client.transport = Client::Transport::tcp;
    client.listener = selector.listener.value_or(client.listener);
    client.ip =
        selector.network ? selector.network->base : *socket_proxy::IpAddress::parse("192.0.2.1");
    return client;
}

void check_certificate_selector(const ClientSelector& selector) {
    check(!selector.uid && !selector.gid);
    check(selector.transport != Client::Transport::unix_socket);
    check(!selector.cert_cn || !selector.cert_cn->empty());
    check(!selector.cert_san || !selector.cert_san->empty());
    if (selector.cert_sha256) {
        check(selector.cert_sha256->size() == 64 && is_lowercase_hex(*selector.cert_sha256));
    }

    Client unix_client;
    unix_client.uid = 0;
    unix_client.gid = 0;
    check(!selector.matches(unix_client));
    Client client = tcp_client_for(selector);
    check(!selector.matches(client));

    PeerCertificate& certificate = client.certificate.emplace();
    certificate.common_name = selector.cert_cn.value_or("");
    certificate.sha256 = selector.cert_sha256.value_or(std::string(64, '0'));
    const bool uri = selector.cert_san && selector.cert_san->find(':') != std::string::npos;
    if (selector.cert_san) {
        (uri ? certificate.uris : certificate.dns_names).push_back(*selector.cert_san);
    }
    check(selector.matches(client));

    if (selector.cert_san && !uri) {
        certificate.dns_names = {swap_ascii_case(*selector.cert_san)};
        check(selector.matches(client));
    }
    if (selector.cert_cn && swap_ascii_case(*selector.cert_cn) != *selector.cert_cn) {
        certificate.common_name = swap_ascii_case(*selector.cert_cn);
        check(!selector.matches(client));
    }
}

// A container selector selects no client whose container is unknown, and every client in a
// container that carries what it asks for.
void check_container_selector(const ClientSelector& selector) {
    Client client = tcp_client_for(selector);
    if (selector.uid || selector.gid || selector.transport == Client::Transport::unix_socket) {
        client = Client{};
        client.uid = selector.uid.value_or(0);
        client.gid = selector.gid.value_or(0);
    }
    if (selector.by_certificate()) {
        PeerCertificate& certificate = client.certificate.emplace();
        certificate.common_name = selector.cert_cn.value_or("");
        certificate.sha256 = selector.cert_sha256.value_or(std::string(64, '0'));
        if (selector.cert_san) {
            (selector.cert_san->find(':') != std::string::npos ? certificate.uris
                                                               : certificate.dns_names)
                .push_back(*selector.cert_san);
        }
    }
    if (selector.listener) {
        client.listener = *selector.listener;
    }
    check(!selector.matches(client));
    auto container = std::make_shared<socket_proxy::CallerContainer>();
    container->name = selector.container.value_or("someone");
    if (selector.container_label) {
        container->labels[selector.container_label->key] =
            selector.container_label->value.value_or("any");
    }
    if (selector.compose_service) {
        container->labels[std::string(socket_proxy::compose_service_label)] =
            *selector.compose_service;
    }
    if (selector.compose_project) {
        container->labels[std::string(socket_proxy::compose_project_label)] =
            *selector.compose_project;
    }
    client.container = container;
    check(selector.matches(client));
    if (selector.container) {
        check(!selector.container->empty() && !selector.container->starts_with('/'));
        auto renamed = std::make_shared<socket_proxy::CallerContainer>(*container);
        renamed->name += "x";
        client.container = renamed;
        check(!selector.matches(client));
    }
}

// A client the selector's other fields could match: unix with its uid and gid, TCP from its
// network, TLS with the names it asks for.
std::vector<Client> clients_for(const ClientSelector& selector) {
    Client unix_client;
    unix_client.uid = selector.uid.value_or(0);
    unix_client.gid = selector.gid.value_or(0);
    Client tls_client = tcp_client_for(selector);
    PeerCertificate& certificate = tls_client.certificate.emplace();
    certificate.common_name = selector.cert_cn.value_or("");
    certificate.sha256 = selector.cert_sha256.value_or(std::string(64, '0'));
    if (selector.cert_san) {
        const bool uri = selector.cert_san->find(':') != std::string::npos;
        (uri ? certificate.uris : certificate.dns_names).push_back(*selector.cert_san);
    }
    return {unix_client, tcp_client_for(selector), tls_client};
}

void check_listener_selector(const ClientSelector& selector) {
    const std::string& name = *selector.listener;
    check(socket_proxy::is_listener_name(name));
    ClientSelector others = selector;
    others.listener.reset();
    for (Client client : clients_for(selector)) {
        client.listener = name;
        check(selector.matches(client) == others.matches(client));
        for (const std::string& other : {name + "x", swap_ascii_case(name), std::string()}) {
            if (other != name) {
                client.listener = other;
                check(!selector.matches(client));
            }
        }
    }
}

void check_limits(const socket_proxy::ClientLimits& limits) {
    using socket_proxy::LimitKind;
    using socket_proxy::LimitTable;
    if (limits.requests_per_second) {
        check(*limits.requests_per_second > 0 &&
              *limits.requests_per_second <= socket_proxy::max_requests_per_second);
    }
    check(!limits.burst || (limits.requests_per_second && *limits.burst >= 1));
    for (const auto& count : {limits.concurrent, limits.streams}) {
        check(!count || (*count > 0 && *count <= socket_proxy::max_in_flight_limit));
    }
    check(!limits.streams || !limits.concurrent || *limits.streams <= *limits.concurrent);

    LimitTable table(4);
    const LimitTable::Clock::time_point now{};
    check(!table.admit("r", "c", limits, true, now).refused);
    table.release("r", "c", true);
    if (limits.requests_per_second && limits.bucket_size() <= 100) {
        socket_proxy::Admission admission;
        for (int i = 0; i <= 100 && !admission.refused; ++i) {
            admission = table.admit("r", "c", limits, false, now);
            if (!admission.refused) {
                table.release("r", "c", false);
            }
        }
        check(admission.refused == LimitKind::rate && admission.retry_after_seconds >= 1);
    }
}

void check_names(std::string_view input) {
    if (socket_proxy::is_listener_name(input)) {
        // Safe in SOCKET_PROXY_LISTEN's items, a path, a log line's client and a metric label.
        check(input.size() <= 32 && input.find_first_of(",=:/ \"\\\n") == std::string_view::npos);
    }
    const auto fingerprint = socket_proxy::normalise_sha256_fingerprint(input);
    if (fingerprint) {
        check(fingerprint->size() == 64 && is_lowercase_hex(*fingerprint));
        check(socket_proxy::normalise_sha256_fingerprint(*fingerprint) == fingerprint);
    }
    const std::string name =
        socket_proxy::describe_certificate(PeerCertificate{std::string(input), {}, {}, ""});
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        check(byte >= 0x20 && byte < 0x7f);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_names(input);

    socket_proxy::Policy policy;
    try {
        policy = socket_proxy::parse_policy_file(input, "policy.yaml");
    } catch (const socket_proxy::PolicyError& error) {
        const std::string_view message = error.what();
        check(message.starts_with("policy.yaml"));
        return 0;
    }
    for (const socket_proxy::Rule& rule : policy.rules) {
        (void)socket_proxy::describe_rule(rule);
        if (rule.limits) {
            check(rule.verdict == socket_proxy::Verdict::allow);
            check_limits(*rule.limits);
        }
        for (const ClientSelector& selector : rule.clients) {
            if (selector.by_certificate() && !selector.by_container()) {
                check_certificate_selector(selector);
            }
            if (selector.by_container()) {
                check_container_selector(selector);
            }
            if (selector.listener) {
                check_listener_selector(selector);
            }
        }
    }
    return 0;
}
