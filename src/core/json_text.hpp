// The one JSON shape the proxy writes itself: Docker's error body {"message": "..."}.
#pragma once

#include <string>
#include <string_view>

namespace socket_proxy {

// A JSON string literal, quotes included; every byte below 0x20, '"' and '\\' escaped, and
// bytes that are not valid UTF-8 replaced, so any client-sent path yields valid JSON.
[[nodiscard]] std::string json_string(std::string_view text);

// {"message":"..."}: the docker CLI prints it as "Error response from daemon: ...".
[[nodiscard]] std::string docker_error_body(std::string_view message);

}  // namespace socket_proxy
