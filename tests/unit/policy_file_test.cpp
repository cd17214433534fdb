// The policy file: what it accepts, how it reads, and the errors a user gets for mistakes.
#include "policy_file.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace socket_proxy {
namespace {

std::string read_example(const std::string& name) {
    std::ifstream file(std::string(SOCKET_PROXY_SOURCE_DIR) + "/examples/" + name);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string error_of(std::string_view text) {
    try {
        (void)parse_policy_file(text, "policy.yaml");
    } catch (const PolicyError& error) {
        return error.what();
    }
    return "(no PolicyError)";
}

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
