#include <catch2/catch.hpp>

#include "retry/clock_skew.hpp"
#include "retry/http_date.hpp"

#include <atomic>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using sds::detail::clock_skew;
using sds::detail::parse_http_date;
using std::chrono::system_clock;

namespace {

system_clock::time_point at(std::int64_t unix_seconds) {
    return system_clock::time_point{std::chrono::seconds{unix_seconds}};
}

// Wed, 21 Oct 2015 07:28:00 GMT
constexpr std::int64_t t2015 = 1445412480;

} // namespace

// --- HTTP dates ---------------------------------------------------------------

TEST_CASE("IMF-fixdates parse to the right instant", "[skew]") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == at(784111777));
    CHECK(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT") == at(t2015));
    CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == at(0));
    CHECK(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT") == at(1709251199));
    CHECK(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT") == at(-1));
}

TEST_CASE("an IMF-fixdate may be surrounded by spaces and tabs", "[skew]") {
    CHECK(parse_http_date("  Wed, 21 Oct 2015 07:28:00 GMT\t") == at(t2015));
}

TEST_CASE("a leap second reads as the following second", "[skew]") {
    CHECK(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == at(1483228800));  // Sun, 01 Jan 2017 00:00:00
}

TEST_CASE("the day name is checked for form but not against the date", "[skew]") {
    CHECK(parse_http_date("Mon, 21 Oct 2015 07:28:00 GMT") == at(t2015));
    CHECK_FALSE(parse_http_date("Xyz, 21 Oct 2015 07:28:00 GMT"));
}

TEST_CASE("malformed HTTP dates are refused", "[skew]") {
    for (const std::string bad : {
             "",
             "   ",
             "garbage",
             "Wed, 21 Oct 2015 07:28:00",          // no zone
             "Wed, 21 Oct 2015 07:28:00 UTC",      // only GMT is allowed
             "Wed, 21 Oct 2015 07:28:00 gmt",
             "Wed, 21 Oct 2015 07:28:00 +0000",
             "Wed, 21 Oct 2015 07:28:00 GMTX",
             "wed, 21 Oct 2015 07:28:00 GMT",      // names are case-sensitive
             "Wed, 21 oct 2015 07:28:00 GMT",
             "Wed, 21 Okt 2015 07:28:00 GMT",
             "Wed, 1 Oct 2015 07:28:00 GMT",       // two-digit day required
             "Wed, 21 Oct 15 07:28:00 GMT",
             "Wed, 21 Oct 2015 7:28:00 GMT",
             "Wed,21 Oct 2015 07:28:00 GMT ",
             "Wed, 21 Oct 2015 07:28:00  GMT",
             "Wed, 21-Oct-2015 07:28:00 GMT",
             "Wed, 21 Oct 2015 07-28-00 GMT",
             "Wed, 2a Oct 2015 07:28:00 GMT",
             "Wed, 21 Oct 20x5 07:28:00 GMT",
             "Wed, -1 Oct 2015 07:28:00 GMT",
             "Wed, 00 Oct 2015 07:28:00 GMT",      // no day 0
             "Wed, 32 Oct 2015 07:28:00 GMT",
             "Wed, 31 Apr 2015 07:28:00 GMT",      // April has 30 days
             "Wed, 29 Feb 2023 07:28:00 GMT",      // 2023 is not a leap year
             "Wed, 29 Feb 1900 07:28:00 GMT",      // nor is 1900
             "Wed, 21 Oct 2015 24:00:00 GMT",
             "Wed, 21 Oct 2015 07:60:00 GMT",
             "Wed, 21 Oct 2015 07:28:61 GMT",
             "Wednesday, 21-Oct-15 07:28:00 GMT",  // RFC 850, obsolete
             "Wed Oct 21 07:28:00 2015",           // asctime, obsolete
             "2015-10-21T07:28:00Z",
             "1445412480",
         }) {
        CAPTURE(bad);
        CHECK_FALSE(parse_http_date(bad));
    }
    CHECK_FALSE(parse_http_date(std::string("Wed, 21 Oct 2015 07:28:00 GMT\0", 30)));
    CHECK_FALSE(parse_http_date(std::string("Wed, 21 Oct 2015\0 7:28:00 GMT", 29)));
}

TEST_CASE("a date system_clock cannot hold is refused rather than overflowing", "[skew]") {
    const auto far = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT");
    const auto early = parse_http_date("Sat, 01 Jan 0000 00:00:00 GMT");
    if constexpr (std::is_same_v<system_clock::duration, std::chrono::nanoseconds>) {
        CHECK_FALSE(far);   // nanoseconds since 1970 end in 2262
        CHECK_FALSE(early);
    } else {
        CHECK(far);
    }
    CHECK(parse_http_date("Fri, 01 Jan 2100 00:00:00 GMT") == at(4102444800));
}

TEST_CASE("HTTP dates parse the same whatever the C locale", "[skew]") {
    const std::string saved = std::setlocale(LC_ALL, nullptr);
    for (const char* locale : {"de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8", "C"}) {
        if (!std::setlocale(LC_ALL, locale)) continue;
        CAPTURE(locale);
        CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == at(784111777));
    }
    std::setlocale(LC_ALL, saved.c_str());
}

// --- clock skew ---------------------------------------------------------------

TEST_CASE("a clock_skew starts with no offset", "[skew]") {
    const clock_skew skew;
    CHECK(skew.offset() == system_clock::duration::zero());
    const auto before = system_clock::now();
    const auto now = skew.now();
    const auto after = system_clock::now();
    CHECK(before <= now);
    CHECK(now <= after);
}

TEST_CASE("a server clock minutes ahead is recorded and reported as a change", "[skew]") {
    clock_skew skew;
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 5min));
    CHECK(skew.offset() == 5min);
    // The same skew seen again is no news.
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 5min));
    CHECK(skew.offset() == 5min);
}

TEST_CASE("a server clock behind the local one gives a negative offset", "[skew]") {
    clock_skew skew;
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) + 10min + 500ms));
    CHECK(skew.offset() == -(10min + 500ms));
}

TEST_CASE("offsets under a minute count as no skew", "[skew]") {
    clock_skew skew;
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 59s - 999ms));
    CHECK(skew.offset() == system_clock::duration::zero());
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) + 30s));
    CHECK(skew.offset() == system_clock::duration::zero());
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 1min));
    CHECK(skew.offset() == 1min);
}

TEST_CASE("a skew that goes away resets the offset to zero", "[skew]") {
    clock_skew skew;
    REQUIRE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 7min));
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 2s));
    CHECK(skew.offset() == system_clock::duration::zero());
}

TEST_CASE("small drifts of a recorded skew are tracked without reporting a change", "[skew]") {
    clock_skew skew;
    REQUIRE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 5min));
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:02 GMT", at(t2015) - 5min));
    CHECK(skew.offset() == 5min + 2s);
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 20min));
    CHECK(skew.offset() == 20min);
    CHECK(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) + 20min));
    CHECK(skew.offset() == -20min);
}

TEST_CASE("an unreadable Date header leaves the offset alone", "[skew]") {
    clock_skew skew;
    REQUIRE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", at(t2015) - 5min));
    for (const auto bad : {"", "yesterday", "Wed, 21 Oct 2015 07:28:00 UTC", "Wed, 21 Oct 2015 07:28:00"}) {
        CAPTURE(bad);
        CHECK_FALSE(skew.observe(bad, at(t2015)));
        CHECK(skew.offset() == 5min);
    }
}

TEST_CASE("an absurd distance between the clocks is ignored rather than overflowing", "[skew]") {
    clock_skew skew;
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", system_clock::time_point::min()));
    CHECK_FALSE(skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", system_clock::time_point::max()));
    CHECK(skew.offset() == system_clock::duration::zero());
}

TEST_CASE("now() is the local time shifted by the recorded offset", "[skew]") {
    clock_skew skew;
    const auto local = system_clock::now();
    // A Date header 3 hours ahead of the local clock, to the second.
    const auto server = std::chrono::floor<std::chrono::seconds>(local) + 3h;
    const auto days = std::chrono::floor<std::chrono::days>(server);
    const std::chrono::year_month_day ymd{days};
    const std::chrono::hh_mm_ss hms{server - days};
    const std::chrono::weekday wd{days};
    static const char* const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char header[64];
    std::snprintf(header, sizeof header, "%s, %02u %s %04d %02d:%02d:%02d GMT", day_names[wd.c_encoding()],
                  static_cast<unsigned>(ymd.day()), month_names[static_cast<unsigned>(ymd.month()) - 1],
                  static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    REQUIRE(skew.observe(header, local));
    CHECK(skew.offset() == server - local);

    const auto before = system_clock::now() + skew.offset();
    const auto now = skew.now();
    const auto after = system_clock::now() + skew.offset();
    CHECK(before <= now);
    CHECK(now <= after);
}

TEST_CASE("concurrent observations leave one of the observed offsets, never a torn one", "[skew]") {
    clock_skew skew;
    std::atomic<int> torn{0};  // Catch's assertions are not thread-safe: count, then check
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&skew, &torn, t] {
            const auto local = at(t2015) - std::chrono::minutes{5 * (t + 1)};
            for (int i = 0; i < 5000; ++i) {
                skew.observe("Wed, 21 Oct 2015 07:28:00 GMT", local);
                const auto seen = skew.offset();
                if (seen != 5min && seen != 10min && seen != 15min && seen != 20min) ++torn;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(torn == 0);
    const auto last = skew.offset();
    CHECK((last == 5min || last == 10min || last == 15min || last == 20min));
}
