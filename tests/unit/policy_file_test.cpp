// The policy file: what it accepts, how it reads, and the errors a user gets for mistakes.
#include "policy_file.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "policy_error_of.hpp"

namespace socket_proxy {
namespace {

std::string read_example(const std::string& name) {
    std::ifstream file(std::string(SOCKET_PROXY_SOURCE_DIR) + "/examples/" + name);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

using test_support::error_of;

Decision decide_as(const Policy& policy, std::string_view method, std::string_view target,
                   const Client& client = {}) {
    return decide(Request{method, target, "docker"}, client, policy);
}

TEST(PolicyFileTest, TheShippedExampleIsTheBuiltInPolicy) {
    const std::string text = read_example("read-only.yaml");
    ASSERT_FALSE(text.empty()) << "examples/read-only.yaml not found";
    const Policy from_file = parse_policy_file(text, "read-only.yaml");
    const Policy built_in = Policy::read_only();
    ASSERT_EQ(from_file.rules.size(), built_in.rules.size());
    EXPECT_EQ(from_file.default_verdict, built_in.default_verdict);
    for (std::size_t i = 0; i < built_in.rules.size(); ++i) {
        SCOPED_TRACE(built_in.rules[i].name);
        EXPECT_EQ(describe_rule(from_file.rules[i]), describe_rule(built_in.rules[i]));
        EXPECT_EQ(from_file.rules[i].why, built_in.rules[i].why);
    }
}

Client unix_like(uid_t uid) {
    Client client;
    client.uid = uid;
    return client;
}

TEST(PolicyFileTest, ReadsEveryField) {
    const Policy policy = parse_policy_file(R"(
default: allow
rules:
  - name: logs-not-following
    methods: GET
    path: /containers/{id...}/logs
    query: {follow: [~, "0", "false"]}
    clients:
      - {uid: 1000}
      - {transport: tcp, cidr: 10.1.0.0/16}
    redact: false
    action: allow
  - name: deny-everything-else
    action: deny
    reason: nothing else
)",
                                            "p.yaml");
    ASSERT_EQ(policy.rules.size(), 2u);
    EXPECT_EQ(policy.default_verdict, Verdict::allow);
    EXPECT_EQ(describe_rule(policy.rules[0]),
              "logs-not-following: allow GET /containers/{id...}/logs query "
              "follow=(absent|0|false) no-redact clients uid=1000 or tcp+10.1.0.0/16");
    EXPECT_FALSE(
        decide(Request{"GET", "/containers/c1/logs", "docker"}, unix_like(1000), policy).redact);
    EXPECT_TRUE(decide(Request{"GET", "/containers/c1/json", "docker"}, {}, policy).redact);
    EXPECT_EQ(policy.rules[1].why, "nothing else");
    EXPECT_EQ(policy.source, "p.yaml");
}

struct DecisionRow {
    std::string_view method;
    std::string_view target;
    Client client;
    Verdict verdict;
    std::string_view rule;
};

Client unix_client(uid_t uid) {
    Client client;
    client.uid = uid;
    client.gid = uid;
    return client;
}

Client tcp_client(std::string_view address) {
    Client client;
    client.transport = Client::Transport::tcp;
    client.ip = IpAddress::parse(address);
    client.address = std::string(address);
    return client;
}

TEST(PolicyFileTest, QueryAndClientSelectorsDecide) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: logs-not-following
    methods: [GET]
    path: /containers/{id...}/logs
    query: {follow: [~, "0", "false"]}
    action: allow
  - name: dashboard-from-its-network
    methods: [GET]
    path: /containers/json
    clients: {cidr: 172.18.0.0/16}
    action: allow
  - name: operator
    clients: {uid: 1000}
    action: allow
)",
                                            "p.yaml");
    const DecisionRow rows[] = {
        {"GET", "/containers/c1/logs", {}, Verdict::allow, "logs-not-following"},
        {"GET", "/containers/c1/logs?follow=0", {}, Verdict::allow, "logs-not-following"},
        {"GET",
         "/containers/c1/logs?stdout=1&follow=false",
         {},
         Verdict::allow,
         "logs-not-following"},
        {"GET", "/containers/c1/logs?follow=1", {}, Verdict::deny, "default"},
        {"GET", "/containers/c1/logs?follow=true", {}, Verdict::deny, "default"},
        // The daemon reads the first value: the proxy too.
        {"GET", "/containers/c1/logs?follow=1&follow=0", {}, Verdict::deny, "default"},
        {"GET", "/containers/c1/logs?follow=0&follow=1", {}, Verdict::allow, "logs-not-following"},
        {"GET", "/containers/c1/logs?fol%6Cow=1", {}, Verdict::deny, "default"},
        {"GET", "/containers/c1/logs?follow=%30", {}, Verdict::allow, "logs-not-following"},
        // Where the daemon could read other values, the rule cannot be decided: deny.
        {"GET", "/containers/c1/logs?follow=0;follow=1", {}, Verdict::deny, "query"},
        {"GET", "/containers/c1/logs?follow=%zz", {}, Verdict::deny, "query"},
        {"GET", "/containers/json", tcp_client("172.18.3.4"), Verdict::allow,
         "dashboard-from-its-network"},
        {"GET", "/containers/json", tcp_client("::ffff:172.18.3.4"), Verdict::allow,
         "dashboard-from-its-network"},
        {"GET", "/containers/json", tcp_client("172.19.0.1"), Verdict::deny, "default"},
        {"GET", "/containers/json", unix_client(1000), Verdict::allow, "operator"},
        {"POST", "/containers/create", unix_client(1000), Verdict::allow, "operator"},
        {"POST", "/containers/create", unix_client(1001), Verdict::deny, "default"},
        {"POST", "/containers/create", tcp_client("127.0.0.1"), Verdict::deny, "default"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message()
                     << row.method << " " << row.target << " " << row.client.address << " uid "
                     << row.client.uid.value_or(99999));
        const Decision decision = decide_as(policy, row.method, row.target, row.client);
        EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
        EXPECT_EQ(decision.rule, row.rule) << decision.message;
    }
}

TEST(PolicyFileTest, FormEncodedBodiesMakeQueryRulesUndecidable) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: pull-only-alpine
    methods: POST
    path: /images/create
    query: {fromImage: alpine}
    action: allow
)",
                                            "p.yaml");
    Request request{"POST", "/images/create?fromImage=alpine", "docker"};
    EXPECT_TRUE(decide(request, {}, policy).allowed());
    request.form_body = true;  // Go's ParseForm would let the body's fromImage win
    const Decision decision = decide(request, {}, policy);
    EXPECT_FALSE(decision.allowed());
    EXPECT_EQ(decision.rule, "query");
}

Client tls_client(PeerCertificate certificate, std::string_view address) {
    Client client = tcp_client(address);
    client.certificate = std::move(certificate);
    return client;
}

TEST(PolicyFileTest, CertificateSelectorsDecide) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: traefik-reads
    methods: [GET, HEAD]
    clients: {cert_cn: traefik}
    action: allow
  - name: ci-builds
    clients:
      - {cert_san: "spiffe://example.org/ci", cidr: 10.8.0.0/16}
      - {cert_sha256: "3A:7B:D3:E2:36:0A:3D:29:EE:A4:36:FC:FB:7E:44:C7:35:D1:17:C4:2D:1C:18:35:42:0B:6B:99:42:DD:4F:1B"}
    action: allow
  - name: monitor
    methods: GET
    path: /_ping
    clients: {transport: tcp, cert_san: Monitor.Example.com}
    action: allow
)",
                                            "p.yaml");
    const std::string fingerprint =
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
    EXPECT_EQ(policy.rules[0].clients.at(0).cert_cn, "traefik");
    EXPECT_EQ(policy.rules[1].clients.at(1).cert_sha256, fingerprint);
    EXPECT_EQ(describe_rule(policy.rules[0]),
              "traefik-reads: allow GET,HEAD any path clients cert_cn=traefik");
    EXPECT_EQ(describe_rule(policy.rules[1]),
              "ci-builds: allow any method any path clients 10.8.0.0/16+cert_san=spiffe://"
              "example.org/ci or cert_sha256=" +
                  fingerprint);
    EXPECT_EQ(describe_rule(policy.rules[2]),
              "monitor: allow GET /_ping clients tcp+cert_san=Monitor.Example.com");

    const PeerCertificate traefik{"traefik", {}, {}, std::string(64, '0')};
    const PeerCertificate ci{"ci", {}, {"spiffe://example.org/ci"}, std::string(64, '1')};
    const PeerCertificate pinned{"anyone", {}, {}, fingerprint};
    const PeerCertificate monitor{"", {"monitor.example.com"}, {}, std::string(64, '2')};
    const DecisionRow rows[] = {
        {"GET", "/containers/json", tls_client(traefik, "10.0.0.1"), Verdict::allow,
         "traefik-reads"},
        {"POST", "/containers/create", tls_client(traefik, "10.0.0.1"), Verdict::deny, "default"},
        {"GET", "/containers/json", tls_client({"Traefik", {}, {}, ""}, "10.0.0.1"), Verdict::deny,
         "default"},
        // Without a certificate, no name is enough: not the address, not the uid.
        {"GET", "/containers/json", tcp_client("10.0.0.1"), Verdict::deny, "default"},
        {"GET", "/containers/json", unix_client(0), Verdict::deny, "default"},
        {"POST", "/containers/create", tls_client(ci, "10.8.1.2"), Verdict::allow, "ci-builds"},
        {"POST", "/containers/create", tls_client(ci, "10.9.1.2"), Verdict::deny, "default"},
        {"POST", "/containers/create", tcp_client("10.8.1.2"), Verdict::deny, "default"},
        {"POST", "/containers/create", tls_client(pinned, "192.0.2.1"), Verdict::allow,
         "ci-builds"},
        {"GET", "/_ping", tls_client(monitor, "192.0.2.1"), Verdict::allow, "monitor"},
        {"GET", "/_ping", tcp_client("192.0.2.1"), Verdict::deny, "default"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message()
                     << row.method << " " << row.target << " " << row.client.address << " "
                     << (row.client.certificate ? describe_certificate(*row.client.certificate)
                                                : "no certificate"));
        const Decision decision = decide_as(policy, row.method, row.target, row.client);
        EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
        EXPECT_EQ(decision.rule, row.rule) << decision.message;
    }
}

Client in_container(Client client, std::string name,
                    std::map<std::string, std::string, std::less<>> labels = {}) {
    auto container = std::make_shared<CallerContainer>();
    container->id = std::string(64, 'a');
    container->name = std::move(name);
    container->labels = std::move(labels);
    client.container = std::move(container);
    return client;
}

TEST(PolicyFileTest, ContainerSelectorsDecide) {
    const Policy policy = parse_policy_file(R"(
rules:
  - name: homepage
    methods: GET
    clients: {container: /homepage}
    action: allow
  - name: traefik
    methods: GET
    clients:
      - {container_label: traefik.role=edge, transport: tcp}
      - {container_label: traefik.any}
    action: allow
  - name: shop-web
    clients: {compose_service: web, compose_project: shop}
    action: allow
)",
                                            "p.yaml");
    EXPECT_EQ(describe_rule(policy.rules[0]),
              "homepage: allow GET any path clients container=homepage");
    EXPECT_EQ(describe_rule(policy.rules[1]),
              "traefik: allow GET any path clients tcp+container_label=traefik.role=edge or "
              "container_label=traefik.any");
    EXPECT_EQ(describe_rule(policy.rules[2]),
              "shop-web: allow any method any path clients compose_project=shop+"
              "compose_service=web");
    EXPECT_TRUE(policy.selects_containers());
    EXPECT_FALSE(Policy::read_only().selects_containers());

    const Client edge_tcp =
        in_container(tcp_client("172.18.0.5"), "proxy", {{"traefik.role", "edge"}});
    const Client edge_unix = in_container(unix_client(0), "proxy", {{"traefik.role", "edge"}});
    const DecisionRow rows[] = {
        {"GET", "/containers/json", in_container(unix_client(0), "homepage"), Verdict::allow,
         "homepage"},
        {"GET", "/containers/json", in_container(tcp_client("10.0.0.1"), "homepage"),
         Verdict::allow, "homepage"},
        {"POST", "/containers/x/stop", in_container(unix_client(0), "homepage"), Verdict::deny,
         "default"},
        // Names compare exactly: no prefixes, no case folding, no ids.
        {"GET", "/containers/json", in_container(unix_client(0), "homepage2"), Verdict::deny,
         "default"},
        {"GET", "/containers/json", in_container(unix_client(0), "Homepage"), Verdict::deny,
         "default"},
        // An unknown container matches nothing, whatever else the client is.
        {"GET", "/containers/json", unix_client(0), Verdict::deny, "default"},
        {"GET", "/containers/json", edge_tcp, Verdict::allow, "traefik"},
        {"GET", "/containers/json", edge_unix, Verdict::deny, "default"},
        {"GET", "/containers/json",
         in_container(unix_client(0), "x", {{"traefik.role", "edge2"}, {"traefik.any", ""}}),
         Verdict::allow, "traefik"},
        {"GET", "/containers/json",
         in_container(tcp_client("10.0.0.1"), "x", {{"traefik.role", "Edge"}}), Verdict::deny,
         "default"},
        {"POST", "/containers/create",
         in_container(
             unix_client(0), "shop-web-1",
             {{"com.docker.compose.service", "web"}, {"com.docker.compose.project", "shop"}}),
         Verdict::allow, "shop-web"},
        {"POST", "/containers/create",
         in_container(
             unix_client(0), "other-web-1",
             {{"com.docker.compose.service", "web"}, {"com.docker.compose.project", "other"}}),
         Verdict::deny, "default"},
        {"POST", "/containers/create",
         in_container(
             unix_client(0), "shop-db-1",
             {{"com.docker.compose.service", "db"}, {"com.docker.compose.project", "shop"}}),
         Verdict::deny, "default"},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message()
                     << row.method << " " << row.target << " "
                     << (row.client.container ? row.client.container->name : "no container"));
        const Decision decision = decide_as(policy, row.method, row.target, row.client);
        EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
        EXPECT_EQ(decision.rule, row.rule) << decision.message;
    }
}

TEST(PolicyFileTest, OwnerRulesStampCreatesAndNarrowTheRest) {
    const Policy policy = parse_policy_file(R"(
rules:
  - {name: runners, methods: [GET, POST, DELETE], owner: ci.owner, action: allow}
)",
                                            "p.yaml");
    EXPECT_EQ(describe_rule(policy.rules[0]),
              "runners: allow GET,POST,DELETE any path owner ci.owner");
    const Client runner = unix_client(1000);
    const Decision create = decide_as(policy, "POST", "/v1.41/containers/create", runner);
    ASSERT_TRUE(create.allowed()) << create.message;
    ASSERT_TRUE(create.owner);
    EXPECT_EQ(create.owner->text(), "ci.owner=unix:uid=1000");
    EXPECT_TRUE(creates_object(create.write));
    EXPECT_FALSE(create.scope);
    const Decision list = decide_as(policy, "GET", "/containers/json", runner);
    ASSERT_TRUE(list.allowed() && list.scope);
    ASSERT_EQ(list.container_labels.size(), 1U);
    EXPECT_EQ(list.container_labels[0].text(), "ci.owner=unix:uid=1000");
    EXPECT_FALSE(creates_object(list.write));
    EXPECT_TRUE(decide_as(policy, "DELETE", "/containers/abc", runner).scope);
    EXPECT_FALSE(decide_as(policy, "GET", "/images/json", runner).allowed());
    for (const std::string_view target : {"/v1.41/volumes/create", "/v1.12/networks/create"}) {
        const Decision decision = decide_as(policy, "POST", target, runner);
        ASSERT_TRUE(decision.allowed()) << decision.message;
        EXPECT_TRUE(creates_object(decision.write)) << target;
        EXPECT_TRUE(write_body_is_checked(decision.write));
        EXPECT_EQ(decision.owner->text(), "ci.owner=unix:uid=1000");
    }
    const Decision connect = decide_as(policy, "POST", "/v1.41/networks/ci/connect", runner);
    ASSERT_TRUE(connect.allowed() && connect.scope);
    EXPECT_EQ(connect.write, WriteKind::network_attach);
    EXPECT_EQ(connect.scope->kind, ScopedRouteKind::network);
    // A prune gets the owner's label in its filters; a form body would override them.
    const Decision prune = decide_as(policy, "POST", "/v1.41/volumes/prune?filters=%7B%7D", runner);
    ASSERT_TRUE(prune.allowed()) << prune.message;
    EXPECT_EQ(prune.target->forward_target,
              "/v1.41/volumes/prune?filters=%7B%22label%22%3A%7B%22ci.owner%3Dunix%3Auid%"
              "3D1000%22%3Atrue%7D%7D");
    Request form{"POST", "/v1.41/volumes/prune", "docker"};
    form.form_body = true;
    EXPECT_FALSE(decide(form, runner, policy).allowed());
    EXPECT_FALSE(decide_as(policy, "POST", "/v1.41/containers/prune?filters=x", runner).allowed());
    // Podman's own routes are not narrowed: refused, never let through.
    for (const auto& [method, libpod] : {std::pair{"POST", "/v4.0.0/libpod/volumes/create"},
                                         std::pair{"GET", "/v4.0.0/libpod/volumes/json"},
                                         std::pair{"POST", "/v4.0.0/libpod/networks/create"},
                                         std::pair{"POST", "/v4.0.0/libpod/containers/create"},
                                         std::pair{"POST", "/v4.0.0/libpod/volumes/prune"},
                                         std::pair{"DELETE", "/v4.0.0/libpod/networks/ci"}}) {
        EXPECT_FALSE(decide_as(policy, method, libpod, runner).allowed()) << libpod;
    }

    // The identity: certificate, then container, then unix user, then address.
    Client tls = tls_client({"ci-1", {}, {}, std::string(64, 'a')}, "10.0.0.1");
    EXPECT_EQ(owner_identity(tls), "tls:cn=ci-1");
    EXPECT_EQ(owner_identity(in_container(tcp_client("10.0.0.2"), "runner")), "container:runner");
    EXPECT_EQ(owner_identity(runner), "unix:uid=1000");
    Client plain = tcp_client("10.0.0.3");
    plain.address = "10.0.0.3:51234";
    EXPECT_EQ(owner_identity(plain), "tcp:10.0.0.3");
    plain.address = "[fd00:0::3]:51234";
    plain.ip = IpAddress::parse("fd00:0::3");
    EXPECT_EQ(owner_identity(plain), "tcp:fd00::3");
}

TEST(PolicyFileTest, CertificateSelectorsTakeEveryFingerprintForm) {
    const std::string fingerprint =
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
    const std::string forms[] = {
        fingerprint,
        "3A7BD3E2360A3D29EEA436FCFB7E44C735D117C42D1C1835420B6B9942DD4F1B",
        "3A:7B:D3:E2:36:0A:3D:29:EE:A4:36:FC:FB:7E:44:C7:35:D1:17:C4:2D:1C:18:35:42:0B:6B:99:42:"
        "DD:4F:1B",
        "3a:7b:d3:e2:36:0a:3d:29:ee:a4:36:fc:fb:7e:44:c7:35:d1:17:c4:2d:1c:18:35:42:0b:6b:99:42:"
        "dd:4f:1b",
    };
    for (const std::string& form : forms) {
        SCOPED_TRACE(form);
        const Policy policy = parse_policy_file(
            "rules:\n  - {name: a, clients: {cert_sha256: \"" + form + "\"}, action: allow}\n",
            "p.yaml");
        EXPECT_EQ(policy.rules.at(0).clients.at(0).cert_sha256, fingerprint);
    }
}

struct ErrorRow {
    std::string_view text;
    std::vector<std::string_view> mentions;
};

TEST(PolicyFileTest, MistakesNameTheLineRuleFieldAndFix) {
    const ErrorRow rows[] = {
        {"rules: [", {"policy.yaml line", "not valid YAML"}},
        {"- a\n- b\n", {"a mapping with \"rules\""}},
        {"rule:\n  - name: x\n", {"line 1", "\"rule\" is not a policy field"}},
        {"rules: []\n", {"non-empty list"}},
        {"default: maybe\nrules:\n  - {name: a, action: allow}\n", {"line 1", "allow or deny"}},
        {"rules:\n  - {action: allow}\n", {"line 2", "rule 1", "\"name\"", "missing"}},
        {"rules:\n  - {name: \"a b\", action: allow}\n", {"\"a b\" is not a name"}},
        {"rules:\n  - {name: a, action: permit}\n", {"rule 1 (a)", "\"action\"", "\"permit\""}},
        {"rules:\n  - {name: a}\n", {"\"action\"", "missing"}},
        {"rules:\n  - {name: a, action: allow}\n  - {name: a, action: deny}\n",
         {"line 3", "rule 2 (a)", "another rule has that name"}},
        {"rules:\n  - {name: a, methods: [get], action: allow}\n",
         {"rule 1 (a)", "\"methods\"", "\"get\"", "capitals"}},
        {"rules:\n  - {name: a, methods: [], action: allow}\n", {"empty list"}},
        {"rules:\n  - {name: a, path: containers/json, action: allow}\n",
         {"\"path\"", "must start with '/'"}},
        {"rules:\n  - {name: a, path: /containers/*/json, action: allow}\n", {"\"path\"", "'*'"}},
        {"rules:\n  - {name: a, query: follow, action: allow}\n", {"\"query\"", "must map"}},
        {"rules:\n  - {name: a, query: {follow: []}, action: allow}\n", {"lists no value"}},
        {"rules:\n  - {name: a, clients: {cidr: 10.0.0.1/8}, action: allow}\n",
         {"\"clients.cidr\"", "10.0.0.1/8", "host bits"}},
        {"rules:\n  - {name: a, clients: {uid: root}, action: allow}\n",
         {"\"clients.uid\"", "numeric id"}},
        {"rules:\n  - {name: a, clients: {uid: 1000, cidr: 10.0.0.0/8}, action: allow}\n",
         {"cannot ask for both"}},
        {"rules:\n  - {name: a, clients: {transport: udp}, action: allow}\n",
         {"neither unix nor tcp"}},
        {"rules:\n  - {name: a, clients: {port: 1}, action: allow}\n",
         {"\"clients.port\"", "selector field"}},
        {"rules:\n  - {name: a, clients: {cert_sha256: abc}, action: allow}\n",
         {"line 2", "\"clients.cert_sha256\"", "\"abc\"", "64 hex digits", "colon"}},
        {"rules:\n  - {name: a, clients: {cert_sha256: \"SHA256 Fingerprint=3A:7B\"}, action: "
         "allow}\n",
         {"\"clients.cert_sha256\"", "after the '='"}},
        {"rules:\n  - {name: a, clients: {cert_sha256: [ab]}, action: allow}\n",
         {"\"clients.cert_sha256\"", "single value"}},
        {"rules:\n  - {name: a, clients: {cert_cn: \"\"}, action: allow}\n",
         {"\"clients.cert_cn\"", "is empty"}},
        {"rules:\n  - {name: a, clients: {cert_san: \"\"}, action: allow}\n",
         {"\"clients.cert_san\"", "is empty"}},
        {"rules:\n  - {name: a, clients: {cert_cn: ~}, action: allow}\n",
         {"\"clients.cert_cn\"", "single value"}},
        {"rules:\n  - {name: a, clients: {cert_cn: ci, uid: 0}, action: allow}\n",
         {"rule 1 (a)", "\"clients\"", "TLS clients", "uid, gid or transport: unix"}},
        {"rules:\n  - {name: a, clients: {cert_san: ci.example.com, transport: unix}, action: "
         "allow}\n",
         {"\"clients\"", "TLS clients"}},
        {"rules:\n  - {name: a, clients: {cert_cn: ci, gid: 0}, action: allow}\n",
         {"\"clients\"", "TLS clients"}},
        {"rules:\n  - {name: a, clients: {container: \"\"}, action: allow}\n",
         {"\"clients.container\"", "not a container name"}},
        {"rules:\n  - {name: a, clients: {container: \"web 1\"}, action: allow}\n",
         {"\"clients.container\"", "\"web 1\"", "letters, digits"}},
        {"rules:\n  - {name: a, clients: {container: -web}, action: allow}\n",
         {"\"clients.container\"", "starting with a letter or digit"}},
        {"rules:\n  - {name: a, clients: {container_label: \"=x\"}, action: allow}\n",
         {"\"clients.container_label\""}},
        {"rules:\n  - {name: a, clients: {compose_service: \"\"}, action: allow}\n",
         {"\"clients.compose_service\"", "is empty"}},
        {"rules:\n  - {name: a, owner: ci.owner, action: deny}\n", {"\"owner\"", "deny rule"}},
        {"rules:\n  - {name: a, owner: ci.owner=me, action: allow}\n",
         {"\"owner\"", "only the label's key"}},
        {"rules:\n  - {name: a, owner: \"\", action: allow}\n", {"\"owner\"", "names no label"}},
        {"rules:\n  - {name: a, clients: {cert_common_name: ci}, action: allow}\n",
         {"\"clients.cert_common_name\"", "cert_cn, cert_san, cert_sha256"}},
        // YAML keys that are no names: refused, not thrown past PolicyError.
        {"? [a]\n: 1\nrules:\n  - {name: a, action: allow}\n", {"line 1", "a key must be a name"}},
        {"rules:\n  - {name: a, clients: [? {x: 1}], action: allow}\n",
         {"line 2", "a key must be a name"}},
        {"rules:\n  - {name: a, query: {~: x}, action: allow}\n", {"line 2", "not a list"}},
        {"rules:\n  - {name: a, body: {[x]: 1}, action: allow}\n", {"a key must be a name"}},
        {"rules:\n  - {name: a, ? {b: c}, action: allow}\n", {"a key must be a name"}},
        {"rules:\n  - {name: a, redact: maybe, action: allow}\n", {"\"redact\"", "true nor false"}},
        {"redact: sometimes\nrules:\n  - {name: a, action: allow}\n", {"line 1", "redact must be"}},
        {"rules:\n  - {name: a, methdos: [GET], action: allow}\n",
         {"rule 1 (a)", "\"methdos\"", "is not a rule field"}},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.text);
        const std::string message = error_of(row.text);
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
        for (const auto mention : row.mentions) {
            EXPECT_NE(message.find(mention), std::string::npos)
                << message << "\nmissing: " << mention;
        }
    }
}

}  // namespace
}  // namespace socket_proxy
