// Time-series table names: "events_%Y%m%d" is a table per UTC day.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sds::detail {

/// True when `pattern` holds strftime conversions ('%').
bool is_time_series(std::string_view pattern) noexcept;

/// `pattern` formatted with strftime in UTC at `at`. Only conversions that
/// depend on the date and time and give stable text are allowed (%Y %y %C %m
/// %d %e %j %H %M %S %U %W %V %G %g %u %w %%); anything else, and a result
/// longer than 1024 bytes, is errc::invalid_argument.
std::string resolve_table_name(std::string_view pattern, std::chrono::system_clock::time_point at);

/// The start of the slice before the one containing `at`: one period
/// earlier, where the period is the finest unit the pattern names (second,
/// minute, hour, day, week, month or year; calendar months and years).
std::chrono::system_clock::time_point previous_slice(std::string_view pattern, std::chrono::system_clock::time_point at);

} // namespace sds::detail
