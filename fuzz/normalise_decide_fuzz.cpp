// libFuzzer target: normalise + decide with the read-only policy.
//
// Input: "<method>\n<target>\n<host>" (missing parts are empty). Traps when an allowed request
// would reach the daemon as something other than what the policy decided on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy.hpp"
#include "target.hpp"

namespace {

using socket_proxy::Client;
using socket_proxy::Decision;
using socket_proxy::Policy;
using socket_proxy::Request;

void check(bool invariant) {
    if (!invariant) {
        __builtin_trap();
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// An independent single percent-decoding, as Go's url.PathUnescape does it; traps on an
// invalid escape, which forward_target must never contain.
std::string decode_once(std::string_view encoded) {
    std::string decoded;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        if (encoded[i] != '%') {
            decoded.push_back(encoded[i]);
            continue;
        }
        check(i + 2 < encoded.size());
        const int high = hex_value(encoded[i + 1]);
        const int low = hex_value(encoded[i + 2]);
        check(high >= 0 && low >= 0);
        decoded.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return decoded;
}

std::string_view take_line(std::string_view& input) {
    const std::size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    return line;
}

// True when `path` is "<prefix><one or more characters>/<ending>", the shape of a route
// whose name may contain slashes.
bool is_named_route(std::string_view path, std::string_view prefix, std::string_view ending) {
    if (!path.starts_with(prefix)) {
        return false;
    }
    const std::string_view rest = path.substr(prefix.size());
    return rest.size() > ending.size() + 1 && rest.ends_with(ending) &&
           rest[rest.size() - ending.size() - 1] == '/';
}

bool is_tree(std::string_view path, std::string_view root) {
    return path == root || (path.starts_with(root) && path[root.size()] == '/');
}

// A naive restatement of the read-only deny list, independent of PathPattern: if one of these
// is allowed, the rule engine and the list disagree.
bool is_sensitive(std::string_view route) {
    return is_named_route(route, "/containers/", "export") ||
           is_named_route(route, "/containers/", "archive") ||
           is_named_route(route, "/containers/", "attach/ws") ||
           is_named_route(route, "/images/", "get") || route == "/images/get" ||
           route == "/swarm/unlockkey" || is_tree(route, "/secrets") || is_tree(route, "/configs");
}

// Holds for every target that normalised, allowed or not: the fuzzer then need not guess a
// permitted method to exercise the normaliser.
void check_forward_target(const socket_proxy::Target& target) {
    check(!target.route_path.empty() && target.route_path.front() == '/');

    const std::string& forward = target.forward_target;
    for (const char c : forward) {
        const auto byte = static_cast<unsigned char>(c);
        check(byte >= 0x21 && byte < 0x7f);
    }

    // Decoding the forwarded path once must give exactly what the policy decided on.
    const std::size_t question = forward.find('?');
    const std::string_view forward_path = std::string_view(forward).substr(0, question);
    const std::string version_prefix =
        target.api_version.empty() ? std::string() : "/v" + target.api_version;
    check(decode_once(forward_path) == version_prefix + target.route_path);
    if (question == std::string::npos) {
        check(target.query.empty());
    } else {
        check(std::string_view(forward).substr(question + 1) == target.query);
    }

    // The daemon must see the same route when the forwarded target is read again.
    const socket_proxy::NormaliseResult again = socket_proxy::normalise_target(forward, "");
    check(again.ok());
    check(again.target->route_path == target.route_path);
    check(again.target->api_version == target.api_version);
    check(again.target->query == target.query);
    check(again.target->forward_target == forward);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Policy policy = Policy::read_only();

    std::string_view input(reinterpret_cast<const char*>(data), size);
    Request request;
    request.method = take_line(input);
    request.target = take_line(input);
    request.host = input;

    const Decision decision = socket_proxy::decide(request, Client{}, policy);
    if (decision.target) {
        check_forward_target(*decision.target);
    }
    if (!decision.allowed()) {
        check(decision.status == 400 || decision.status == 403);
        check(!decision.message.empty());
        check(decision.message.find_first_of("\r\n") == std::string::npos);
        check(decision.target.has_value() == (decision.rule != "target"));
        return 0;
    }

    check(request.method == "GET" || request.method == "HEAD");
    check(decision.target.has_value());
    check(!is_sensitive(decision.target->route_path));
    return 0;
}
