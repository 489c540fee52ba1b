// HTTP dates (RFC 9110 section 5.6.7), as servers send them in Date and
// Retry-After.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sds::detail {

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into a UTC time
/// point. Surrounding spaces and tabs are ignored; anything else that is not
/// exactly an IMF-fixdate with a real calendar date and time is refused
/// (nullopt), as is a date system_clock cannot represent. The obsolete
/// RFC 850 and asctime forms are refused too: neither DynamoDB nor Azure
/// sends them. Independent of the locale and the time zone.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

} // namespace sds::detail
