// Time-series table names: which strftime conversions a pattern may use, what
// a pattern resolves to in UTC, and which earlier slice reads fall back to.
#include <catch2/catch.hpp>

#include "support/closed_port.hpp"
#include "support/run.hpp"
#include "table_names.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono;
using namespace std::chrono_literals;

using sds::test::expect_error;
using sds::test::datastore_error;

namespace {

system_clock::time_point utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
    return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

// Thursday 5 March 2026, 07:08:09 UTC: day 064, Sunday-week 09, ISO week 10.
const system_clock::time_point march_5 = utc(2026, 3, 5, 7, 8, 9);


errc resolve_error(std::string_view pattern) {
    return expect_error([&] { resolve_table_name(pattern, march_5); }).condition();
}

// The name a read falls back to: the pattern at its previous slice.
std::string previous_name(std::string_view pattern, system_clock::time_point at) {
    return resolve_table_name(pattern, previous_slice(pattern, at));
}


} // namespace

TEST_CASE("a daily pattern resolves to the UTC date", "[table_names]") {
    CHECK(resolve_table_name("events_%Y%m%d", march_5) == "events_20260305");
    CHECK(resolve_table_name("events_%Y-%m-%d", utc(1999, 12, 31, 23, 59, 59)) == "events_1999-12-31");
}

TEST_CASE("hour, minute, second and day-of-year conversions resolve in UTC", "[table_names]") {
    CHECK(resolve_table_name("t_%H", march_5) == "t_07");
    CHECK(resolve_table_name("t_%H%M%S", march_5) == "t_070809");
    CHECK(resolve_table_name("t_%Y%j", march_5) == "t_2026064");
    CHECK(resolve_table_name("t_%j", utc(2026, 1, 1)) == "t_001");
    CHECK(resolve_table_name("t_%j", utc(2024, 12, 31)) == "t_366");
}

TEST_CASE("a resolved name does not depend on the sub-second part of the time", "[table_names]") {
    CHECK(resolve_table_name("t_%H%M%S", march_5 + 999ms) == "t_070809");
}

TEST_CASE("week conversions resolve to Sunday, Monday and ISO week numbers", "[table_names]") {
    CHECK(resolve_table_name("t_%Y_%U", march_5) == "t_2026_09");
    CHECK(resolve_table_name("t_%Y_%W", march_5) == "t_2026_09");
    CHECK(resolve_table_name("t_%G_%V", march_5) == "t_2026_10");
    // 29 December 2025 is in ISO week 1 of 2026.
    CHECK(resolve_table_name("t_%G_%V", utc(2025, 12, 29, 12)) == "t_2026_01");
    CHECK(resolve_table_name("t_%g%V", utc(2025, 12, 29, 12)) == "t_2601");
    // 1 January 2026 is before the first Sunday and the first Monday.
    CHECK(resolve_table_name("t_%Y_%U", utc(2026, 1, 1)) == "t_2026_00");
    CHECK(resolve_table_name("t_%Y_%W", utc(2026, 1, 1)) == "t_2026_00");
}

TEST_CASE("the remaining allowed conversions resolve as strftime gives them", "[table_names]") {
    CHECK(resolve_table_name("t_%y%C", march_5) == "t_2620");
    CHECK(resolve_table_name("t_%u%w", march_5) == "t_44");
    CHECK(resolve_table_name("t_%u%w", utc(2026, 1, 4)) == "t_70");  // a Sunday
}

TEST_CASE("a doubled percent sign is a literal percent sign", "[table_names]") {
    CHECK(resolve_table_name("%%", march_5) == "%");
    CHECK(resolve_table_name("a%%b_%Y", march_5) == "a%b_2026");
    CHECK(resolve_table_name("100%%%d", march_5) == "100%05");
    CHECK(is_time_series("%%"));
}

TEST_CASE("a pattern without conversions resolves to itself", "[table_names]") {
    CHECK_FALSE(is_time_series("plain_table"));
    CHECK(resolve_table_name("plain_table", march_5) == "plain_table");
}

TEST_CASE("conversions that are locale-dependent, zoned or not a date are invalid_argument", "[table_names]") {
    for (const char* pattern : {"t_%a", "t_%A", "t_%b", "t_%B", "t_%h", "t_%c", "t_%x", "t_%X", "t_%Z", "t_%z", "t_%s",
                                "t_%p", "t_%D", "t_%F", "t_%T", "t_%R", "t_%n", "t_%t", "t_%Ey", "t_%Od", "t_%Y%Q"}) {
        INFO(pattern);
        CHECK(resolve_error(pattern) == errc::invalid_argument);
    }
}

TEST_CASE("a refused conversion is named in the message", "[table_names]") {
    const auto e = expect_error([] { resolve_table_name("events_%a", march_5); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("%a"));
}

TEST_CASE("a pattern ending in a lone percent sign is invalid_argument", "[table_names]") {
    CHECK(resolve_error("events_%Y%") == errc::invalid_argument);
    CHECK(resolve_error("%") == errc::invalid_argument);
    CHECK(resolve_error("t%%%") == errc::invalid_argument);
    const auto e = expect_error([] { previous_slice("events_%", march_5); });
    CHECK(e.condition() == errc::invalid_argument);
}

TEST_CASE("previous_slice refuses the conversions resolve_table_name refuses", "[table_names]") {
    const auto e = expect_error([] { previous_slice("t_%Y%b", march_5); });
    CHECK(e.condition() == errc::invalid_argument);
}

TEST_CASE("a name longer than 1024 bytes once resolved is invalid_argument", "[table_names]") {
    std::string pattern;
    for (int i = 0; i < 260; ++i) pattern += "%Y";  // 1040 bytes
    CHECK(resolve_error(pattern) == errc::invalid_argument);
    std::string fits;
    for (int i = 0; i < 256; ++i) fits += "%Y";  // exactly 1024 bytes
    CHECK(resolve_table_name(fits, march_5).size() == 1024);
}

TEST_CASE("the previous slice is one period of the finest conversion earlier", "[table_names]") {
    CHECK(previous_name("t_%Y%m%d%H%M%S", march_5) == resolve_table_name("t_%Y%m%d%H%M%S", march_5 - 1s));
    CHECK(previous_name("t_%Y%m%d%H%M", march_5) == resolve_table_name("t_%Y%m%d%H%M", march_5 - 1min));
    CHECK(previous_name("t_%Y%m%d%H", march_5) == resolve_table_name("t_%Y%m%d%H", march_5 - 1h));
    CHECK(previous_name("t_%H", march_5) == resolve_table_name("t_%H", march_5 - 1h));
    CHECK(previous_name("t_%Y%m%d", march_5) == resolve_table_name("t_%Y%m%d", march_5 - days(1)));
    CHECK(previous_name("t_%Y%j", march_5) == resolve_table_name("t_%Y%j", march_5 - days(1)));
    CHECK(previous_name("t_%u", march_5) == resolve_table_name("t_%u", march_5 - days(1)));
    CHECK(previous_name("t_%Y%U", march_5) == resolve_table_name("t_%Y%U", march_5 - weeks(1)));
    CHECK(previous_name("t_%G%V", march_5) == resolve_table_name("t_%G%V", march_5 - weeks(1)));
    CHECK(previous_name("t_%Y%m", march_5) == resolve_table_name("t_%Y%m", utc(2026, 2, 5, 7, 8, 9)));
    CHECK(previous_name("t_%Y", march_5) == resolve_table_name("t_%Y", utc(2025, 3, 5, 7, 8, 9)));
}

TEST_CASE("the previous slice gives the previous name for each period", "[table_names]") {
    CHECK(previous_name("t_%Y%m%d%H%M%S", utc(2026, 1, 1)) == "t_20251231235959");
    CHECK(previous_name("t_%Y%m%d%H", utc(2026, 1, 1)) == "t_2025123123");
    CHECK(previous_name("events_%Y%m%d", utc(2026, 3, 1, 5)) == "events_20260228");
    CHECK(previous_name("events_%Y%m%d", utc(2024, 3, 1, 5)) == "events_20240229");
    CHECK(previous_name("t_%G_%V", march_5) == "t_2026_09");
    CHECK(previous_name("t_%G_%V", utc(2026, 1, 1)) == "t_2025_52");
    CHECK(previous_name("t_%Y_%m", march_5) == "t_2026_02");
    CHECK(previous_name("t_%Y", march_5) == "t_2025");
}

TEST_CASE("a monthly slice steps back across a year boundary", "[table_names]") {
    CHECK(previous_name("t_%Y%m", utc(2026, 1, 15, 10, 30)) == resolve_table_name("t_%Y%m", utc(2025, 12, 15, 10, 30)));
    CHECK(previous_name("t_%Y%m", utc(2026, 1, 15, 10, 30)) == "t_202512");
    CHECK(previous_name("t_%Y%m", utc(2026, 1, 31, 23, 59, 59)) == "t_202512");
}

TEST_CASE("a monthly slice clamps the day to the end of a shorter month", "[table_names]") {
    CHECK(previous_name("t_%Y%m", utc(2026, 3, 31, 12)) == resolve_table_name("t_%Y%m", utc(2026, 2, 28, 12)));
    CHECK(previous_name("t_%Y%m", utc(2024, 3, 31, 12)) == resolve_table_name("t_%Y%m", utc(2024, 2, 29, 12)));
    CHECK(previous_name("t_%Y%m", utc(2026, 5, 31)) == resolve_table_name("t_%Y%m", utc(2026, 4, 30)));
    CHECK(previous_name("t_%Y%m", utc(2026, 3, 31, 12)) == "t_202602");
}

TEST_CASE("a yearly slice steps back a calendar year and clamps 29 February", "[table_names]") {
    CHECK(previous_name("t_%Y", utc(2024, 2, 29, 6)) == resolve_table_name("t_%Y", utc(2023, 2, 28, 6)));
    CHECK(previous_name("t_%y", utc(2026, 1, 1)) == resolve_table_name("t_%y", utc(2025, 1, 1)));
    CHECK(previous_name("t_%Y", utc(2026, 1, 1)) == "t_2025");
}

TEST_CASE("a pattern without conversions has a year as its period", "[table_names]") {
    CHECK(previous_name("plain", march_5) == resolve_table_name("plain", utc(2025, 3, 5, 7, 8, 9)));
    CHECK(previous_name("%%", march_5) == resolve_table_name("%%", utc(2025, 3, 5, 7, 8, 9)));
}

// With %Y, %U weeks are cut at the year boundary: week 00 of 2026 is 1-3
// January and the slice before it is week 52 of 2025 (28-31 December), not
// the week 7 days earlier.
TEST_CASE("the slice before the first partial week of a year is the last week of the year before",
          "[table_names]") {
    CHECK(previous_name("t_%Y_%U", utc(2026, 1, 1, 12)) == "t_2025_52");
}

// One week later: before week 01 of 2026 comes the partial week 00 (1-3
// January), not week 52 of 2025.
TEST_CASE("the slice before the first full week of a year is the partial week 00", "[table_names]") {
    CHECK(previous_name("t_%Y_%U", utc(2026, 1, 4, 12)) == "t_2026_00");
}

// %e pads days 1 to 9 with a space, which no table name may hold: a pattern
// that worked from the 10th and failed on the 1st would be a trap, so %e is
// refused on every day.
TEST_CASE("%e is refused on every day, not only on the days it pads with a space", "[table_names]") {
    for (int day : {5, 15}) {
        const auto e = datastore_error([day](sds::datastore& db) {
            return db.set_data("day%e", "k", "v", {.at = utc(2026, 3, day), .timeout = 2000ms});
        });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(e.diag().attempts == 0);
    }
}

TEST_CASE("a pattern resolving to a name DynamoDB refuses is invalid_argument before anything is sent",
          "[table_names]") {
    SECTION("too short once resolved") {
        const auto e = datastore_error([](sds::datastore& db) { return db.get_data("%d", "k", {.at = march_5}); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(e.diag().attempts == 0);
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("'05'"));
    }
    SECTION("a literal percent sign") {
        const auto e = datastore_error(
            [](sds::datastore& db) { return db.set_data("t%%_%Y", "k", "v", {.at = march_5}); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(e.diag().attempts == 0);
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("t%_2026"));
    }
    SECTION("an unsupported conversion") {
        const auto e = datastore_error([](sds::datastore& db) { return db.incr("events_%b", "hits", {}); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(e.diag().attempts == 0);
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("%b"));
    }
    SECTION("a previous slice that is too short, for a read that falls back") {
        // "%M" gives "59" now and "58" a minute earlier: both refused.
        const auto e = datastore_error([](sds::datastore& db) {
            return db.get_count("%M", "hits", {.at = utc(2026, 3, 5, 7, 59)});
        });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(e.diag().attempts == 0);
    }
}

TEST_CASE("a pattern resolving to a valid name passes to the network", "[table_names]") {
    // "x%y" gives "x26", three characters: valid, so the attempt reaches the
    // closed port and fails there.
    const auto e = datastore_error(
        [](sds::datastore& db) { return db.get_data("x%y", "k", {.at = march_5, .timeout = 2000ms}); });
    CHECK(e.condition() != errc::invalid_argument);
    CHECK((e.condition() == errc::network_error || e.condition() == errc::timeout));
}
