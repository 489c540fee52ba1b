#include "retry/http_date.hpp"

#include <array>
#include <cstddef>

namespace sds::detail {
namespace {

// IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
//             = "Sun, 06 Nov 1994 08:49:37 GMT", always 29 characters.
constexpr std::size_t imf_fixdate_length = 29;

constexpr std::array<std::string_view, 7> day_names{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads `count` ASCII digits at `pos`; -1 if any is not a digit.
int digits(std::string_view s, std::size_t pos, std::size_t count) {
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (!is_digit(s[i])) return -1;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
    using namespace std::chrono;
    const std::string_view s = trim(text);
    if (s.size() != imf_fixdate_length) return std::nullopt;

    // Day and month names are case-sensitive (RFC 9110). The day name is
    // redundant with the date, so it is checked for form only.
    bool day_ok = false;
    for (const auto name : day_names) day_ok = day_ok || s.substr(0, 3) == name;
    if (!day_ok || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return std::nullopt;

    unsigned month_index = 0;
    while (month_index < month_names.size() && s.substr(8, 3) != month_names[month_index]) ++month_index;
    if (month_index == month_names.size()) return std::nullopt;

    const int day = digits(s, 5, 2);
    const int year_value = digits(s, 12, 4);
    const int hour = digits(s, 17, 2);
    const int minute = digits(s, 20, 2);
    const int second = digits(s, 23, 2);
    if (day < 0 || year_value < 0 || hour < 0 || minute < 0 || second < 0) return std::nullopt;
    // RFC 9110 allows second 60 for a leap second; it reads as the next second.
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;

    const year_month_day date{year{year_value}, month{month_index + 1}, std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok()) return std::nullopt;

    // Years 0000-9999 fit in seconds, but not always in system_clock's own
    // duration (nanoseconds in libstdc++: years 1678-2261).
    const sys_seconds when = sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
    if (when < floor<seconds>(system_clock::time_point::min()) + seconds{1} ||
        when > floor<seconds>(system_clock::time_point::max()))
        return std::nullopt;
    return time_point_cast<system_clock::duration>(when);
}

} // namespace sds::detail
