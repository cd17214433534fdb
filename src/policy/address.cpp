#include "address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace socket_proxy {
namespace {

constexpr std::array<unsigned char, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::string IpAddress::text() const {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
    return text;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN ||
        text.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    const std::string zero_terminated(text);
    IpAddress address;
    if (::inet_pton(AF_INET, zero_terminated.c_str(), address.bytes.data()) == 1) {
        return address;
    }
    if (::inet_pton(AF_INET6, zero_terminated.c_str(), address.bytes.data()) != 1) {
        return std::nullopt;
    }
    address.v6 = true;
    if (std::memcmp(address.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
        IpAddress mapped;
        std::memcpy(mapped.bytes.data(), address.bytes.data() + 12, 4);
        return mapped;
    }
    return address;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
    const std::size_t slash = text.find('/');
    const auto base = IpAddress::parse(text.substr(0, slash));
    if (!base) {
        return std::nullopt;
    }
    const unsigned max_length = base->v6 ? 128 : 32;
    unsigned length = max_length;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        const auto [end, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
            length > max_length) {
            return std::nullopt;
        }
    }
    IpNetwork network;
    network.base = *base;
    network.prefix_length = length;
    IpAddress masked = *base;
    for (unsigned bit = length; bit < max_length; ++bit) {
        masked.bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
    }
    if (masked.bytes != base->bytes) {
        return std::nullopt;
    }
    network.text = base->text() + "/" + std::to_string(length);
    return network;
}

bool IpNetwork::contains(const IpAddress& address) const {
    if (address.v6 != base.v6) {
        return false;
    }
    const unsigned whole_bytes = prefix_length / 8;
    if (std::memcmp(address.bytes.data(), base.bytes.data(), whole_bytes) != 0) {
        return false;
    }
    const unsigned rest = prefix_length % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<unsigned char>(0xff00u >> rest);
    return (address.bytes[whole_bytes] & mask) == (base.bytes[whole_bytes] & mask);
}

}  // namespace socket_proxy
