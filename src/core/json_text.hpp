// The one JSON shape the proxy writes itself: Docker's error body {"message": "..."}.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace socket_proxy {

// A JSON string literal, quotes included; every byte below 0x20, '"' and '\\' escaped, and
// bytes that are not valid UTF-8 replaced, so any client-sent path yields valid JSON.
[[nodiscard]] std::string json_string(std::string_view text);

// {"message":"..."}: the docker CLI prints it as "Error response from daemon: ...".
[[nodiscard]] std::string docker_error_body(std::string_view message);

// Appends client-sent text to a message: at most `limit` bytes, then "..."; every byte that
// `escape` picks written as %XX, so the message stays one line a terminal or a log shows as
// it is.
void append_percent_escaped(std::string& out, std::string_view text, std::size_t limit,
                            bool (*escape)(unsigned char byte));

}  // namespace socket_proxy
