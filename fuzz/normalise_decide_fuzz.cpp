// libFuzzer target: normalise + decide with the read-only policy.
//
// Input: "<method>\n<target>\n<host>" (missing parts are empty). Traps when an allowed request
// would reach the daemon as something other than what the policy decided on, as the
// independent daemon model (daemon_model.hpp) routes the forwarded target.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon_model.hpp"
#include "policy.hpp"
#include "target.hpp"

namespace {

using fuzz_model::check;
using socket_proxy::Client;
using socket_proxy::Decision;
using socket_proxy::Policy;
using socket_proxy::Request;

std::string_view take_line(std::string_view& input) {
    const std::size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    return line;
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
    const auto decoded = fuzz_model::decode_once(forward_path);
    check(decoded.has_value());
    check(*decoded == version_prefix + target.route_path);
    if (question == std::string::npos) {
        check(target.query.empty());
    } else {
        check(std::string_view(forward).substr(question + 1) == target.query);
    }

    // The daemon routes the forwarded target on the very path the policy saw.
    check(fuzz_model::daemon_route(forward) == target.route_path);

    // And the proxy reads its own output the same way again.
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
    check(!fuzz_model::is_sensitive(decision.target->route_path));
    return 0;
}
