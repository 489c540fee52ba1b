#include "table_names.hpp"

#include <sds/error.hpp>

#include <ctime>

namespace sds::detail {
namespace {

using namespace std::chrono;

enum class period { second, minute, hour, day, week, month, year };

// The finest period a conversion names; throws for conversions sds refuses
// (locale-dependent names, time zones, whole-date shorthands).
period period_of(char c, std::string_view pattern) {
    switch (c) {
    case 'S': return period::second;
    case 'M': return period::minute;
    case 'H': return period::hour;
    case 'd': case 'j': case 'u': case 'w': return period::day;
    case 'U': case 'W': case 'V': return period::week;
    case 'm': return period::month;
    case 'Y': case 'y': case 'C': case 'G': case 'g': return period::year;
    default:
        throw error(errc::invalid_argument, "table name pattern '" + std::string(pattern) + "': %" + std::string(1, c) +
                                                " is not supported (use %Y %m %d %H %M %S %j %U %W %V %G %g %u %w %C %y)");
    }
}

// The finest period of the pattern, or nullopt-like year when none.
period finest_period(std::string_view pattern) {
    period finest = period::year;
    bool any = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '%') continue;
        if (i + 1 >= pattern.size())
            throw error(errc::invalid_argument, "table name pattern '" + std::string(pattern) + "' ends with '%'");
        const char c = pattern[++i];
        if (c == '%') continue;
        const period p = period_of(c, pattern);
        if (!any || p < finest) finest = p;
        any = true;
    }
    return finest;
}

constexpr std::size_t max_resolved_length = 1024;

} // namespace

bool is_time_series(std::string_view pattern) noexcept { return pattern.find('%') != std::string_view::npos; }

std::string resolve_table_name(std::string_view pattern, system_clock::time_point at) {
    finest_period(pattern);  // validates every conversion
    const std::time_t t = floor<seconds>(at.time_since_epoch()).count();
    std::tm tm{};
    if (!gmtime_r(&t, &tm)) throw error(errc::invalid_argument, "time out of range for a table name");
    std::string out(max_resolved_length + 1, '\0');
    const std::string fmt(pattern);
    const std::size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
    if (n == 0 && !pattern.empty())
        throw error(errc::invalid_argument, "table name pattern '" + fmt + "' resolves to nothing or to over 1024 bytes");
    out.resize(n);
    return out;
}

system_clock::time_point previous_slice(std::string_view pattern, system_clock::time_point at) {
    // Walk back in steps finer than the period until the name changes: that
    // instant lies in the previous slice. Fixed arithmetic (a week is 7 days)
    // would be wrong where slices are cut short, as %U weeks are at the turn
    // of a year.
    seconds step{1};
    int max_steps = 1;
    switch (finest_period(pattern)) {
    case period::second: step = seconds(1); max_steps = 1; break;
    case period::minute: step = seconds(1); max_steps = 60; break;
    case period::hour: step = minutes(1); max_steps = 60; break;
    case period::day: step = hours(1); max_steps = 24; break;
    case period::week: step = hours(1); max_steps = 7 * 24; break;
    case period::month: step = hours(1); max_steps = 31 * 24; break;
    case period::year: step = days(1); max_steps = 366; break;
    }
    const auto start = floor<seconds>(at);
    // The walk must stay within what a system_clock::time_point can hold
    // (nanoseconds: back to 1677).
    constexpr auto earliest = duration_cast<seconds>(system_clock::duration::min());
    if (start.time_since_epoch() - earliest < max_steps * step)
        throw error(errc::invalid_argument, "time out of range for a table name");
    const std::string current = resolve_table_name(pattern, start);
    for (int k = 1; k <= max_steps; ++k) {
        const auto earlier = start - k * step;
        if (resolve_table_name(pattern, earlier) != current) return earlier;
    }
    // No conversion changes the name (e.g. only %%): there is no other slice.
    return start - max_steps * step;
}

} // namespace sds::detail
