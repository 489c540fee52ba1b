// Checks the facade makes before anything is sent.
#pragma once

#include <string_view>

namespace sds::detail {

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

/// Throws errc::invalid_argument unless `text` is UTF-8; `what` names it in the message.
void require_utf8(std::string_view what, std::string_view text);

/// Throws errc::invalid_argument for an empty key, one over `max_bytes`, one
/// that is not UTF-8, or one with control characters.
void check_key(std::string_view what, std::string_view key, std::size_t max_bytes);

} // namespace sds::detail
