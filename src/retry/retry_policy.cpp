#include "retry/retry_policy.hpp"

#include "retry/http_date.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>

namespace sds::detail {
namespace {

using std::chrono::milliseconds;

// AWS SDKs, standard retry mode: error codes that mean "slow down"
// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
// and the SDKs' shared retry tables).
constexpr std::array<std::string_view, 13> aws_throttling_codes{
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
};

// Standard mode: error codes of transient server-side failures.
constexpr std::array<std::string_view, 7> aws_transient_codes{
    "RequestTimeout",  "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "InternalServerError", "InternalFailure",      "ServiceUnavailable",
};

// Errors a skewed local clock causes. DynamoDB reports an expired signature as
// InvalidSignatureException, which is otherwise a real signing error, so these
// are retried only once the loop has corrected its clock from the response.
constexpr std::array<std::string_view, 4> aws_clock_skew_codes{
    "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", "InvalidSignatureException"};

// Standard mode: HTTP statuses of transient failures, whatever the code.
constexpr std::array<unsigned, 4> transient_statuses{500, 502, 503, 504};

constexpr unsigned status_request_timeout = 408;    // Azure: retry
constexpr unsigned status_too_many_requests = 429;  // throttling on both services
constexpr unsigned status_service_unavailable = 503;

// Azure Storage: 503 ServerBusy means an account or partition is over its
// scalability targets, i.e. throttling. OperationTimeout (500) is transient.
constexpr std::string_view azure_server_busy = "ServerBusy";
constexpr std::string_view azure_operation_timeout = "OperationTimeout";

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& codes, std::string_view code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool is_transient_status(unsigned status) {
    return std::find(transient_statuses.begin(), transient_statuses.end(), status) != transient_statuses.end();
}

bool is_success_status(unsigned status) { return status >= 200 && status <= 299; }

failure_kind classify_aws(const attempt_outcome& o) {
    if (contains(aws_throttling_codes, o.service_code)) return failure_kind::throttling;
    if (contains(aws_transient_codes, o.service_code)) return failure_kind::transient;
    if (o.skew_corrected && contains(aws_clock_skew_codes, o.service_code)) return failure_kind::transient;
    if (o.http_status == status_too_many_requests) return failure_kind::throttling;
    if (is_transient_status(o.http_status)) return failure_kind::transient;
    return failure_kind::final;
}

failure_kind classify_azure(const attempt_outcome& o) {
    if (o.http_status == status_too_many_requests) return failure_kind::throttling;
    if (o.http_status == status_service_unavailable && o.service_code == azure_server_busy)
        return failure_kind::throttling;
    if (o.http_status == status_request_timeout || is_transient_status(o.http_status) ||
        o.service_code == azure_operation_timeout)
        return failure_kind::transient;
    return failure_kind::final;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A non-negative whole number of `unit`s (1*DIGIT, no sign), saturating.
std::optional<milliseconds> parse_count(std::string_view s, std::int64_t ms_per_unit) {
    if (s.empty()) return std::nullopt;
    constexpr std::int64_t max = milliseconds::max().count();
    std::int64_t value = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const int digit = c - '0';
        value = value > (max - digit) / 10 ? max : value * 10 + digit;
    }
    return milliseconds{value > max / ms_per_unit ? max : value * ms_per_unit};
}

// One of the ceiling + 1 whole milliseconds 0..ceiling, picked by u in [0, 1).
milliseconds full_jitter(milliseconds ceiling, double u) {
    if (!(u >= 0.0)) u = 0.0;  // also NaN
    if (u >= 1.0) u = std::nextafter(1.0, 0.0);
    const auto drawn = static_cast<std::int64_t>(std::floor(u * (static_cast<double>(ceiling.count()) + 1.0)));
    return milliseconds{std::clamp<std::int64_t>(drawn, 0, ceiling.count())};
}

std::mt19937_64 seeded_engine() {
    try {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64{seed};
    } catch (...) {
        // No entropy source: good enough for spreading retries apart.
        const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        return std::mt19937_64{t ^ std::hash<std::thread::id>{}(std::this_thread::get_id())};
    }
}

} // namespace

failure_kind classify(service_kind service, const attempt_outcome& outcome) noexcept {
    if (outcome.network_failure || outcome.timed_out) return failure_kind::network;
    if (is_success_status(outcome.http_status)) return failure_kind::success;
    return service == service_kind::aws ? classify_aws(outcome) : classify_azure(outcome);
}

double default_jitter() noexcept {
    thread_local std::mt19937_64 engine = seeded_engine();
    // The top 53 bits as a fraction: exactly uniform on [0, 1), never 1.0
    // (std::uniform_real_distribution may round up to 1.0).
    return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

milliseconds backoff_ceiling(const retry_options& options, failure_kind kind, unsigned retry_number) noexcept {
    if (!is_retryable(kind)) return milliseconds{0};
    const std::int64_t cap = std::max<std::int64_t>(options.max_backoff.count(), 0);
    const milliseconds base = kind == failure_kind::throttling ? options.throttle_base_delay : options.base_delay;
    std::int64_t ceiling = std::max<std::int64_t>(base.count(), 0);
    // Double (retry_number - 1) times, stopping at the cap: at most 63
    // doublings can happen before it is reached, so large numbers are cheap.
    for (unsigned i = 1; i < retry_number && ceiling < cap && ceiling != 0; ++i)
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    return milliseconds{std::min(ceiling, cap)};
}

milliseconds backoff(const retry_options& options, failure_kind kind, unsigned retry_number,
                     const jitter_source& uniform01) {
    const milliseconds ceiling = backoff_ceiling(options, kind, retry_number);
    if (ceiling.count() == 0) return ceiling;
    return full_jitter(ceiling, uniform01 ? uniform01() : default_jitter());
}

milliseconds backoff(const retry_options& options, failure_kind kind, unsigned retry_number) noexcept {
    const milliseconds ceiling = backoff_ceiling(options, kind, retry_number);
    if (ceiling.count() == 0) return ceiling;
    return full_jitter(ceiling, default_jitter());
}

milliseconds retry_delay(const retry_options& options, milliseconds jittered,
                         std::optional<milliseconds> server_asked) noexcept {
    const milliseconds wanted = server_asked ? std::max(jittered, *server_asked) : jittered;
    return std::clamp(wanted, milliseconds{0}, std::max(options.max_backoff, milliseconds{0}));
}

std::optional<milliseconds> server_retry_after(std::string_view x_ms_retry_after_ms, std::string_view retry_after_ms,
                                               std::string_view retry_after,
                                               std::chrono::system_clock::time_point now) {
    if (const auto v = trim_ows(x_ms_retry_after_ms); !v.empty()) return parse_count(v, 1);
    if (const auto v = trim_ows(retry_after_ms); !v.empty()) return parse_count(v, 1);
    const auto v = trim_ows(retry_after);
    if (v.empty()) return std::nullopt;
    // Retry-After = HTTP-date / delay-seconds (RFC 9110 section 10.2.3).
    if (v.front() >= '0' && v.front() <= '9') return parse_count(v, 1000);
    const auto when = parse_http_date(v);
    if (!when) return std::nullopt;
    if (*when <= now) return milliseconds{0};
    // `now` is the caller's: keep a far-off one from overflowing the subtraction.
    const auto ahead = std::chrono::floor<std::chrono::seconds>(*when) - std::chrono::floor<std::chrono::seconds>(now);
    if (ahead >= std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::duration::max() / 2))
        return milliseconds::max();
    return std::chrono::ceil<milliseconds>(*when - now);
}

retry_quota::retry_quota(const retry_options& options) noexcept
    : enabled_(options.retry_quota),
      capacity_(options.quota_capacity),
      retry_cost_(options.retry_cost),
      timeout_retry_cost_(options.timeout_retry_cost),
      no_retry_increment_(options.no_retry_increment),
      available_(options.quota_capacity) {}

unsigned retry_quota::cost_of(failure_kind kind) const noexcept {
    switch (kind) {
    case failure_kind::network: return timeout_retry_cost_;
    case failure_kind::throttling:
    case failure_kind::transient: return retry_cost_;
    case failure_kind::success:
    case failure_kind::final: return 0;
    }
    return 0;
}

bool retry_quota::try_acquire(failure_kind kind) noexcept {
    if (!is_retryable(kind)) return false;
    if (!enabled_) return true;
    const unsigned cost = cost_of(kind);
    unsigned current = available_.load(std::memory_order_relaxed);
    do {
        if (current < cost) return false;
    } while (!available_.compare_exchange_weak(current, current - cost, std::memory_order_relaxed));
    return true;
}

void retry_quota::refill(unsigned tokens) noexcept {
    if (!enabled_ || tokens == 0) return;
    unsigned current = available_.load(std::memory_order_relaxed);
    unsigned next = 0;
    do {
        next = current >= capacity_ || tokens >= capacity_ - current ? capacity_ : current + tokens;
    } while (!available_.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

void retry_quota::on_success(std::optional<failure_kind> acquired_for) noexcept {
    refill(acquired_for ? cost_of(*acquired_for) : no_retry_increment_);
}

unsigned retry_quota::available() const noexcept {
    return enabled_ ? available_.load(std::memory_order_relaxed) : capacity_;
}

} // namespace sds::detail
