// Text as the engines' Go code reads it: field and query names folded the way encoding/json and
// strings.EqualFold fold them, and lists split on a separator as strings.Split does. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace socket_proxy {

// ASCII letters to lower case, and the two non-ASCII letters that fold to ASCII ones: U+017F
// (long s) to 's', U+212A (Kelvin sign) to 'k'. "Bindſ" -> "binds".
[[nodiscard]] std::string go_fold(std::string_view text);

// go_fold(key) == go_fold(name) for an ASCII `name`, without building either.
[[nodiscard]] bool go_fold_equals(std::string_view key, std::string_view name);

// strings.Split: every piece, empty ones included; "" is one empty piece.
[[nodiscard]] std::vector<std::string_view> split(std::string_view text, char separator);

}  // namespace socket_proxy
