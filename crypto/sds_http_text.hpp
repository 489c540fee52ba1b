// Character rules of HTTP requests both signers check against (RFC 9110):
// tokens, control characters, case-insensitive names, percent escapes.
// Internal to sds, like sds_crypto.hpp.
#pragma once

#include <algorithm>
#include <string_view>

namespace sds::http_text {

/// A token character: what a method or a header name may contain.
inline bool is_tchar(unsigned char c) noexcept {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

/// A C0 control character or DEL.
inline bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

/// ASCII lowercase; other bytes unchanged.
inline char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// ASCII case-insensitive equality, as header names compare.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

/// The value of a hexadecimal digit, or -1.
inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace sds::http_text
