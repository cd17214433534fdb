// Policy tables: pattern syntax, pattern matching, the read-only policy, messages, rule order.
#include "policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <utility>

#include "read_routes.hpp"
#include "redact.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace socket_proxy {
namespace {

TEST(PathPatternParse, SplitsSegments) {
    struct Row {
        std::string_view pattern;
        std::vector<std::string> segments;
    };
    const Row table[] = {
        {"/", {""}},
        {"/images/get", {"images", "get"}},
        {"/containers/{id...}/export", {"containers", "{id...}", "export"}},
        {"/secrets/**", {"secrets", "**"}},
        {"/networks/", {"networks", ""}},
        {"/**", {"**"}},
    };
    for (const Row& row : table) {
        SCOPED_TRACE(row.pattern);
        const PathPattern pattern = PathPattern::parse(row.pattern);
        EXPECT_EQ(pattern.source, row.pattern);
        EXPECT_EQ(pattern.segments, row.segments);
    }
}

// A pattern that can never match would silently disable a deny rule: refuse it at start-up.
TEST(PathPatternParse, RejectsPatternsThatCouldNeverMatch) {
    const std::string_view table[] = {
        "",
        "secrets",
        "*",
        "//secrets",
        "/containers//export",
        "/containers/./export",
        "/containers/../export",
        "/secrets/**/x",
        "/**/secrets",
        "/secrets*",
        "/secrets/*",
        "/secrets/***",
        "/containers/{}/export",
        "/containers/{...}/export",
        "/containers/{id/export",
        "/containers/id}/export",
        "/containers/x{id}/export",
        "/containers/{i d}/export",
        "/containers/{id..}/export",
    };
    for (const std::string_view pattern : table) {
        SCOPED_TRACE(pattern);
        EXPECT_THROW((void)PathPattern::parse(pattern), std::invalid_argument);
    }
}

TEST(PathPatternParse, ErrorNamesThePattern) {
    try {
        (void)PathPattern::parse("/secrets/**/x");
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("\"/secrets/**/x\""), std::string::npos)
            << error.what();
    }
}

TEST(PathPatternMatches, SegmentBySegment) {
    struct Row {
        std::string_view pattern;
        std::string_view path;
        bool matches;
    };
    const Row table[] = {
        {"/images/get", "/images/get", true},
        {"/images/get", "/images/get/", false},
        {"/images/get", "/images/GET", false},
        {"/images/get", "/images", false},
        {"/images/get", "/images/get/x", false},
        {"/images/get", "images/get", false},
        {"/images/get", "", false},
        {"/", "/", true},
        {"/", "/a", false},
        {"/networks/", "/networks/", true},
        {"/networks/", "/networks", false},
        // {name}: exactly one non-empty segment.
        {"/containers/{id}/json", "/containers/c1/json", true},
        {"/containers/{id}/json", "/containers/a/b/json", false},
        {"/containers/{id}/json", "/containers//json", false},
        {"/containers/{id}/json", "/containers/json", false},
        // {name...}: one or more non-empty segments; the literal ending identifies the route.
        {"/containers/{id...}/export", "/containers/c1/export", true},
        {"/containers/{id...}/export", "/containers/a/b/c/export", true},
        {"/containers/{id...}/export", "/containers/export/export", true},
        {"/containers/{id...}/export", "/containers/export", false},
        {"/containers/{id...}/export", "/containers//export", false},
        {"/containers/{id...}/export", "/containers/a//b/export", false},
        {"/containers/{id...}/export", "/containers/export/json", false},
        {"/containers/{id...}/export", "/containers/c1/export/", false},
        {"/containers/{id...}/export", "/containers/c1/exports", false},
        {"/images/{name...}/get", "/images/myorg/images/get", true},
        {"/images/{name...}/get", "/images/myorg/app:tag/get", true},
        {"/images/{name...}/get", "/images/getmeili/meilisearch/json", false},
        {"/images/{name...}/get", "/images/get", false},
        {"/{a...}/{b...}/x", "/1/2/x", true},
        {"/{a...}/{b...}/x", "/1/2/3/4/x", true},
        {"/{a...}/{b...}/x", "/1/x", false},
        // Trailing "/**": the path itself and anything below it.
        {"/secrets/**", "/secrets", true},
        {"/secrets/**", "/secrets/", true},
        {"/secrets/**", "/secrets/abc", true},
        {"/secrets/**", "/secrets/a/b/c", true},
        {"/secrets/**", "/secretsx", false},
        {"/secrets/**", "/my-secrets", false},
        {"/secrets/**", "/containers/secrets", false},
        {"/**", "/", true},
        {"/**", "/anything/at/all", true},
        {"/containers/{id...}/**", "/containers/c1", true},
        {"/containers/{id...}/**", "/containers", false},
    };
    for (const Row& row : table) {
        SCOPED_TRACE(::testing::Message() << row.pattern << " vs " << row.path);
        EXPECT_EQ(PathPattern::parse(row.pattern).matches(row.path), row.matches);
    }
}

// Short paths are matched on the stack, deep ones on the heap: both must agree at the seam.
TEST(PathPatternMatches, DeepPathsMatchLikeShallowOnes) {
    const PathPattern export_route = PathPattern::parse("/containers/{id...}/export");
    const PathPattern exact_depth = PathPattern::parse("/a/{x...}/z");
    for (std::size_t depth = 1; depth <= 80; ++depth) {
        SCOPED_TRACE(::testing::Message() << depth << " name segments");
        std::string name;
        for (std::size_t i = 0; i < depth; ++i) {
            name += (i == 0 ? "" : "/") + std::string("n") + std::to_string(i);
        }
        EXPECT_TRUE(export_route.matches("/containers/" + name + "/export"));
        EXPECT_FALSE(export_route.matches("/containers/" + name + "/exports"));
        EXPECT_FALSE(export_route.matches("/containers/" + name + "//export"));
        EXPECT_TRUE(exact_depth.matches("/a/" + name + "/z"));
        EXPECT_FALSE(exact_depth.matches("/a/" + name + "/z/"));
    }
}

struct Expectation {
    std::string_view method;
    std::string_view target;
    std::string_view host;
    Verdict verdict;
    std::string_view rule;
    int status;  // checked only for denials
};

void expect_decision(const Policy& policy, const Expectation& row) {
    SCOPED_TRACE(::testing::Message()
                 << row.method << " " << row.target << " (Host: " << row.host << ")");
    const Decision decision = decide({row.method, row.target, row.host}, Client{}, policy);
    EXPECT_EQ(decision.verdict, row.verdict) << decision.message;
    EXPECT_EQ(decision.rule, row.rule) << decision.message;
    if (row.verdict == Verdict::deny) {
        EXPECT_EQ(decision.status, row.status);
        EXPECT_FALSE(decision.message.empty());
    } else {
        EXPECT_TRUE(decision.target.has_value());
        EXPECT_TRUE(decision.message.empty()) << decision.message;
    }
}

constexpr Verdict allow = Verdict::allow;
constexpr Verdict deny = Verdict::deny;

TEST(PolicyReadOnly, AllowsOrdinaryReads) {
    const Expectation table[] = {
        {"GET", "/containers/my-configs-app/json", "", allow, "read-only", 0},
        {"GET", R"(/containers/json?filters={"label":["secrets"]})", "", allow, "read-only", 0},
        {"GET", "/containers/json?filters=%7B%22label%22%3A%5B%22secrets%22%5D%7D", "", allow,
         "read-only", 0},
        {"GET", "/images/getmeili/meilisearch/json", "", allow, "read-only", 0},
        {"GET", "/containers/export/json", "", allow, "read-only", 0},
        {"GET", "/containers/archive/json", "", allow, "read-only", 0},
        {"GET", "/images/get/json", "", allow, "read-only", 0},
        {"GET", "/images/json", "", allow, "read-only", 0},
        {"GET", "/v1.41/_ping", "", allow, "read-only", 0},
        {"HEAD", "/_ping", "", allow, "read-only", 0},
        {"GET", "/events", "", allow, "read-only", 0},
        {"GET", "/v1.41/events?since=0", "", allow, "read-only", 0},
        {"GET", "/containers/c1/logs?follow=1", "", allow, "read-only", 0},
        {"GET", "/containers/c1/stats", "", allow, "read-only", 0},
        {"GET", "/v1.41/containers/c1/attach", "", allow, "read-only", 0},
        {"GET", "/v1.41/containers/json?all=1", "docker", allow, "read-only", 0},
        {"GET", "http://docker/v1.41/containers/json", "docker", allow, "read-only", 0},
        {"GET", "/swarm", "", allow, "read-only", 0},
        {"GET", "/version", "", allow, "read-only", 0},
        // A doubly encoded slash is a literal "%2F" in a name, which the daemon 404s.
        {"GET", "/containers/c1%252Fexport", "", allow, "read-only", 0},
        // Trailing slash and case differences are 404 at the daemon, not the export route.
        {"GET", "/containers/c1/export/", "", allow, "read-only", 0},
        {"GET", "/containers/c1/EXPORT", "", allow, "read-only", 0},
        // Only one version prefix is routed; the second one makes it a 404.
        {"GET", "/v1.41/v1.41/containers/c1/export", "", allow, "read-only", 0},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

TEST(PolicyReadOnly, DeniesSensitiveReadsInEveryForm) {
    const Expectation table[] = {
        {"GET", "/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v1.41/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v1.41.0/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v01.41/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v1.41./containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v.41/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/containers/c1/%65xport", "", deny, "deny-container-export", 403},
        {"GET", "/containers/c1/expor%74", "", deny, "deny-container-export", 403},
        {"GET", "/%63ontainers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/containers/export/export", "", deny, "deny-container-export", 403},
        {"GET", "/containers/a/b/export", "", deny, "deny-container-export", 403},
        {"HEAD", "/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/containers/c1/archive?path=/etc/shadow", "", deny, "deny-container-archive", 403},
        {"HEAD", "/v1.41/containers/c1/archive?path=/", "", deny, "deny-container-archive", 403},
        {"GET", "/containers/c1/attach/ws?stream=1", "", deny, "deny-container-attach-ws", 403},
        {"GET", "/v1.41/containers/c1/attach/ws", "", deny, "deny-container-attach-ws", 403},
        {"GET", "/secrets", "", deny, "deny-secrets", 403},
        {"GET", "/secrets/", "", deny, "deny-secrets", 403},
        {"GET", "/secrets/abc123", "", deny, "deny-secrets", 403},
        {"GET", "/v1.41/secrets?filters={}", "", deny, "deny-secrets", 403},
        {"GET", "/se%63rets", "", deny, "deny-secrets", 403},
        {"GET", "/v1.41/%73ecrets/x", "", deny, "deny-secrets", 403},
        {"GET", "/configs", "", deny, "deny-configs", 403},
        {"GET", "/v1.41.0/configs/abc", "", deny, "deny-configs", 403},
        {"GET", "/swarm/unlockkey", "", deny, "deny-swarm-unlockkey", 403},
        {"GET", "/v01.41/swarm/unlockkey", "", deny, "deny-swarm-unlockkey", 403},
        {"GET", "/images/myorg/app/get", "", deny, "deny-image-export", 403},
        {"GET", "/images/myorg/images/get", "", deny, "deny-image-export", 403},
        {"GET", "/images/myorg/app:tag/get", "", deny, "deny-image-export", 403},
        {"GET", "/v1.41/images/alpine/get", "", deny, "deny-image-export", 403},
        {"GET", "/images/get", "", deny, "deny-images-export", 403},
        {"GET", "/images/get?names=alpine", "", deny, "deny-images-export", 403},
        {"GET", "/v1.41/images/get?names=alpine", "", deny, "deny-images-export", 403},
        // Absolute form naming our host is routed on its path, so the rule still applies.
        {"GET", "http://docker/v1.41/containers/c1/export", "docker", deny, "deny-container-export",
         403},
        {"GET", "HTTP://DOCKER/secrets", "docker", deny, "deny-secrets", 403},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

TEST(PolicyReadOnly, DeniesOtherMethods) {
    const Expectation table[] = {
        {"POST", "/containers/create", "", deny, "read-only-methods", 403},
        {"POST", "/v1.41/containers/c1/attach", "", deny, "read-only-methods", 403},
        {"POST", "/v1.41/exec/e1/start", "", deny, "read-only-methods", 403},
        {"POST", "/session", "", deny, "read-only-methods", 403},
        {"PUT", "/containers/c1/archive?path=/", "", deny, "read-only-methods", 403},
        {"DELETE", "/containers/c1", "", deny, "read-only-methods", 403},
        {"OPTIONS", "/_ping", "", deny, "read-only-methods", 403},
        {"PATCH", "/containers/c1", "", deny, "read-only-methods", 403},
        // Methods are case-sensitive, as the daemon treats them.
        {"get", "/containers/json", "", deny, "read-only-methods", 403},
        {"Get", "/_ping", "", deny, "read-only-methods", 403},
        {"head", "/_ping", "", deny, "read-only-methods", 403},
        {"", "/_ping", "", deny, "read-only-methods", 403},
        {"POST", "/debug/pprof/heap", "", deny, "read-only-methods", 403},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

TEST(PolicyReadOnly, DeniesTargetsItCannotNormalise) {
    const Expectation table[] = {
        {"GET", "/containers%2Fc1%2Fexport", "", deny, "target", 403},
        {"GET", "/v1.41/containers/c1%2Fexport", "", deny, "target", 403},
        {"GET", "//secrets", "", deny, "target", 403},
        {"GET", "/containers/c1/../c2/export", "", deny, "target", 403},
        {"GET", "/v1.41/containers/c1/%2e%2e/x", "", deny, "target", 403},
        {"GET", "/a%00", "", deny, "target", 403},
        {"GET", "http://evil/v1.41/containers/c1/export", "docker", deny, "target", 403},
        {"GET", "http://docker/v1.41/containers/json", "", deny, "target", 403},
        {"GET", "", "", deny, "target", 400},
        {"GET", "*", "", deny, "target", 400},
        {"OPTIONS", "*", "", deny, "target", 400},
        {"GET", "docker:2375", "", deny, "target", 400},
        {"GET", "http:/v1.41/containers/c1/export", "docker", deny, "target", 400},
        {"GET", "x:/secrets", "docker", deny, "target", 400},
        {"GET", "/a%zz", "", deny, "target", 400},
        {"GET", "/a b", "", deny, "target", 400},
        {"GET", "/caf\xC3\xA9", "", deny, "target", 400},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

TEST(PolicyReadOnly, EveryDenyRuleHasANameAndAReason) {
    const Policy policy = Policy::read_only();
    ASSERT_FALSE(policy.rules.empty());
    EXPECT_EQ(policy.default_verdict, Verdict::deny);
    for (const Rule& rule : policy.rules) {
        SCOPED_TRACE(rule.name);
        EXPECT_FALSE(rule.name.empty());
        if (rule.verdict == Verdict::deny) {
            EXPECT_FALSE(rule.why.empty());
        }
    }
}

TEST(PolicyMessage, OneLineNamingRequestReasonAndRule) {
    struct Row {
        std::string_view method;
        std::string_view target;
        std::string_view message;
    };
    const Row table[] = {
        {"GET", "/v1.41/containers/c1/export",
         "socket-proxy denied GET /v1.41/containers/c1/export: this route exports the "
         "container's whole file system as a tar archive (rule deny-container-export)"},
        {"GET", "/containers%2Fc1%2Fexport",
         "socket-proxy denied GET /containers%2Fc1%2Fexport: the path contains an encoded slash "
         "(%2F), which could hide the route it reaches (rule target)"},
        {"POST", "/containers/create",
         "socket-proxy denied POST /containers/create: the proxy is read-only: only GET and HEAD "
         "are allowed (rule read-only-methods)"},
        // Raw bytes a terminal or log would interpret are shown percent-encoded.
        {"GET", "/a\r\nb",
         "socket-proxy denied GET /a%0D%0Ab: the request target contains byte 0x0D at offset 2 "
         "(a control character, space or non-ASCII byte); percent-encode it (rule target)"},
        {"G\nET", "/_ping",
         "socket-proxy denied G%0AET /_ping: the proxy is read-only: only GET and HEAD are "
         "allowed (rule read-only-methods)"},
    };
    const Policy policy = Policy::read_only();
    for (const Row& row : table) {
        SCOPED_TRACE(row.target);
        const Decision decision = decide({row.method, row.target, ""}, Client{}, policy);
        EXPECT_EQ(decision.message, row.message);
    }
}

TEST(PolicyMessage, TruncatesLongTargets) {
    struct Row {
        std::string target;
        bool truncated;
    };
    const Row table[] = {
        {"/secrets/" + std::string(191, 'a'), false},  // exactly 200 bytes
        {"/secrets/" + std::string(192, 'a'), true},
        {"/secrets/" + std::string(100000, 'a'), true},
    };
    const Policy policy = Policy::read_only();
    for (const Row& row : table) {
        SCOPED_TRACE(row.target.size());
        const Decision decision = decide({"GET", row.target, ""}, Client{}, policy);
        ASSERT_EQ(decision.verdict, Verdict::deny);
        const std::string shown = row.target.substr(0, 200) + (row.truncated ? "..." : "");
        EXPECT_EQ(decision.message,
                  "socket-proxy denied GET " + shown +
                      ": this route reveals the swarm's secrets (rule deny-secrets)");
    }
}

// Rule order, method lists, empty fields and the default, on a hand-built policy.
TEST(PolicyEvaluation, FirstMatchingRuleWins) {
    Policy policy;
    policy.rules = {
        Rule{"deny-exec",
             {"POST"},
             PathPattern::parse("/exec/**"),
             {},
             {},
             Verdict::deny,
             "no exec",
             {},
             {}},
        Rule{"allow-post", {"POST"}, std::nullopt, {}, {}, Verdict::allow, "", {}, {}},
        Rule{"allow-ping", {}, PathPattern::parse("/_ping"), {}, {}, Verdict::allow, "", {}, {}},
        Rule{"deny-quietly", {"DELETE"}, std::nullopt, {}, {}, Verdict::deny, "", {}, {}},
    };
    policy.default_verdict = Verdict::deny;

    const Expectation table[] = {
        {"POST", "/exec/e1/start", "", deny, "deny-exec", 403},
        {"POST", "/v1.41/exec/e1/start", "", deny, "deny-exec", 403},
        {"POST", "/containers/create", "", allow, "allow-post", 0},
        {"GET", "/_ping", "", allow, "allow-ping", 0},
        {"OPTIONS", "/_ping", "", allow, "allow-ping", 0},
        {"DELETE", "/_ping", "", allow, "allow-ping", 0},
        {"DELETE", "/containers/c1", "", deny, "deny-quietly", 403},
        {"GET", "/containers/json", "", deny, "default", 403},
        {"GET", "/exec/e1/json", "", deny, "default", 403},
        {"GET", "/a%2Fb", "", deny, "target", 403},
    };
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }

    policy.default_verdict = Verdict::allow;
    expect_decision(policy, {"GET", "/containers/json", "", allow, "default", 0});
}

TEST(PolicyEvaluation, DefaultAndEmptyWhyStillExplain) {
    Policy policy;
    policy.rules = {
        Rule{"deny-quietly", {"DELETE"}, std::nullopt, {}, {}, Verdict::deny, "", {}, {}}};
    struct Row {
        std::string_view method;
        std::string_view message;
    };
    const Row table[] = {
        {"DELETE",
         "socket-proxy denied DELETE /x: the policy denies this request (rule deny-quietly)"},
        {"GET",
         "socket-proxy denied GET /x: no rule of the policy allows this request (rule default)"},
    };
    for (const Row& row : table) {
        SCOPED_TRACE(row.method);
        EXPECT_EQ(decide({row.method, "/x", ""}, Client{}, policy).message, row.message);
    }
}

TEST(PolicyEvaluation, DecisionCarriesTheNormalisedTarget) {
    const Decision decision =
        decide({"GET", "/v1.41/containers/c1/%65xport", ""}, Client{}, Policy::read_only());
    ASSERT_TRUE(decision.target.has_value());
    EXPECT_EQ(decision.target->route_path, "/containers/c1/export");
    EXPECT_EQ(decision.target->api_version, "1.41");
    EXPECT_EQ(decision.target->forward_target, "/v1.41/containers/c1/export");
}

// Podman's libpod routes, under every prefix Podman routes (measured on podman 4.3: each of these
// returns the data when Podman is asked directly).
TEST(PolicyReadOnly, DeniesLibpodReadsThatLeakFilesOrSecrets) {
    const Expectation table[] = {
        {"GET", "/v4.3.1/libpod/containers/c1/export", "", deny, "deny-libpod-container-export",
         403},
        {"GET", "/v4.0.0-rc1/libpod/containers/c1/export", "", deny, "deny-libpod-container-export",
         403},
        {"GET", "/v5.0.0-dev/libpod/containers/c1/export", "", deny, "deny-libpod-container-export",
         403},
        {"GET", "/v4x/libpod/containers/c1/export", "", deny, "deny-libpod-container-export", 403},
        {"GET", "/libpod/containers/c1/export", "", deny, "deny-libpod-container-export", 403},
        {"GET", "/v4.0.0/libpod/containers/c1/%65xport", "", deny, "deny-libpod-container-export",
         403},
        {"GET", "/v4.0.0/%6Cibpod/containers/c1/export", "", deny, "deny-libpod-container-export",
         403},
        {"GET", "http://d/v4.0.0/libpod/containers/c1/export", "d", deny,
         "deny-libpod-container-export", 403},
        {"GET", "/v4.0.0/libpod/containers/c1/archive?path=/etc", "", deny,
         "deny-libpod-container-archive", 403},
        {"HEAD", "/v4.0.0/libpod/containers/c1/archive?path=/etc", "", deny,
         "deny-libpod-container-archive", 403},
        {"GET", "/v4.0.0/libpod/containers/c1/healthcheck", "", deny,
         "deny-libpod-container-healthcheck", 403},
        {"GET", "/v4.0.0/libpod/images/export?references=busybox", "", deny,
         "deny-libpod-images-export", 403},
        {"GET", "/v4.0.0/libpod/images/myorg/app:1/get", "", deny, "deny-libpod-image-export", 403},
        {"GET", "/v5.6.0/libpod/volumes/v1/export", "", deny, "deny-libpod-volume-export", 403},
        {"GET", "/v5.6.0/libpod/artifacts/quay.io/a/b/extract", "", deny,
         "deny-libpod-artifact-extract", 403},
        {"GET", "/v5.8.0/libpod/quadlets/web.container/file", "", deny, "deny-libpod-quadlet-file",
         403},
        {"GET", "/v4.0.0/libpod/secrets/json", "", deny, "deny-libpod-secrets", 403},
        {"GET", "/v4.0.0/libpod/secrets/s1/json?showsecret=true", "", deny, "deny-libpod-secrets",
         403},
        {"GET", "/v4.0.0/libpod/generate/kube?names=c1", "", deny, "deny-libpod-generate-kube",
         403},
        {"GET", "/v4.0.0/libpod/kube/generate?names=c1", "", deny, "deny-libpod-kube-generate",
         403},
        {"GET", "/v4.0.0/libpod/generate/c1/systemd?new=true", "", deny,
         "deny-libpod-generate-systemd", 403},
        // Podman routes Docker's paths behind its own prefixes too.
        {"GET", "/v1x/containers/c1/export", "", deny, "deny-container-export", 403},
        {"GET", "/v1.41-x/images/get?names=busybox", "", deny, "deny-images-export", 403},
        {"HEAD", "/v4.0.0-rc1/containers/c1/archive?path=/", "", deny, "deny-container-archive",
         403},
        {"GET", "/v1.55/images/app/attestations?statement=1", "", deny, "deny-image-attestations",
         403},
        // A read behind a write method (API before 1.24).
        {"POST", "/v1.23/containers/c1/copy", "", deny, "deny-container-copy", 403},
        {"POST", "/v1x/containers/c1/copy", "", deny, "deny-container-copy", 403},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

TEST(PolicyReadOnly, AllowsPlainLibpodReads) {
    const Expectation table[] = {
        {"GET", "/libpod/_ping", "", allow, "read-only", 0},
        {"HEAD", "/libpod/_ping", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/info", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/version", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/containers/json?all=true", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/containers/c1/exists", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/containers/c1/json", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/containers/c1/logs?stdout=true", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/images/myorg/export/json", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/containers/export/json", "", allow, "read-only", 0},
        {"GET", "/v4.3.1/libpod/pods/json", "", allow, "read-only", 0},
        // Not the export route: Podman answers 404 to a trailing slash.
        {"GET", "/v4.3.1/libpod/containers/c1/export/", "", allow, "read-only", 0},
    };
    const Policy policy = Policy::read_only();
    for (const Expectation& row : table) {
        expect_decision(policy, row);
    }
}

// The route table (read_routes.cpp) against the built-in policy and the redaction.

std::vector<std::string_view> split_methods(std::string_view methods) {
    std::vector<std::string_view> out;
    while (!methods.empty()) {
        const std::size_t comma = methods.find(',');
        out.push_back(methods.substr(0, comma));
        methods = comma == std::string_view::npos ? std::string_view{} : methods.substr(comma + 1);
    }
    return out;
}

// "/containers/{name:.*}/json" -> "/containers/{name...}/json": the engine's template as a
// pattern, to check the row's sample is a request on that route.
std::string template_as_pattern(std::string_view route) {
    std::string pattern;
    for (const std::string_view segment : route_segments(route)) {
        pattern += '/';
        const std::size_t colon = segment.find(':');
        if (segment.starts_with('{') && colon != std::string_view::npos) {
            pattern += std::string(segment.substr(0, colon)) + "...}";
        } else {
            pattern += segment;
        }
    }
    return pattern;
}

// The sample under the other prefixes the engines route, and with its last letter escaped.
std::vector<std::string> sample_variants(std::string_view sample) {
    const std::size_t question = sample.find('?');
    const std::string path(sample.substr(0, question));
    const std::string query(question == std::string_view::npos ? "" : sample.substr(question));
    std::string bare = path;
    if (const NormaliseResult normalised = normalise_target(path, "");
        normalised.ok() && !normalised.target->api_version.empty()) {
        bare = normalised.target->route_path;
    }
    std::string escaped = bare;
    const std::size_t last = escaped.find_last_not_of("/");
    if (last != std::string::npos && std::isalpha(static_cast<unsigned char>(escaped[last]))) {
        static constexpr char hex[] = "0123456789ABCDEF";
        const auto byte = static_cast<unsigned char>(escaped[last]);
        escaped.replace(last, 1, std::string{'%', hex[byte >> 4], hex[byte & 0x0f]});
    }
    return {bare + query, "/v1.41" + bare + query, "/v4.0.0-rc1" + bare + query,
            "/v5x" + escaped + query};
}

TEST(ReadRoutes, NoRouteThatCarriesFilesSecretsOrRunsIsSimplyAllowed) {
    for (const ReadRoute& row : read_routes()) {
        SCOPED_TRACE(row.route);
        if (row.carries == Carries::files || row.carries == Carries::secrets ||
            row.carries == Carries::runs) {
            EXPECT_NE(row.read_only, ReadOnlyAnswer::allowed)
                << row.route << " carries files, secrets or runs a process: deny, redact or guard";
        }
    }
}

TEST(ReadRoutes, EachSampleIsARequestOnItsRoute) {
    std::set<std::pair<int, std::string_view>> seen;
    for (const ReadRoute& row : read_routes()) {
        SCOPED_TRACE(row.route);
        EXPECT_TRUE(seen.emplace(static_cast<int>(row.engine), row.route).second) << "listed twice";
        const NormaliseResult normalised = normalise_target(row.sample, "");
        ASSERT_TRUE(normalised.ok()) << normalised.reason;
        EXPECT_TRUE(PathPattern::parse(template_as_pattern(row.route))
                        .matches(normalised.target->route_path))
            << row.sample << " is not on " << template_as_pattern(row.route);
        EXPECT_FALSE(split_methods(row.methods).empty());
    }
}

// Why a decision is not what the row says, or empty when it is.
std::string misclassified(const ReadRoute& row, const Decision& decision) {
    const bool denied = decision.verdict == Verdict::deny;
    bool holds = false;
    switch (row.read_only) {
        case ReadOnlyAnswer::allowed:
            holds = !denied;
            break;
        case ReadOnlyAnswer::denied:
            holds = denied && decision.status == 403 && decision.rule.starts_with("deny-");
            break;
        case ReadOnlyAnswer::redacted:
            holds =
                !denied && decision.redact && route_carries_secrets(decision.target->route_path);
            break;
        case ReadOnlyAnswer::guarded:
            holds = denied && decision.status == 403;
            break;
    }
    if (holds) {
        return {};
    }
    if (denied) {
        return "denied by rule " + decision.rule;
    }
    return decision.target && route_carries_secrets(decision.target->route_path)
               ? "allowed and redacted"
               : "allowed as the daemon answers";
}

// Each row's sample, under every prefix either engine routes and with a letter escaped, is
// answered as the row says: a deny rule lost, a redaction route dropped or a query guard
// loosened fails here, naming the route.
TEST(ReadRoutes, TheBuiltInPolicyAnswersEachRouteAsClassified) {
    const Policy policy = Policy::read_only();
    for (const ReadRoute& row : read_routes()) {
        SCOPED_TRACE(row.route);
        std::vector<std::string> targets = sample_variants(row.sample);
        targets.insert(targets.begin(), std::string(row.sample));
        for (const std::string_view method : split_methods(row.methods)) {
            for (const std::string& target : targets) {
                const Decision decision = decide({method, target, ""}, Client{}, policy);
                const std::string problem = misclassified(row, decision);
                EXPECT_TRUE(problem.empty()) << method << " " << target << " is " << problem;
            }
        }
        // A guard refuses only the query that prints secrets, never the route.
        if (row.read_only == ReadOnlyAnswer::guarded) {
            const std::string plain(row.sample.substr(0, row.sample.find('?')));
            const Decision decision = decide({"GET", plain, ""}, Client{}, policy);
            EXPECT_TRUE(decision.allowed()) << plain << ": " << decision.message;
        }
    }
}

// Every deny rule of the built-in policy on a read names a route of the table: a rule added
// for an engine route keeps its row. (POST .../copy, a read behind a write method, is in the
// write routes' table.)
TEST(ReadRoutes, EveryPathDenyRuleOfTheBuiltInPolicyHasARow) {
    const Policy policy = Policy::read_only();
    for (const Rule& rule : policy.rules) {
        const bool on_reads =
            std::find(rule.methods.begin(), rule.methods.end(), "GET") != rule.methods.end();
        if (rule.verdict != Verdict::deny || !rule.path || !on_reads) {
            continue;
        }
        SCOPED_TRACE(rule.name);
        const bool listed =
            std::any_of(read_routes().begin(), read_routes().end(), [&](const ReadRoute& row) {
                const NormaliseResult normalised = normalise_target(row.sample, "");
                return row.read_only == ReadOnlyAnswer::denied && normalised.ok() &&
                       rule.path->matches(normalised.target->route_path);
            });
        EXPECT_TRUE(listed) << rule.path->source << " has no denied row in read_routes.cpp";
    }
}

// docs/read-routes.md is the table for readers: each row there, with its answer.
TEST(ReadRoutes, TheDocListsEveryRouteWithItsAnswer) {
    std::ifstream file(std::string(SOCKET_PROXY_SOURCE_DIR) + "/docs/read-routes.md");
    ASSERT_TRUE(file) << "docs/read-routes.md not found";
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) {
        lines.push_back(line);
    }
    const auto answer_word = [](ReadOnlyAnswer answer) {
        switch (answer) {
            case ReadOnlyAnswer::allowed:
                return "allowed";
            case ReadOnlyAnswer::denied:
                return "denied";
            case ReadOnlyAnswer::redacted:
                return "redacted";
            case ReadOnlyAnswer::guarded:
                return "guarded";
        }
        return "";
    };
    for (const ReadRoute& row : read_routes()) {
        const std::string cell = "| `" + std::string(row.route) + "` |";
        const std::string_view answer = answer_word(row.read_only);
        const bool listed = std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
            return line.find(cell) != std::string::npos &&
                   line.find("| " + std::string(answer)) != std::string::npos;
        });
        EXPECT_TRUE(listed) << row.route << " (" << answer << ") is not in docs/read-routes.md";
    }
}

// Clients by certificate: who a cert_* selector selects, thinking as an attacker with a
// certificate from the same CA or none at all.
Client tls_client(PeerCertificate certificate, std::string_view address = "10.0.0.7") {
    Client client;
    client.transport = Client::Transport::tcp;
    client.ip = IpAddress::parse(address);
    client.address = std::string(address);
    client.certificate = std::move(certificate);
    return client;
}

const std::string kFingerprint = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

const PeerCertificate kTraefik{"traefik",
                               {"traefik.example.com", "*.apps.example.com"},
                               {"spiffe://example.org/ns/edge/sa/traefik"},
                               kFingerprint};

struct SelectorRow {
    std::string_view why;
    ClientSelector selector;
    Client client;
    bool matches;
};

ClientSelector by_cn(std::string cn) {
    ClientSelector selector;
    selector.cert_cn = std::move(cn);
    return selector;
}

ClientSelector by_san(std::string san) {
    ClientSelector selector;
    selector.cert_san = std::move(san);
    return selector;
}

ClientSelector by_sha256(std::string sha256) {
    ClientSelector selector;
    selector.cert_sha256 = std::move(sha256);
    return selector;
}

TEST(ClientSelectorCertificate, MatchesOnlyWhatTheCertificateSays) {
    Client plain_tcp;
    plain_tcp.transport = Client::Transport::tcp;
    plain_tcp.ip = IpAddress::parse("10.0.0.7");
    Client unix_peer;
    unix_peer.uid = 0;
    unix_peer.gid = 0;
    PeerCertificate no_cn = kTraefik;
    no_cn.common_name.clear();
    PeerCertificate nul_cn = kTraefik;
    nul_cn.common_name = std::string("traefik\0.evil", 13);

    ClientSelector cn_and_network = by_cn("traefik");
    cn_and_network.network = IpNetwork::parse("10.0.0.0/24");
    ClientSelector cn_and_san = by_cn("traefik");
    cn_and_san.cert_san = "traefik.example.com";
    ClientSelector cn_and_tcp = by_cn("traefik");
    cn_and_tcp.transport = Client::Transport::tcp;

    const SelectorRow rows[] = {
        {"the CN, exactly", by_cn("traefik"), tls_client(kTraefik), true},
        {"a CN is arbitrary text: case counts", by_cn("Traefik"), tls_client(kTraefik), false},
        {"no prefix match", by_cn("traef"), tls_client(kTraefik), false},
        {"no suffix match", by_cn("traefik2"), tls_client(kTraefik), false},
        {"a NUL does not cut the CN short", by_cn("traefik"), tls_client(nul_cn), false},
        {"no CN matches no cert_cn", by_cn("traefik"), tls_client(no_cn), false},
        {"plain TCP never matches", by_cn("traefik"), plain_tcp, false},
        {"a unix client never matches", by_cn("traefik"), unix_peer, false},
        {"a DNS SAN", by_san("traefik.example.com"), tls_client(kTraefik), true},
        {"a DNS SAN in other case", by_san("TRAEFIK.Example.COM"), tls_client(kTraefik), true},
        {"no DNS suffix match", by_san("example.com"), tls_client(kTraefik), false},
        {"no trailing-dot folding", by_san("traefik.example.com."), tls_client(kTraefik), false},
        {"the CN is not a SAN", by_san("traefik"), tls_client(kTraefik), false},
        {"a wildcard SAN only literally", by_san("*.apps.example.com"), tls_client(kTraefik), true},
        {"a wildcard SAN is no pattern", by_san("web.apps.example.com"), tls_client(kTraefik),
         false},
        {"a selector's '*' is no pattern", by_san("*.example.com"), tls_client(kTraefik), false},
        {"a URI SAN, exactly", by_san("spiffe://example.org/ns/edge/sa/traefik"),
         tls_client(kTraefik), true},
        {"a URI's case counts", by_san("spiffe://example.org/ns/edge/sa/Traefik"),
         tls_client(kTraefik), false},
        {"no URI prefix match", by_san("spiffe://example.org/ns/edge"), tls_client(kTraefik),
         false},
        {"a plain TCP client has no SAN", by_san("traefik.example.com"), plain_tcp, false},
        {"the fingerprint", by_sha256(kFingerprint), tls_client(kTraefik), true},
        {"another fingerprint", by_sha256(std::string(64, 'a')), tls_client(kTraefik), false},
        {"no fingerprint on plain TCP", by_sha256(kFingerprint), plain_tcp, false},
        {"CN and network", cn_and_network, tls_client(kTraefik, "10.0.0.9"), true},
        {"CN from another network", cn_and_network, tls_client(kTraefik, "10.0.1.9"), false},
        {"the network alone is not enough", cn_and_network, plain_tcp, false},
        {"CN and SAN", cn_and_san, tls_client(kTraefik), true},
        {"CN but not the SAN", cn_and_san, tls_client(PeerCertificate{"traefik", {}, {}, ""}),
         false},
        {"CN over TCP", cn_and_tcp, tls_client(kTraefik), true},
    };
    for (const SelectorRow& row : rows) {
        SCOPED_TRACE(row.why);
        EXPECT_EQ(row.selector.matches(row.client), row.matches);
    }
}

TEST(ClientSelectorCertificate, SelectorsWithoutCertificateFieldsIgnoreTheCertificate) {
    ClientSelector tcp_only;
    tcp_only.transport = Client::Transport::tcp;
    EXPECT_TRUE(tcp_only.matches(tls_client(kTraefik)));
    EXPECT_FALSE(tcp_only.by_certificate());
    EXPECT_TRUE(by_cn("x").by_certificate());
}

TEST(Sha256Fingerprint, AcceptsTheFormsUsersCopy) {
    const std::string upper_colons =
        "3A:7B:D3:E2:36:0A:3D:29:EE:A4:36:FC:FB:7E:44:C7:35:D1:17:C4:2D:1C:18:35:42:0B:6B:99:"
        "42:DD:4F:1B";
    std::string upper = kFingerprint;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    struct Row {
        std::string text;
        std::optional<std::string> normalised;
    };
    const Row rows[] = {
        {kFingerprint, kFingerprint},
        {upper, kFingerprint},
        {upper_colons, kFingerprint},
        {"3a:7b:d3:e2:36:0a:3d:29:ee:a4:36:fc:fb:7e:44:c7:35:d1:17:c4:2d:1c:18:35:42:0b:6b:99:42:"
         "dd:4f:1b",
         kFingerprint},
        {"", std::nullopt},
        {kFingerprint.substr(0, 63), std::nullopt},
        {kFingerprint + "0", std::nullopt},
        {kFingerprint.substr(0, 40), std::nullopt},  // SHA-1's length
        {"g" + kFingerprint.substr(1), std::nullopt},
        {" " + kFingerprint.substr(1), std::nullopt},
        {"0x" + kFingerprint.substr(2), std::nullopt},
        {"sha256 Fingerprint=" + upper_colons, std::nullopt},
        // Colons anywhere but between pairs, or only some of them.
        {upper_colons.substr(0, 2) + "7:" + upper_colons.substr(4), std::nullopt},
        {upper_colons.substr(0, 94) + "-", std::nullopt},
        {"3A-7B" + upper_colons.substr(5), std::nullopt},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(row.text);
        EXPECT_EQ(normalise_sha256_fingerprint(row.text), row.normalised);
    }
}

TEST(DescribeCertificate, NamesTheClientForLogs) {
    struct Row {
        PeerCertificate certificate;
        std::string_view name;
    };
    const Row rows[] = {
        {kTraefik, "tls:cn=traefik"},
        {{"CI runner", {}, {}, kFingerprint}, "tls:cn=CI runner"},
        {{"", {"a.example.com"}, {}, kFingerprint},
         "tls:sha256=3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"},
        {{"line\nforged=1", {}, {}, kFingerprint}, "tls:cn=line\\x0aforged=1"},
        {{"back\\slash", {}, {}, kFingerprint}, "tls:cn=back\\x5cslash"},
        {{"caf\xc3\xa9", {}, {}, kFingerprint}, "tls:cn=caf\\xc3\\xa9"},
        {{"", {}, {}, ""}, "tls:sha256="},
    };
    for (const Row& row : rows) {
        SCOPED_TRACE(row.name);
        EXPECT_EQ(describe_certificate(row.certificate), row.name);
    }
}

}  // namespace
}  // namespace socket_proxy
