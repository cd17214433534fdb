// Strict request-head checks: one row per RFC 9112 rule the proxy enforces before parsing.
#include "head_check.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace socket_proxy {
namespace {

struct HeadRow {
    std::string_view name;
    std::string_view head;
    bool accepted;
    std::string_view reason_contains;  // for refusals
};

TEST(HttpHeadCheck, AcceptsWellFormedAndRefusesEveryAmbiguousForm) {
    const HeadRow table[] = {
        {"minimal", "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", true, ""},
        {"no fields", "GET /_ping HTTP/1.0\r\n\r\n", true, ""},
        {"registry auth",
         "POST /images/create HTTP/1.1\r\nX-Registry-Auth: eyJ1c2VyIjoiYSJ9\r\n\r\n", true, ""},
        {"empty value", "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", true, ""},
        {"obs-text in value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", true, ""},
        {"tab in value", "GET / HTTP/1.1\r\nX: a\tb\r\n\r\n", true, ""},
        {"obsolete folding", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", false, "folding"},
        {"folding with tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", false, "folding"},
        {"bare LF ends head", "GET / HTTP/1.1\nHost: x\n\n", false, "bare line feed"},
        {"bare LF in one line", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", false, "bare line feed"},
        {"bare CR in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", false, "bare carriage return"},
        {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", false,
         "between its name and the colon"},
        {"tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", false,
         "between its name and the colon"},
        {"no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", false, "no colon"},
        {"empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", false, "empty field name"},
        {"NUL in value", std::string_view("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26), false,
         "control character"},
        {"DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", false, "control character"},
        {"separator in name", "GET / HTTP/1.1\r\nX(y): a\r\n\r\n", false, "name"},
        {"leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", false, "empty line"},
        {"HTTP/0.9", "GET /_ping\r\n\r\n", false, "request line"},
        {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", false, "version"},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", false, "version"},
        {"lower-case version", "GET / http/1.1\r\n\r\n", false, "version"},
        {"double space", "GET  / HTTP/1.1\r\n\r\n", false, "white space"},
        {"no target", "GET  HTTP/1.1\r\n\r\n", false, "more than one space"},
        {"space in target", "GET /a b HTTP/1.1\r\n\r\n", false, "white space"},
        {"tab in target", "GET /a\tb HTTP/1.1\r\n\r\n", false, "white space"},
        {"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", false, "non-ASCII"},
        {"method not a token", "G(T / HTTP/1.1\r\n\r\n", false, "method"},
        {"leading space", " GET / HTTP/1.1\r\n\r\n", false, "white space"},
        {"unterminated", "GET / HTTP/1.1\r\nHost: x\r\n", false, "empty line"},
    };
    for (const auto& row : table) {
        SCOPED_TRACE(row.name);
        const HeadCheck check = check_request_head(row.head);
        EXPECT_EQ(check.ok, row.accepted) << check.reason;
        if (!row.accepted) {
            EXPECT_NE(check.reason.find(row.reason_contains), std::string::npos) << check.reason;
        }
    }
}

TEST(HttpHeadCheck, LimitsTheNumberOfFields) {
    std::string head = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 3; ++i) {
        head += "X-" + std::to_string(i) + ": v\r\n";
    }
    head += "\r\n";
    EXPECT_TRUE(check_request_head(head, HeadLimits{3}).ok);
    const HeadCheck refused = check_request_head(head, HeadLimits{2});
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.reason.find("more than 2 header fields"), std::string::npos);
    EXPECT_TRUE(refused.too_many_fields);  // answered 431, not 400
    EXPECT_FALSE(check_request_head("GET / HTTP/1.1\r\nX : y\r\n\r\n").too_many_fields);
}

struct EndRow {
    std::string_view bytes;
    std::size_t end;
};

TEST(HttpHeadEnd, FindsTheEmptyLineOrSaysIncomplete) {
    constexpr auto incomplete = std::string_view::npos;
    const EndRow table[] = {
        {"GET / HTTP/1.1\r\n\r\n", 18},
        {"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 18},  // pipelined: only the first
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 27},
        {"GET / HTTP/1.1\n\n", 16},  // bare LFs end it too, to be answered with 400
        {"GET / HTTP/1.1\r\n\n", 17},
        {"GET / HTTP/1.1\r\n", incomplete},
        {"GET / HTTP/1.1\r\n\r", incomplete},
        {"", incomplete},
    };
    for (const auto& row : table) {
        SCOPED_TRACE(::testing::Message() << '"' << row.bytes << '"');
        EXPECT_EQ(find_head_end(row.bytes), row.end);
    }
}

}  // namespace
}  // namespace socket_proxy

namespace socket_proxy {
namespace {

TEST(HttpFormBody, ReadsContentTypeAsGoDoes) {
    for (const std::string_view form :
         {"application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded",
          "application/x-www-form-urlencoded; charset=utf-8",
          " application/x-www-form-urlencoded ;x=y", "application/x-www-form-urlencoded;",
          "appl\xc4\xb0"
          "cation/x-www-form-urlencoded",
          "application/x-www-form-urlencoded\xc2\x85"}) {
        EXPECT_TRUE(may_be_form_body(form)) << form;
    }
    for (const std::string_view other :
         {"", "application/json", "multipart/form-data", "application/x-www-form-urlencodedx",
          "text/plain; x=application/x-www-form-urlencoded"}) {
        EXPECT_FALSE(may_be_form_body(other)) << other;
    }
}

}  // namespace
}  // namespace socket_proxy
