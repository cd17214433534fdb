// Normalisation tables: one per concern. Facts behind each row: ../../shared/docker-api.md.
#include "target.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace socket_proxy {
namespace {

struct Accepted {
    std::string_view raw;
    std::string_view host;
    std::string_view route_path;
    std::string_view api_version;
    std::string_view query;
    std::string_view forward_target;
};

void expect_accepted(const Accepted& row) {
    SCOPED_TRACE(::testing::Message()
                 << "target \"" << row.raw << "\" host \"" << row.host << "\"");
    const NormaliseResult result = normalise_target(row.raw, row.host);
    ASSERT_TRUE(result.ok()) << result.reason;
    EXPECT_EQ(result.target->route_path, row.route_path);
    EXPECT_EQ(result.target->api_version, row.api_version);
    EXPECT_EQ(result.target->query, row.query);
    EXPECT_EQ(result.target->forward_target, row.forward_target);
}

TEST(TargetOriginForm, AcceptedPathsAndQueries) {
    const Accepted table[] = {
        {"/", "", "/", "", "", "/"},
        {"/_ping", "", "/_ping", "", "", "/_ping"},
        {"/containers/json", "", "/containers/json", "", "", "/containers/json"},
        {"/containers/json?all=1", "", "/containers/json", "", "all=1", "/containers/json?all=1"},
        {"/containers/json?", "", "/containers/json", "", "", "/containers/json?"},
        // The query is passed through raw, escapes and all; only the path is decoded.
        {R"(/containers/json?filters={"label":["secrets"]})", "", "/containers/json", "",
         R"(filters={"label":["secrets"]})", R"(/containers/json?filters={"label":["secrets"]})"},
        {"/containers/json?filters=%7B%22label%22%3A%5B%22secrets%22%5D%7D", "", "/containers/json",
         "", "filters=%7B%22label%22%3A%5B%22secrets%22%5D%7D",
         "/containers/json?filters=%7B%22label%22%3A%5B%22secrets%22%5D%7D"},
        {"/containers/json?a=%zz&b=%2F", "", "/containers/json", "", "a=%zz&b=%2F",
         "/containers/json?a=%zz&b=%2F"},
        // Only the first '?' splits; a later one belongs to the query.
        {"/a?b?c", "", "/a", "", "b?c", "/a?b?c"},
        // Trailing slashes are routes of their own (/networks/, /volumes/), not cleaned.
        {"/networks/", "", "/networks/", "", "", "/networks/"},
        {"/containers/c1/logs?follow=1", "", "/containers/c1/logs", "", "follow=1",
         "/containers/c1/logs?follow=1"},
        {"/images/myorg/app:tag/json", "", "/images/myorg/app:tag/json", "", "",
         "/images/myorg/app:tag/json"},
        // Dots inside a segment are not dot segments.
        {"/containers/.hidden/json", "", "/containers/.hidden/json", "", "",
         "/containers/.hidden/json"},
        {"/containers/c.../json", "", "/containers/c.../json", "", "", "/containers/c.../json"},
    };
    for (const Accepted& row : table) {
        expect_accepted(row);
    }
}

TEST(TargetPercentDecoding, DecodesOnceAndReencodesCanonically) {
    const Accepted table[] = {
        {"/containers/c1/%65xport", "", "/containers/c1/export", "", "", "/containers/c1/export"},
        {"/se%63rets", "", "/secrets", "", "", "/secrets"},
        {"/containers/c1/expor%74", "", "/containers/c1/export", "", "", "/containers/c1/export"},
        {"/%73%65%63%72%65%74%73", "", "/secrets", "", "", "/secrets"},
        // Lower-case hex decodes the same and is re-encoded upper-case.
        {"/a%3fb", "", "/a?b", "", "", "/a%3Fb"},
        // Exactly one decoding: %252F is a literal "%2F", not a slash.
        {"/containers/c1%252Fexport", "", "/containers/c1%2Fexport", "", "",
         "/containers/c1%252Fexport"},
        {"/a%25", "", "/a%", "", "", "/a%25"},
        // '#' is not a fragment for the daemon: it stays in the path.
        {"/containers/c1/json#x", "", "/containers/c1/json#x", "", "", "/containers/c1/json%23x"},
        {"/a%23b?c#d", "", "/a#b", "", "c#d", "/a%23b?c#d"},
        // Characters outside pchar are accepted raw but forwarded encoded.
        {"/a\"b<c>d\\e^f`g{h|i}j[k]", "", "/a\"b<c>d\\e^f`g{h|i}j[k]", "", "",
         "/a%22b%3Cc%3Ed%5Ce%5Ef%60g%7Bh%7Ci%7Dj%5Bk%5D"},
        {"/a%20b", "", "/a b", "", "", "/a%20b"},
        {"/caf%C3%A9", "", "/caf\xC3\xA9", "", "", "/caf%C3%A9"},
        // pchar sub-delims stay raw, even when they arrived encoded.
        {"/a%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40", "", "/a!$&'()*+,;=:@", "", "",
         "/a!$&'()*+,;=:@"},
        {"/%7Eu%2D%2E%5F", "", "/~u-._", "", "", "/~u-._"},
    };
    for (const Accepted& row : table) {
        expect_accepted(row);
    }
}

TEST(TargetVersionPrefix, StripsExactlyOneWellFormedPrefix) {
    const Accepted table[] = {
        {"/v1.41/containers/json", "", "/containers/json", "1.41", "", "/v1.41/containers/json"},
        {"/v1.41.0/containers/json", "", "/containers/json", "1.41.0", "",
         "/v1.41.0/containers/json"},
        {"/v01.041/containers/json", "", "/containers/json", "01.041", "",
         "/v01.041/containers/json"},
        {"/v1.41./containers/json", "", "/containers/json", "1.41.", "", "/v1.41./containers/json"},
        {"/v1.41..0/containers/json", "", "/containers/json", "1.41..0", "",
         "/v1.41..0/containers/json"},
        {"/v.41/containers/json", "", "/containers/json", ".41", "", "/v.41/containers/json"},
        {"/v1/_ping", "", "/_ping", "1", "", "/v1/_ping"},
        {"/v1.41/", "", "/", "1.41", "", "/v1.41/"},
        {"/v1.41/_ping?x=1", "", "/_ping", "1.41", "x=1", "/v1.41/_ping?x=1"},
        // The prefix is recognised after decoding, as the daemon routes the decoded path.
        {"/%761.41/secrets", "", "/secrets", "1.41", "", "/v1.41/secrets"},
        {"/v1%2E41/secrets", "", "/secrets", "1.41", "", "/v1.41/secrets"},
        // Not prefixes.
        {"/v/containers/json", "", "/v/containers/json", "", "", "/v/containers/json"},
        {"/v1.41", "", "/v1.41", "", "", "/v1.41"},
        {"/V1.41/containers/json", "", "/V1.41/containers/json", "", "", "/V1.41/containers/json"},
        {"/version", "", "/version", "", "", "/version"},
        {"/volumes", "", "/volumes", "", "", "/volumes"},
        // Only one prefix is stripped: the daemon does not route the second one either.
        {"/v1.41/v1.41/containers/json", "", "/v1.41/containers/json", "1.41", "",
         "/v1.41/v1.41/containers/json"},
    };
    for (const Accepted& row : table) {
        expect_accepted(row);
    }
}

TEST(TargetAbsoluteForm, AcceptsHttpNamingTheHost) {
    const Accepted table[] = {
        {"http://docker/v1.41/containers/c1/export", "docker", "/containers/c1/export", "1.41", "",
         "/v1.41/containers/c1/export"},
        {"HTTP://Docker/_ping", "docker", "/_ping", "", "", "/_ping"},
        {"hTtP://api.moby.localhost/_ping", "API.moby.localhost", "/_ping", "", "", "/_ping"},
        {"http://docker", "docker", "/", "", "", "/"},
        {"http://docker?all=1", "docker", "/", "", "all=1", "/?all=1"},
        {"http://localhost:2375/containers/json?all=1", "localhost:2375", "/containers/json", "",
         "all=1", "/containers/json?all=1"},
        {"http://docker/se%63rets", "docker", "/secrets", "", "", "/secrets"},
    };
    for (const Accepted& row : table) {
        expect_accepted(row);
    }
}

struct Rejected {
    std::string_view raw;
    std::string_view host;
    TargetError error;
};

TEST(TargetRejection, RefusesWhatCannotMapToOneRoute) {
    using E = TargetError;
    const Rejected table[] = {
        {"", "", E::empty},
        {"*", "", E::not_origin_form},
        {"docker:2375", "docker", E::not_origin_form},
        {"containers/json", "", E::not_origin_form},
        {"http:/containers/json", "docker", E::not_origin_form},
        {"x:/containers/json", "docker", E::not_origin_form},
        {"https://docker/containers/json", "docker", E::not_origin_form},
        {"unix://docker/containers/json", "docker", E::not_origin_form},
        {"http:docker/containers/json", "docker", E::not_origin_form},
        {"http://evil/containers/json", "docker", E::foreign_host},
        {"http://docker/containers/json", "", E::foreign_host},
        {"http:///containers/json", "docker", E::foreign_host},
        {"http://docker.evil/containers/json", "docker", E::foreign_host},
        {"http://user@docker/containers/json", "docker", E::foreign_host},
        {std::string_view("/a\0b", 4), "", E::invalid_character},
        {"/a b", "", E::invalid_character},
        {"/a\tb", "", E::invalid_character},
        {"/a\r\nb", "", E::invalid_character},
        {"/a\x7f", "", E::invalid_character},
        {"/caf\xC3\xA9", "", E::invalid_character},
        {"/a?b c", "", E::invalid_character},
        {"/a?b\x01", "", E::invalid_character},
        {"http://docker/a b", "docker", E::invalid_character},
        {"/a%", "", E::invalid_escape},
        {"/a%2", "", E::invalid_escape},
        {"/a%zz", "", E::invalid_escape},
        {"/a%2g", "", E::invalid_escape},
        {"/a%%41", "", E::invalid_escape},
        {"/containers/c1%2Fexport", "", E::encoded_slash},
        {"/containers%2Fc1%2Fexport", "", E::encoded_slash},
        {"/containers/c1%2fexport", "", E::encoded_slash},
        {"/v1.41%2Fsecrets", "", E::encoded_slash},
        {"/a%00b", "", E::control_in_path},
        {"/a%0Ab", "", E::control_in_path},
        {"/a%0d%0a", "", E::control_in_path},
        {"/a%1F", "", E::control_in_path},
        {"/a%7F", "", E::control_in_path},
        {"//secrets", "", E::not_canonical},
        {"/containers//json", "", E::not_canonical},
        {"/containers/json//", "", E::not_canonical},
        {"/containers/c1/../c2/export", "", E::not_canonical},
        {"/v1.41/containers/c1/%2e%2e/x", "", E::not_canonical},
        {"/v1.41/containers/c1/%2E/x", "", E::not_canonical},
        {"/./secrets", "", E::not_canonical},
        {"/containers/c1/.", "", E::not_canonical},
        {"/containers/c1/..", "", E::not_canonical},
        {"/.", "", E::not_canonical},
        {"/..", "", E::not_canonical},
        {"/v1.41/./secrets", "", E::not_canonical},
        {"/v1.41//secrets", "", E::not_canonical},
        {"/v1.41/.%2e/secrets", "", E::not_canonical},
        {"http://docker//secrets", "docker", E::not_canonical},
        {"http://docker/../secrets", "docker", E::not_canonical},
    };
    for (const Rejected& row : table) {
        SCOPED_TRACE(::testing::Message()
                     << "target \"" << row.raw << "\" host \"" << row.host << "\"");
        const NormaliseResult result = normalise_target(row.raw, row.host);
        ASSERT_FALSE(result.ok()) << "route_path " << result.target->route_path;
        EXPECT_EQ(result.error, row.error) << result.reason;
        EXPECT_FALSE(result.reason.empty());
        EXPECT_EQ(result.reason.find_first_of("\r\n"), std::string::npos) << result.reason;
    }
}

struct Reason {
    std::string_view raw;
    std::string_view host;
    std::string_view reason_contains;
};

TEST(TargetRejectionReason, NamesTheProblem) {
    const Reason table[] = {
        {"", "", "empty"},
        {"*", "", "\"*\""},
        {"docker:2375", "", "\"docker:2375\""},
        {"http://evil/x", "docker", "\"evil\""},
        {"http://evil/x", "", "no Host header"},
        {"/a\nb", "", "byte 0x0A at offset 2"},
        {"/a%zz", "", "'%' at offset 2"},
        {"/containers/c1%2Fexport", "", "encoded slash (%2F)"},
        {"/a%0A", "", "(0x0A)"},
        {"//secrets", "", "\"//\""},
        {"/a/%2e%2e/b", "", "\"..\" segment"},
    };
    for (const Reason& row : table) {
        SCOPED_TRACE(::testing::Message() << "target \"" << row.raw << "\"");
        const NormaliseResult result = normalise_target(row.raw, row.host);
        ASSERT_FALSE(result.ok());
        EXPECT_NE(result.reason.find(row.reason_contains), std::string::npos) << result.reason;
    }
}

struct Encoding {
    std::string_view decoded;
    std::string_view encoded;
};

TEST(TargetEncodePath, EncodesEverythingOutsidePchar) {
    const Encoding table[] = {
        {"", ""},
        {"/", "/"},
        {"/containers/json", "/containers/json"},
        {"/AZaz09-._~", "/AZaz09-._~"},
        {"/!$&'()*+,;=:@", "/!$&'()*+,;=:@"},
        {"/a b", "/a%20b"},
        {"/a?b", "/a%3Fb"},
        {"/a#b", "/a%23b"},
        {"/a%b", "/a%25b"},
        {"/\"<>\\^`{|}[]", "/%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D"},
        {std::string_view("/\0\x1f\x7f", 4), "/%00%1F%7F"},
        {"/\x80\xff", "/%80%FF"},
        {"/caf\xC3\xA9", "/caf%C3%A9"},
    };
    for (const Encoding& row : table) {
        SCOPED_TRACE(::testing::Message() << "decoded \"" << row.decoded << "\"");
        EXPECT_EQ(encode_path(row.decoded), row.encoded);
    }
}

// Forwarding must not change what the daemon routes: normalising the forwarded target again
// yields the same route, so a rule cannot be dodged by the re-encoding itself.
TEST(TargetForwardTarget, RenormalisesToTheSameRoute) {
    const std::string_view table[] = {
        "/containers/c1/json#x", "/a%3fb?c",           "/caf%C3%A9",  "/a%25",
        "/v1.41/a%20b",          "/a\"b<c>d\\e^f`g{h", "/%7Eu%2D%2E", "/v01.041/x?y#z",
    };
    for (const std::string_view raw : table) {
        SCOPED_TRACE(::testing::Message() << "target \"" << raw << "\"");
        const NormaliseResult first = normalise_target(raw, "");
        ASSERT_TRUE(first.ok()) << first.reason;
        const NormaliseResult second = normalise_target(first.target->forward_target, "");
        ASSERT_TRUE(second.ok()) << second.reason;
        EXPECT_EQ(second.target->route_path, first.target->route_path);
        EXPECT_EQ(second.target->api_version, first.target->api_version);
        EXPECT_EQ(second.target->query, first.target->query);
        EXPECT_EQ(second.target->forward_target, first.target->forward_target);
    }
}

// Podman routes "/v{version:[0-9][0-9A-Za-z.-]*}" (pkg/api/server/handler_api.go), for its own
// routes and for Docker's: measured on podman 4.3, "/v1x/containers/c1/export" and
// "/v4.0.0-rc1/libpod/containers/c1/export" return the file system. A prefix either engine
// routes is stripped, or a deny rule would not see the route behind it.
TEST(TargetVersionPrefix, StripsPodmanPrefixes) {
    const Accepted table[] = {
        {"/v4.0.0/libpod/containers/c1/export", "", "/libpod/containers/c1/export", "4.0.0", "",
         "/v4.0.0/libpod/containers/c1/export"},
        {"/v4.0.0-rc1/libpod/containers/c1/export", "", "/libpod/containers/c1/export", "4.0.0-rc1",
         "", "/v4.0.0-rc1/libpod/containers/c1/export"},
        {"/v5.0.0-dev/libpod/info", "", "/libpod/info", "5.0.0-dev", "", "/v5.0.0-dev/libpod/info"},
        {"/v4x/libpod/images/export", "", "/libpod/images/export", "4x", "",
         "/v4x/libpod/images/export"},
        {"/v4-/libpod/info", "", "/libpod/info", "4-", "", "/v4-/libpod/info"},
        {"/v1.41a/containers/json", "", "/containers/json", "1.41a", "", "/v1.41a/containers/json"},
        {"/v1.41-x/containers/c1/export", "", "/containers/c1/export", "1.41-x", "",
         "/v1.41-x/containers/c1/export"},
        {"/v1X/secrets", "", "/secrets", "1X", "", "/v1X/secrets"},
        // Decoded first, as for Docker's prefix.
        {"/v4%2E0%2E0%2Drc1/libpod/secrets/json", "", "/libpod/secrets/json", "4.0.0-rc1", "",
         "/v4.0.0-rc1/libpod/secrets/json"},
        // Unversioned libpod paths stay as they are: Podman routes only /libpod/_ping so.
        {"/libpod/_ping", "", "/libpod/_ping", "", "", "/libpod/_ping"},
        {"/libpod/containers/c1/export", "", "/libpod/containers/c1/export", "", "",
         "/libpod/containers/c1/export"},
        // Neither engine routes these as a version: a letter first (Podman wants a digit), or a
        // letter after a leading '.' (Docker wants only digits and dots).
        {"/vx1/containers/json", "", "/vx1/containers/json", "", "", "/vx1/containers/json"},
        {"/v.41-x/containers/json", "", "/v.41-x/containers/json", "", "",
         "/v.41-x/containers/json"},
        {"/v-1/libpod/info", "", "/v-1/libpod/info", "", "", "/v-1/libpod/info"},
        {"/v4_0/libpod/info", "", "/v4_0/libpod/info", "", "", "/v4_0/libpod/info"},
        {"/v4.0.0", "", "/v4.0.0", "", "", "/v4.0.0"},
    };
    for (const Accepted& row : table) {
        expect_accepted(row);
    }
}

}  // namespace
}  // namespace socket_proxy
