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
    case 'd': case 'e': case 'j': case 'u': case 'w': return period::day;
    case 'U': case 'W': case 'V': return period::week;
    case 'm': return period::month;
    case 'Y': case 'y': case 'C': case 'G': case 'g': return period::year;
    default:
        throw error(errc::invalid_argument, "table name pattern '" + std::string(pattern) + "': %" + std::string(1, c) +
                                                " is not supported (use %Y %m %d %H %M %S %j %U %W %V %G %g %u %w %e %C %y)");
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
    const std::time_t t = system_clock::to_time_t(floor<seconds>(at));
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
    switch (finest_period(pattern)) {
    case period::second: return at - seconds(1);
    case period::minute: return at - minutes(1);
    case period::hour: return at - hours(1);
    case period::day: return at - days(1);
    case period::week: return at - weeks(1);
    case period::month:
    case period::year: {
        // Calendar arithmetic: the same instant a month (year) earlier, with
        // the day clamped to the shorter month.
        const auto day_point = floor<days>(at);
        year_month_day ymd{day_point};
        const auto time_of_day = at - day_point;
        year_month_day earlier = finest_period(pattern) == period::month ? ymd - months(1) : ymd - years(1);
        if (!earlier.ok()) earlier = earlier.year() / earlier.month() / last;
        return sys_days(earlier) + time_of_day;
    }
    }
    return at;
}

} // namespace sds::detail
