// Checks the facade makes before anything is sent.
#pragma once

#include <sds/azure_table_config.hpp>
#include <sds/dynamodb_config.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace sds::detail {

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

/// Throws errc::invalid_argument unless `text` is UTF-8; `what` names it in the message.
void require_utf8(std::string_view what, std::string_view text);

/// Throws errc::invalid_argument for an empty key, one over `max_bytes`, one
/// that is not UTF-8, or one with control characters.
void check_key(std::string_view what, std::string_view key, std::size_t max_bytes);

/// The longest wait sds accepts anywhere (timeouts, intervals, backoffs):
/// deadlines are points on the steady clock, which counts nanoseconds in 64
/// bits, so far longer waits would overflow it.
inline constexpr std::chrono::milliseconds max_wait = std::chrono::hours(24 * 365 * 100);

/// Throws errc::invalid_argument for an operation's timeout that is not
/// positive or is longer than max_wait.
void check_timeout(const std::optional<std::chrono::milliseconds>& timeout);

/// Throws errc::invalid_argument for a table name (or time-series pattern)
/// that no engine accepts and that could not be quoted in a message: over
/// 1024 bytes, not UTF-8, or holding a control character. The engines check
/// the rest, and quote the name.
void check_table_text(std::string_view name);

/// Throws errc::invalid_argument for a time-series table resolved at a time
/// before 1970 (the clocks' arithmetic is not safe all the way down to the
/// earliest time point, and no table is named after a date that early).
void check_table_time(std::string_view pattern, std::chrono::system_clock::time_point at);

/// Throws errc::invalid_argument, naming the field, for a configuration no
/// request could be sent with: zero or negative timeouts and intervals,
/// waits over max_wait, no connections, a response limit of 0, a default
/// capacity under 1 (DynamoDB), a SAS that is not a URL query or a write
/// conflict limit of 0 (Azure). Never echoes a credential. Credentials
/// themselves are checked by the first operation (from_env may leave them
/// empty).
void check_config(const dynamodb_config& config);
void check_config(const azure_table_config& config);

} // namespace sds::detail
