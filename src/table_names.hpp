// Time-series table names: "events_%Y%m%d" is a table per UTC day.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sds::detail {

/// True when `pattern` holds strftime conversions ('%').
bool is_time_series(std::string_view pattern) noexcept;

/// `pattern` formatted with strftime in UTC at `at`. Only conversions that
/// depend on the date and time and give stable, unpadded-by-space text are
/// allowed (%Y %y %C %m %d %j %H %M %S %U %W %V %G %g %u %w %%); anything
/// else (locale names, time zones, %e's space padding), and a result longer
/// than 1024 bytes, is errc::invalid_argument.
std::string resolve_table_name(std::string_view pattern, std::chrono::system_clock::time_point at);

/// An instant in the slice before the one containing `at`: the latest whole
/// step (finer than the pattern's finest unit) before `at` at which the
/// pattern resolves to another name. Exact at the edges where slices are cut
/// short (week 00 of %U at the start of a year, months of different lengths).
/// Throws errc::invalid_argument as resolve_table_name does, and for an `at`
/// so close to 1677 that the slice before it is not representable.
std::chrono::system_clock::time_point previous_slice(std::string_view pattern, std::chrono::system_clock::time_point at);

} // namespace sds::detail
