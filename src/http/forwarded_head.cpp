#include "forwarded_head.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <string>
#include <string_view>

namespace socket_proxy {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

bool connection_has_token(const HeadFields& fields, std::string_view token) {
    for (const auto& listed : http::token_list{fields[http::field::connection]}) {
        if (beast::iequals(listed, token)) {
            return true;
        }
    }
    return false;
}

// Go's httpguts.ValidHostHeader: what may appear in a host, a port, an IPv6 literal or a
// percent-escaped zone, and nothing else.
bool is_host_byte(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!$%&'()*+,-.:;=[]_~").find(c) != std::string_view::npos;
}

}  // namespace

std::string find_ambiguity(const RequestHead& request) {
    const std::size_t transfer_encodings = request.count(http::field::transfer_encoding);
    // Beast itself refuses differing Content-Lengths.
    if (transfer_encodings > 0 &&
        (request.count(http::field::content_length) > 0 || transfer_encodings > 1 ||
         !beast::iequals(request[http::field::transfer_encoding], "chunked"))) {
        return "Transfer-Encoding must be exactly chunked and cannot be combined with "
               "Content-Length";
    }
    if (request.count(http::field::host) > 1) {
        return "the request has more than one Host header (RFC 9112 section 3.2)";
    }
    const std::string_view host = request[http::field::host];
    if (!std::all_of(host.begin(), host.end(), is_host_byte)) {
        return "the Host header is not a host name or address (RFC 9112 section 3.2)";
    }
    return {};
}

bool requests_upgrade(const HeadFields& fields) {
    return fields.count(http::field::upgrade) > 0 && connection_has_token(fields, "upgrade");
}

void remove_hop_by_hop_fields(HeadFields& fields, bool keep_upgrade) {
    // A copy: erasing a field the list names may not pull the list from under the loop.
    const std::string connection(fields[http::field::connection]);
    for (const auto& name : http::token_list{connection}) {
        // The framing fields stay whatever Connection says: the body is framed by them.
        if (!(keep_upgrade && beast::iequals(name, "upgrade")) &&
            !beast::iequals(name, "transfer-encoding") && !beast::iequals(name, "content-length")) {
            fields.erase(name);
        }
    }
    fields.erase(http::field::keep_alive);
    fields.erase(http::field::proxy_connection);
    fields.erase(http::field::te);
    fields.erase(http::field::trailer);
    fields.erase(http::field::connection);
    if (keep_upgrade) {
        fields.set(http::field::connection, "Upgrade");
    } else {
        fields.erase(http::field::upgrade);
    }
}

Expectation read_expectation(const HeadFields& fields) {
    if (fields.count(http::field::expect) == 0) {
        return Expectation::none;
    }
    if (fields.count(http::field::expect) == 1 &&
        beast::iequals(fields[http::field::expect], "100-continue")) {
        return Expectation::continue_100;
    }
    return Expectation::unsupported;
}

void prepare_forwarded_head(RequestHead& request, const Target& target,
                            const boost::optional<std::uint64_t>& content_length, bool upgrade) {
    remove_hop_by_hop_fields(request, upgrade);
    request.erase(http::field::expect);
    if (content_length) {
        // Beast accepts repeated or listed identical lengths ("5, 5"), which Go reads
        // differently: the daemon gets the one number the proxy framed the body by.
        request.set(http::field::content_length, std::to_string(*content_length));
    }
    if (request.target() != target.forward_target) {
        request.target(target.forward_target);  // re-encoded, or pinned to a container id
    }
    // The daemon side is always HTTP/1.1 keep-alive: without a Connection field (removed
    // above unless upgrading), that is what 1.1 means.
    request.version(11);
    if (request.count(http::field::host) == 0) {
        // HTTP/1.0 clients may omit Host, which Go rejects in HTTP/1.1 (RFC 9112 section 3.2).
        request.set(http::field::host, "docker");
    }
}

namespace {

void append_fields(HeadText& text, const HeadFields& fields) {
    for (const auto& field : fields) {
        text += field.name_string();
        text += ": ";
        text += field.value();
        text += "\r\n";
    }
    text += "\r\n";
}

void append_version(HeadText& text, unsigned version) {
    text += "HTTP/";
    text += static_cast<char>('0' + version / 10);
    text += '.';
    text += static_cast<char>('0' + version % 10);
}

}  // namespace

// Written by hand: Beast's serializer costs more CPU than the rest of a small request's
// relay (bench/). The unit tests hold both to the same bytes.
HeadText serialise_head(const RequestHead& request) {
    HeadText text(request.get_allocator());
    text.reserve(256);
    text += request.method_string();
    text += ' ';
    text += request.target();
    text += ' ';
    append_version(text, request.version());
    text += "\r\n";
    append_fields(text, request);
    return text;
}

HeadText serialise_head(const ResponseHead& response) {
    HeadText text(response.get_allocator());
    text.reserve(256);
    append_version(text, response.version());
    text += ' ';
    text += std::to_string(response.result_int());
    text += ' ';
    text += response.reason();
    text += "\r\n";
    append_fields(text, response);
    return text;
}

}  // namespace socket_proxy
