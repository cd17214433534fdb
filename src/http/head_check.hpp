// A strict check of a request head's raw bytes before Beast parses it.
//
// Beast, like the Docker daemon, is lenient where RFC 9112 allows leniency (obsolete line
// folding, for one). Where a proxy and the server behind it read one message two ways, a
// request can be smuggled past the policy; so the proxy refuses, with 400, every form the
// RFC calls invalid or obsolete. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace socket_proxy {

// The end of the head in `bytes` (one past its empty line), or npos while it is incomplete.
// A bare "\n\n" ends it too, so a client sending bare line feeds is answered, not left waiting.
[[nodiscard]] std::size_t find_head_end(std::string_view bytes);

struct HeadLimits {
    std::size_t max_fields = 100;
};

struct HeadCheck {
    bool ok = true;
    std::string reason;            // when !ok: one sentence naming the RFC rule that was broken
    bool too_many_fields = false;  // a limit, not a malformed head
};

// The request line alone, without its line end: checked as soon as it has arrived, so that an
// HTTP/0.9 request ("GET /") or a foreign protocol is answered at once instead of waiting for
// an empty line that will never come.
[[nodiscard]] HeadCheck check_request_line(std::string_view line);

// `head`: the request line, the header lines and the empty line, as received.
[[nodiscard]] HeadCheck check_request_head(std::string_view head, const HeadLimits& limits = {});

// Whether the daemon's Go server may read the body as a form, whose values override the
// query's (net/http ParseForm on POST, PUT, PATCH), by the Content-Type value: Go's
// mime.ParseMediaType lowercases the part before ';' with Unicode's mappings ("İ" becomes
// "i") and trims Unicode white space, so a byte outside ASCII there counts as a form, on doubt.
[[nodiscard]] bool may_be_form_body(std::string_view content_type);

}  // namespace socket_proxy
