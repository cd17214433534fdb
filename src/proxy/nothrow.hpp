// The completion token the proxy's coroutines use: an error comes back as a value beside the
// result, because a peer that closes or a deadline that passes is an ordinary outcome here.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace socket_proxy {

inline constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace socket_proxy
