#include <catch2/catch.hpp>

#include "retry/retry_policy.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using sds::retry_options;
using sds::detail::attempt_outcome;
using sds::detail::failure_kind;
using sds::detail::service_kind;
using std::chrono::milliseconds;

namespace {

std::string name(failure_kind k) {
    switch (k) {
    case failure_kind::success: return "success";
    case failure_kind::throttling: return "throttling";
    case failure_kind::transient: return "transient";
    case failure_kind::network: return "network";
    case failure_kind::final: return "final";
    }
    return "?";
}

failure_kind classify(service_kind service, unsigned status, std::string_view code = {}) {
    attempt_outcome o;
    o.http_status = status;
    o.service_code = code;
    return sds::detail::classify(service, o);
}

// A deterministic jitter source: the same fraction-of-53-bits mapping as the
// default one, from a fixed seed.
sds::detail::jitter_source seeded_jitter(std::uint64_t seed) {
    return [engine = std::mt19937_64{seed}]() mutable { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };
}

sds::detail::jitter_source constant_jitter(double u) {
    return [u] { return u; };
}

// min(cap, base * 2^(n-1)) computed independently, in long double.
std::int64_t expected_ceiling(milliseconds base, milliseconds cap, unsigned n) {
    const long double v = static_cast<long double>(base.count()) * std::pow(2.0L, static_cast<long double>(n - 1));
    return v >= static_cast<long double>(cap.count()) ? cap.count() : static_cast<std::int64_t>(v);
}

const std::vector<std::string_view> aws_throttling_codes{
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "EC2ThrottledException"};

const std::vector<std::string_view> aws_transient_codes{
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "InternalServerError", "InternalFailure", "ServiceUnavailable"};

const std::vector<std::string_view> aws_skew_codes{"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
                                                   "InvalidSignatureException"};

} // namespace

// --- classification ---------------------------------------------------------

TEST_CASE("AWS throttling error codes are throttling whatever the status", "[retry]") {
    for (const auto code : aws_throttling_codes)
        for (const unsigned status : {400u, 429u, 500u, 503u}) {
            CAPTURE(code, status);
            CHECK(name(classify(service_kind::aws, status, code)) == "throttling");
        }
}

TEST_CASE("AWS transient error codes are transient whatever the status", "[retry]") {
    for (const auto code : aws_transient_codes)
        for (const unsigned status : {400u, 500u, 503u}) {
            CAPTURE(code, status);
            CHECK(name(classify(service_kind::aws, status, code)) == "transient");
        }
}

TEST_CASE("AWS clock skew errors are retried only after the clock was corrected", "[retry]") {
    for (const auto code : aws_skew_codes) {
        CAPTURE(code);
        attempt_outcome o;
        o.http_status = 400;
        o.service_code = code;
        CHECK(name(sds::detail::classify(service_kind::aws, o)) == "final");
        o.skew_corrected = true;
        CHECK(name(sds::detail::classify(service_kind::aws, o)) == "transient");
    }
}

TEST_CASE("AWS HTTP statuses alone classify a response without a known code", "[retry]") {
    const std::vector<std::pair<unsigned, std::string>> table{
        {200, "success"},    {201, "success"},   {204, "success"},   {299, "success"},   {429, "throttling"},
        {500, "transient"},  {502, "transient"}, {503, "transient"}, {504, "transient"}, {100, "final"},
        {301, "final"},      {304, "final"},     {400, "final"},     {401, "final"},     {403, "final"},
        {404, "final"},      {408, "final"},     {409, "final"},     {412, "final"},     {413, "final"},
        {501, "final"},      {505, "final"},     {0, "final"},
    };
    for (const auto& [status, kind] : table) {
        CAPTURE(status);
        CHECK(name(classify(service_kind::aws, status)) == kind);
    }
}

TEST_CASE("AWS errors that retrying cannot fix are final", "[retry]") {
    for (const auto code : {"ConditionalCheckFailedException", "ResourceNotFoundException", "ValidationException",
                            "AccessDeniedException", "UnrecognizedClientException", "ResourceInUseException",
                            "SerializationException", "ItemCollectionSizeLimitExceededException",
                            "TransactionConflictException"}) {
        CAPTURE(code);
        CHECK(name(classify(service_kind::aws, 400, code)) == "final");
    }
}

TEST_CASE("AWS error codes are matched exactly and case-sensitively", "[retry]") {
    CHECK(name(classify(service_kind::aws, 400, "throttlingexception")) == "final");
    CHECK(name(classify(service_kind::aws, 400, "ThrottlingException ")) == "final");
    CHECK(name(classify(service_kind::aws, 400, "MyThrottlingException")) == "final");
    CHECK(name(classify(service_kind::aws, 400, "")) == "final");
}

TEST_CASE("a connection failure or timeout is a network failure on both services", "[retry]") {
    for (const auto service : {service_kind::aws, service_kind::azure}) {
        attempt_outcome failed;
        failed.network_failure = true;
        CHECK(name(sds::detail::classify(service, failed)) == "network");

        attempt_outcome timed_out;
        timed_out.timed_out = true;
        CHECK(name(sds::detail::classify(service, timed_out)) == "network");

        // A response that started arriving but broke off is still a network failure.
        attempt_outcome partial;
        partial.http_status = 200;
        partial.network_failure = true;
        CHECK(name(sds::detail::classify(service, partial)) == "network");
    }
}

TEST_CASE("Azure classifies by status, with ServerBusy on 503 as throttling", "[retry]") {
    const std::vector<std::tuple<unsigned, std::string_view, std::string>> table{
        {200, "", "success"},
        {201, "", "success"},
        {204, "", "success"},
        {408, "", "transient"},
        {429, "", "throttling"},
        {503, "ServerBusy", "throttling"},
        {503, "", "transient"},
        {503, "ServiceUnavailable", "transient"},
        {500, "", "transient"},
        {500, "OperationTimeout", "transient"},
        {500, "InternalError", "transient"},
        {502, "", "transient"},
        {504, "", "transient"},
        {400, "InvalidInput", "final"},
        {403, "AuthenticationFailed", "final"},
        {404, "TableNotFound", "final"},
        {404, "ResourceNotFound", "final"},
        {409, "TableAlreadyExists", "final"},
        {409, "EntityAlreadyExists", "final"},
        {412, "UpdateConditionNotSatisfied", "final"},
        {413, "RequestBodyTooLarge", "final"},
        {501, "", "final"},
        {0, "", "final"},
    };
    for (const auto& [status, code, kind] : table) {
        CAPTURE(status, code);
        CHECK(name(classify(service_kind::azure, status, code)) == kind);
    }
}

TEST_CASE("Azure does not take AWS error codes for retryable ones", "[retry]") {
    CHECK(name(classify(service_kind::azure, 400, "ThrottlingException")) == "final");
    CHECK(name(classify(service_kind::azure, 400, "InternalError")) == "final");
    CHECK(name(classify(service_kind::azure, 400, "ServerBusy")) == "final");
    attempt_outcome skewed;
    skewed.http_status = 403;
    skewed.service_code = "RequestTimeTooSkewed";
    skewed.skew_corrected = true;
    CHECK(name(sds::detail::classify(service_kind::azure, skewed)) == "final");
}

TEST_CASE("only throttling, transient and network failures are retryable", "[retry]") {
    CHECK(sds::detail::is_retryable(failure_kind::throttling));
    CHECK(sds::detail::is_retryable(failure_kind::transient));
    CHECK(sds::detail::is_retryable(failure_kind::network));
    CHECK_FALSE(sds::detail::is_retryable(failure_kind::success));
    CHECK_FALSE(sds::detail::is_retryable(failure_kind::final));
}

// --- backoff ----------------------------------------------------------------

TEST_CASE("the backoff ceiling doubles from its base up to max_backoff", "[retry]") {
    const retry_options o;
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 1) == 25ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 2) == 50ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 3) == 100ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::network, 3) == 100ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 10) == 12800ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 11) == 20000ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, 1) == 500ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, 2) == 1000ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, 6) == 16000ms);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, 7) == 20000ms);
}

TEST_CASE("the backoff ceiling matches the formula for retries 1 to 100 without overflowing", "[retry]") {
    const retry_options o;
    for (unsigned n = 1; n <= 100; ++n) {
        CAPTURE(n);
        CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, n).count() ==
              expected_ceiling(o.base_delay, o.max_backoff, n));
        CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, n).count() ==
              expected_ceiling(o.throttle_base_delay, o.max_backoff, n));
    }
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, UINT_MAX) == o.max_backoff);
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::throttling, UINT_MAX) == o.max_backoff);
}

TEST_CASE("the backoff ceiling saturates even when max_backoff is the largest duration", "[retry]") {
    retry_options o;
    o.max_backoff = milliseconds::max();
    o.base_delay = 3ms;
    std::int64_t previous = 0;
    for (unsigned n = 1; n <= 100; ++n) {
        CAPTURE(n);
        const auto c = sds::detail::backoff_ceiling(o, failure_kind::transient, n).count();
        CHECK(c > 0);
        CHECK(c >= previous);  // never wraps around
        CHECK(c == expected_ceiling(o.base_delay, o.max_backoff, n));
        previous = c;
    }
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, UINT_MAX) == milliseconds::max());
    CHECK(sds::detail::backoff(o, failure_kind::transient, UINT_MAX, constant_jitter(0.999999)) <= milliseconds::max());
}

TEST_CASE("retry number 0 is treated like the first retry", "[retry]") {
    const retry_options o;
    CHECK(sds::detail::backoff_ceiling(o, failure_kind::transient, 0) == 25ms);
}

TEST_CASE("success and final failures get no backoff", "[retry]") {
    const retry_options o;
    for (const auto kind : {failure_kind::success, failure_kind::final}) {
        CHECK(sds::detail::backoff_ceiling(o, kind, 3) == 0ms);
        CHECK(sds::detail::backoff(o, kind, 3, constant_jitter(0.9)) == 0ms);
        CHECK(sds::detail::backoff(o, kind, 3) == 0ms);
    }
}

TEST_CASE("zero delays or a zero cap give zero backoff", "[retry]") {
    retry_options o;
    o.base_delay = 0ms;
    CHECK(sds::detail::backoff(o, failure_kind::transient, 50, constant_jitter(0.9)) == 0ms);
    o = retry_options{};
    o.max_backoff = 0ms;
    CHECK(sds::detail::backoff(o, failure_kind::throttling, 5, constant_jitter(0.9)) == 0ms);
    o.max_backoff = milliseconds{-5};
    CHECK(sds::detail::backoff(o, failure_kind::throttling, 5, constant_jitter(0.9)) == 0ms);
}

TEST_CASE("every jittered backoff lies between zero and its ceiling", "[retry]") {
    const retry_options o;
    const auto jitter = seeded_jitter(20240611);
    for (const auto kind : {failure_kind::throttling, failure_kind::transient, failure_kind::network})
        for (unsigned n = 1; n <= 100; ++n) {
            const auto ceiling = sds::detail::backoff_ceiling(o, kind, n);
            for (int draw = 0; draw < 200; ++draw) {
                const auto b = sds::detail::backoff(o, kind, n, jitter);
                if (b < 0ms || b > ceiling) {
                    CAPTURE(name(kind), n, draw, b.count(), ceiling.count());
                    FAIL("backoff out of bounds");
                }
            }
        }
    SUCCEED();
}

TEST_CASE("the jitter fraction maps onto the whole range from zero to the ceiling", "[retry]") {
    const retry_options o;  // transient retry 3: ceiling 100 ms
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(0.0)) == 0ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(0.5)) == 50ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(std::nextafter(1.0, 0.0))) == 100ms);
    CHECK(sds::detail::backoff(o, failure_kind::throttling, 50, constant_jitter(std::nextafter(1.0, 0.0))) ==
          o.max_backoff);
}

TEST_CASE("a jitter source outside the unit interval is clamped into it", "[retry]") {
    const retry_options o;
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(-0.5)) == 0ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(1.0)) == 100ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3, constant_jitter(7.0)) == 100ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3,
                               constant_jitter(std::numeric_limits<double>::quiet_NaN())) == 0ms);
    CHECK(sds::detail::backoff(o, failure_kind::transient, 3,
                               constant_jitter(std::numeric_limits<double>::infinity())) == 100ms);
}

TEST_CASE("an empty jitter source falls back to the default one", "[retry]") {
    const retry_options o;
    for (int i = 0; i < 100; ++i) {
        const auto b = sds::detail::backoff(o, failure_kind::transient, 4, sds::detail::jitter_source{});
        CHECK(b >= 0ms);
        CHECK(b <= 200ms);
    }
}

TEST_CASE("jitter spreads backoffs evenly over the range", "[retry]") {
    const retry_options o;  // throttling retry 7: ceiling 20000 ms
    const auto jitter = seeded_jitter(7);
    constexpr int draws = 4000;
    std::set<std::int64_t> distinct;
    std::vector<int> quarter(4, 0);
    double sum = 0;
    for (int i = 0; i < draws; ++i) {
        const auto b = sds::detail::backoff(o, failure_kind::throttling, 7, jitter).count();
        distinct.insert(b);
        ++quarter[static_cast<std::size_t>(std::min<std::int64_t>(b / 5000, 3))];
        sum += static_cast<double>(b);
    }
    CHECK(distinct.size() > 3000);  // 20001 possible values
    for (const int q : quarter) CHECK(q > draws / 4 - 300);
    CHECK(sum / draws == Approx(10000).epsilon(0.05));
}

TEST_CASE("the default jitter source gives spread values within the unit interval on every thread", "[retry]") {
    std::vector<std::vector<double>> per_thread(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < per_thread.size(); ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 1000; ++i) per_thread[t].push_back(sds::detail::default_jitter());
        });
    for (auto& th : threads) th.join();

    std::set<double> distinct;
    for (const auto& values : per_thread)
        for (const double u : values) {
            CHECK((u >= 0.0 && u < 1.0));
            distinct.insert(u);
        }
    // Threads are seeded separately, so they do not repeat each other's sequence.
    CHECK(distinct.size() == 4000);
    CHECK(per_thread[0] != per_thread[1]);

    const retry_options o;
    std::set<std::int64_t> backoffs;
    for (int i = 0; i < 1000; ++i) backoffs.insert(sds::detail::backoff(o, failure_kind::throttling, 10).count());
    CHECK(backoffs.size() > 900);
}

TEST_CASE("the wait before a retry is the longer of backoff and Retry-After, capped", "[retry]") {
    const retry_options o;  // max_backoff 20 s
    CHECK(sds::detail::retry_delay(o, 300ms, std::nullopt) == 300ms);
    CHECK(sds::detail::retry_delay(o, 300ms, 1000ms) == 1000ms);
    CHECK(sds::detail::retry_delay(o, 300ms, 100ms) == 300ms);
    CHECK(sds::detail::retry_delay(o, 300ms, 0ms) == 300ms);
    CHECK(sds::detail::retry_delay(o, 300ms, 60000ms) == 20000ms);
    CHECK(sds::detail::retry_delay(o, 300ms, milliseconds::max()) == 20000ms);
    CHECK(sds::detail::retry_delay(o, 25000ms, std::nullopt) == 20000ms);
}

// --- retry quota ------------------------------------------------------------

TEST_CASE("the retry quota starts full and drains to refusal", "[retry]") {
    const retry_options o;  // 500 tokens, 5 per retry
    sds::detail::retry_quota quota{o};
    CHECK(quota.available() == 500);
    int granted = 0;
    while (quota.try_acquire(failure_kind::transient)) ++granted;
    CHECK(granted == 100);
    CHECK(quota.available() == 0);
    CHECK_FALSE(quota.try_acquire(failure_kind::throttling));
    CHECK_FALSE(quota.try_acquire(failure_kind::network));
    CHECK(quota.available() == 0);
}

TEST_CASE("a network failure costs timeout_retry_cost tokens", "[retry]") {
    const retry_options o;  // 10 per network retry
    sds::detail::retry_quota quota{o};
    int granted = 0;
    while (quota.try_acquire(failure_kind::network)) ++granted;
    CHECK(granted == 50);
    CHECK(quota.available() == 0);
}

TEST_CASE("a refused retry takes no tokens", "[retry]") {
    retry_options o;
    o.quota_capacity = 13;
    sds::detail::retry_quota quota{o};
    CHECK(quota.try_acquire(failure_kind::transient));  // 8 left
    CHECK_FALSE(quota.try_acquire(failure_kind::network));  // needs 10
    CHECK(quota.available() == 8);
    CHECK(quota.try_acquire(failure_kind::throttling));  // 3 left
    CHECK_FALSE(quota.try_acquire(failure_kind::transient));
    CHECK(quota.available() == 3);
}

TEST_CASE("success and final outcomes are never granted a retry", "[retry]") {
    sds::detail::retry_quota quota{retry_options{}};
    CHECK_FALSE(quota.try_acquire(failure_kind::success));
    CHECK_FALSE(quota.try_acquire(failure_kind::final));
    CHECK(quota.available() == 500);

    retry_options disabled;
    disabled.retry_quota = false;
    sds::detail::retry_quota unlimited{disabled};
    CHECK_FALSE(unlimited.try_acquire(failure_kind::final));
}

TEST_CASE("a successful retry refunds what its retry cost", "[retry]") {
    sds::detail::retry_quota quota{retry_options{}};
    REQUIRE(quota.try_acquire(failure_kind::transient));
    REQUIRE(quota.try_acquire(failure_kind::network));
    CHECK(quota.available() == 485);
    quota.on_success(failure_kind::network);
    CHECK(quota.available() == 495);
    quota.on_success(failure_kind::transient);
    CHECK(quota.available() == 500);
}

TEST_CASE("a first-try success adds no_retry_increment up to the capacity", "[retry]") {
    sds::detail::retry_quota quota{retry_options{}};
    quota.on_success(std::nullopt);
    CHECK(quota.available() == 500);  // already full

    while (quota.try_acquire(failure_kind::transient)) {
    }
    REQUIRE(quota.available() == 0);
    for (int i = 0; i < 4; ++i) quota.on_success(std::nullopt);
    CHECK(quota.available() == 4);
    CHECK_FALSE(quota.try_acquire(failure_kind::transient));
    quota.on_success(std::nullopt);
    CHECK(quota.try_acquire(failure_kind::transient));
    CHECK(quota.available() == 0);
}

TEST_CASE("refunds never fill the quota beyond its capacity", "[retry]") {
    sds::detail::retry_quota quota{retry_options{}};
    REQUIRE(quota.try_acquire(failure_kind::transient));
    quota.on_success(failure_kind::network);  // refunds 10 where 5 was taken
    CHECK(quota.available() == 500);
    for (int i = 0; i < 10; ++i) quota.on_success(failure_kind::throttling);
    CHECK(quota.available() == 500);
}

TEST_CASE("a disabled quota always grants retries and never changes", "[retry]") {
    retry_options o;
    o.retry_quota = false;
    sds::detail::retry_quota quota{o};
    for (int i = 0; i < 10000; ++i) {
        REQUIRE(quota.try_acquire(failure_kind::network));
        REQUIRE(quota.try_acquire(failure_kind::throttling));
    }
    quota.on_success(failure_kind::transient);
    quota.on_success(std::nullopt);
    CHECK(quota.available() == 500);
}

TEST_CASE("a quota smaller than one retry's cost never grants", "[retry]") {
    retry_options o;
    o.quota_capacity = 4;
    sds::detail::retry_quota quota{o};
    CHECK_FALSE(quota.try_acquire(failure_kind::transient));
    CHECK(quota.available() == 4);
}

TEST_CASE("four threads draining the quota together are granted exactly its capacity", "[retry]") {
    retry_options o;
    o.quota_capacity = 100000;
    sds::detail::retry_quota quota{o};
    std::atomic<unsigned> spent{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            // Half the threads pay for network retries (10), half for transient ones (5).
            const auto kind = t % 2 ? failure_kind::network : failure_kind::transient;
            const unsigned cost = t % 2 ? o.timeout_retry_cost : o.retry_cost;
            while (quota.try_acquire(kind)) spent += cost;
        });
    for (auto& th : threads) th.join();
    CHECK(spent + quota.available() == 100000);
    CHECK(quota.available() < o.retry_cost);
}

TEST_CASE("four threads acquiring and refunding concurrently leave the count exact", "[retry]") {
    const retry_options o;
    sds::detail::retry_quota quota{o};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            const auto kind = t % 2 ? failure_kind::network : failure_kind::throttling;
            for (int i = 0; i < 20000; ++i) {
                if (quota.try_acquire(kind))
                    quota.on_success(kind);
                else
                    ++refused;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(quota.available() == 500);
    CHECK(refused == 0);  // 4 threads hold at most 40 tokens at once
}

// --- server-requested waits -------------------------------------------------

namespace {

// Wed, 21 Oct 2015 07:28:00 GMT
const auto reference_now = std::chrono::system_clock::time_point{std::chrono::seconds{1445412480}};

std::optional<milliseconds> retry_after(std::string_view x_ms, std::string_view ms, std::string_view seconds_or_date) {
    return sds::detail::server_retry_after(x_ms, ms, seconds_or_date, reference_now);
}

} // namespace

TEST_CASE("Retry-After headers in milliseconds and seconds are read", "[retry]") {
    CHECK(retry_after("1500", "", "") == 1500ms);
    CHECK(retry_after("", "250", "") == 250ms);
    CHECK(retry_after("", "", "3") == 3000ms);
    CHECK(retry_after("", "", "0") == 0ms);
    CHECK(retry_after("0", "", "") == 0ms);
    CHECK(retry_after("", "", "120") == 120000ms);
    CHECK(retry_after(" 42\t", "", "") == 42ms);
    CHECK(retry_after("007", "", "") == 7ms);
}

TEST_CASE("the first non-empty Retry-After header wins", "[retry]") {
    CHECK(retry_after("10", "20", "30") == 10ms);
    CHECK(retry_after("", "20", "30") == 20ms);
    CHECK(retry_after("  ", "20", "30") == 20ms);
    CHECK(retry_after("", "", "30") == 30000ms);
    CHECK(retry_after("", "", "") == std::nullopt);
    CHECK(retry_after(" ", "\t", " ") == std::nullopt);
}

TEST_CASE("a Retry-After date is taken relative to now", "[retry]") {
    CHECK(retry_after("", "", "Wed, 21 Oct 2015 07:28:05 GMT") == 5000ms);
    CHECK(retry_after("", "", "Wed, 21 Oct 2015 08:28:00 GMT") == 3600000ms);
    CHECK(retry_after("", "", "Thu, 22 Oct 2015 07:28:00 GMT") == 86400000ms);
    // A date not in the future asks for no wait at all.
    CHECK(retry_after("", "", "Wed, 21 Oct 2015 07:28:00 GMT") == 0ms);
    CHECK(retry_after("", "", "Wed, 21 Oct 2015 07:27:00 GMT") == 0ms);
    CHECK(retry_after("", "", "Sun, 06 Nov 1994 08:49:37 GMT") == 0ms);
    // Sub-second differences round up, so the wait never ends before the date.
    CHECK(sds::detail::server_retry_after("", "", "Wed, 21 Oct 2015 07:28:01 GMT",
                                          reference_now + std::chrono::microseconds{999500}) == 1ms);
}

TEST_CASE("a malformed Retry-After header gives no server wait", "[retry]") {
    for (const auto garbage : {"abc", "-5", "+5", "1.5", "5s", "5 5", "0x10", "1e3", "\xff",
                               "Wed, 21 Oct 2015 07:28:05 UTC",
                               "Wed, 21 Oct 2015 07:28:05", "wed, 21 oct 2015 07:28:05 GMT",
                               "Wednesday, 21-Oct-15 07:28:05 GMT", "Wed Oct 21 07:28:05 2015",
                               "Wed, 32 Oct 2015 07:28:05 GMT", "Wed, 21 Oct 2015 25:28:05 GMT"}) {
        CAPTURE(garbage);
        CHECK(retry_after("", "", garbage) == std::nullopt);
        CHECK(retry_after(garbage, "", "") == std::nullopt);
        CHECK(retry_after("", garbage, "") == std::nullopt);
    }
    // The millisecond headers never hold dates.
    CHECK(retry_after("Wed, 21 Oct 2015 07:28:05 GMT", "", "") == std::nullopt);
}

TEST_CASE("a malformed first Retry-After header does not fall through to the next", "[retry]") {
    CHECK(retry_after("soon", "20", "30") == std::nullopt);
    CHECK(retry_after("", "soon", "30") == std::nullopt);
}

TEST_CASE("a Retry-After date far from a far-off now saturates instead of overflowing", "[retry]") {
    CHECK(sds::detail::server_retry_after("", "", "Wed, 21 Oct 2015 07:28:00 GMT",
                                          std::chrono::system_clock::time_point::min()) == milliseconds::max());
    CHECK(sds::detail::server_retry_after("", "", "Wed, 21 Oct 2015 07:28:00 GMT",
                                          std::chrono::system_clock::time_point::max()) == 0ms);
}

TEST_CASE("huge Retry-After values saturate instead of overflowing", "[retry]") {
    CHECK(retry_after("99999999999999999999999999", "", "") == milliseconds::max());
    CHECK(retry_after("", "", "9223372036854775807") == milliseconds::max());
    CHECK(retry_after("", "", "9223372036854776") == milliseconds::max());
    CHECK(retry_after("", "", "9223372036854775") == milliseconds{9223372036854775000});
    CHECK(sds::detail::retry_delay(retry_options{}, 10ms, retry_after("", "", "99999999999999999999")) == 20000ms);
}
