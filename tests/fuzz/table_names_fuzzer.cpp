// The time-series table name resolver (src/table_names.hpp), as the
// datastore uses it for every operation on a pattern: resolve at `at`, and
// for reads the previous slice too. A name or sds::error(invalid_argument);
// the previous slice lies before `at`; a pattern without conversions that
// change (only "%%") has no other slice.
//
// Input: the first line is `at` in seconds since 1970 (decimal, may be
// negative), the rest is the pattern.
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "table_names.hpp"

#include <sds/error.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono;
    using namespace sds::detail;
    using sds::fuzz::finding;
    std::string_view pattern = sds::fuzz::text_of(data, size);
    const std::string_view first = sds::fuzz::next_line(pattern);
    std::int64_t secs = 0;
    std::from_chars(first.data(), first.data() + first.size(), secs);
    // Every instant a system_clock::time_point can hold (nanoseconds: about
    // 292 years either side of 1970).
    constexpr std::int64_t limit = duration_cast<seconds>(system_clock::duration::max()).count();
    const system_clock::time_point at{seconds(std::clamp(secs, -limit, limit))};

    if (is_time_series(pattern) != (pattern.find('%') != std::string_view::npos)) finding("is_time_series is wrong");
    std::string name;
    try {
        name = resolve_table_name(pattern, at);
    } catch (const sds::error& e) {
        if (e.condition() != sds::errc::invalid_argument) finding(std::string("unexpected error: ") + e.what());
        return 0;
    }
    if (name.size() > 1024) finding("a resolved name over 1024 bytes");
    if (resolve_table_name(pattern, at) != name) finding("resolving twice gives two names");
    try {
        const auto before = previous_slice(pattern, at);
        if (before >= at) finding("the previous slice is not before the time given");
        (void)resolve_table_name(pattern, before);
    } catch (const sds::error& e) {
        if (e.condition() != sds::errc::invalid_argument) finding(std::string("unexpected error: ") + e.what());
    }
    return 0;
}
