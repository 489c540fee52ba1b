// The decisions behind every retry, without sockets or timers: is a failed
// attempt worth retrying, how long to wait before the next one, whether the
// endpoint's retry quota still allows it, and what the server asked for.
//
// The retry loop in src/transport/ calls these after each attempt:
//
//   kind = classify(service, outcome)
//   success -> quota.on_success(acquired_for), done
//   final, or attempts == max_attempts, or !quota.try_acquire(kind) -> fail
//   otherwise wait retry_delay(options, backoff(options, kind, retry_number),
//                              server_retry_after(...)) and try again
//
// The policy follows the AWS SDKs' "standard" retry mode and Azure Storage's
// retry guidance. It is not the XOR-based backoff of the Python library sds
// replaces, which did not grow exponentially and had no jitter.
#pragma once

#include <sds/retry_options.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

namespace sds::detail {

/// Which service answered: the two classify errors differently.
enum class service_kind { aws, azure };

/// What an attempt's outcome means for retrying it.
enum class failure_kind {
    success,     ///< 2xx: done
    throttling,  ///< the service asked to slow down: retry after a longer backoff
    transient,   ///< a server-side hiccup: retry after a short backoff
    network,     ///< connecting, sending or receiving failed or timed out: retry, at a higher quota cost
    final,       ///< retrying cannot help (bad request, not found, auth, condition failed, ...)
};

/// Whether a failure of this kind may be retried at all.
constexpr bool is_retryable(failure_kind kind) noexcept {
    return kind == failure_kind::throttling || kind == failure_kind::transient || kind == failure_kind::network;
}

/// What the loop knows about one attempt. Only the status and the service's
/// error code are used, never the message text.
struct attempt_outcome {
    unsigned http_status = 0;       ///< 0 when no response was received
    std::string_view service_code;  ///< e.g. "ThrottlingException", "ServerBusy"; empty if none
    bool network_failure = false;   ///< connecting, sending or receiving failed
    bool timed_out = false;         ///< the attempt's own timeout expired
    /// The loop has just corrected its clock from this response's Date header
    /// (clock_skew::observe returned true), so a clock skew error is worth
    /// one more, freshly signed attempt. Otherwise such an error is final.
    bool skew_corrected = false;
};

/// Classifies one attempt's outcome by network failure, service error code
/// and HTTP status.
failure_kind classify(service_kind service, const attempt_outcome& outcome) noexcept;

/// Source of uniformly distributed doubles in [0, 1) for the jitter.
using jitter_source = std::function<double()>;

/// A uniform double in [0, 1) from a std::mt19937_64 of the calling thread,
/// seeded from std::random_device. Thread-safe: each thread has its own engine.
double default_jitter() noexcept;

/// The upper bound of the backoff before retry `retry_number` (1 for the
/// first retry): min(max_backoff, base * 2^(retry_number - 1)), where base is
/// throttle_base_delay for throttling and base_delay otherwise. Saturates
/// instead of overflowing for any retry_number. Zero for success and final.
std::chrono::milliseconds backoff_ceiling(const retry_options& options, failure_kind kind,
                                          unsigned retry_number) noexcept;

/// "Full jitter" backoff: a whole number of milliseconds drawn uniformly from
/// [0, backoff_ceiling(options, kind, retry_number)], using `uniform01` (a
/// value outside [0, 1) is clamped into it).
std::chrono::milliseconds backoff(const retry_options& options, failure_kind kind, unsigned retry_number,
                                  const jitter_source& uniform01);

/// The same, with default_jitter().
std::chrono::milliseconds backoff(const retry_options& options, failure_kind kind, unsigned retry_number) noexcept;

/// The wait before the next attempt: the longer of the jittered backoff and
/// what the server asked for, capped at max_backoff.
std::chrono::milliseconds retry_delay(const retry_options& options, std::chrono::milliseconds jittered,
                                      std::optional<std::chrono::milliseconds> server_asked) noexcept;

/// The wait a server asked for, from the first non-empty header in this
/// order: x-ms-retry-after-ms and retry-after-ms (whole milliseconds), then
/// Retry-After (whole seconds, or an IMF-fixdate relative to `now`; a date in
/// the past means no wait). Pass an empty string for a missing header.
/// Nullopt when all are empty or the first non-empty one is malformed (a
/// malformed header does not fall through to the next). Large values
/// saturate; the loop caps the wait with retry_delay anyway.
std::optional<std::chrono::milliseconds> server_retry_after(std::string_view x_ms_retry_after_ms,
                                                            std::string_view retry_after_ms,
                                                            std::string_view retry_after,
                                                            std::chrono::system_clock::time_point now);

/// The AWS standard-mode retry quota of one endpoint: a token bucket that
/// starts full, pays for each retry and is refilled by successes, so that a
/// failing endpoint is not hammered with retries from every request at once.
/// Thread-safe; one per endpoint, shared by all requests to it.
class retry_quota {
public:
    /// A full bucket sized and priced by `options`; it always grants when
    /// options.retry_quota is false.
    explicit retry_quota(const retry_options& options) noexcept;

    retry_quota(const retry_quota&) = delete;
    retry_quota& operator=(const retry_quota&) = delete;

    /// Takes the cost of retrying a failure of `kind` (timeout_retry_cost for
    /// network, retry_cost for throttling and transient). False, taking
    /// nothing, when the bucket holds less: the loop must stop retrying then.
    /// Always false for success and final, which are never retried.
    bool try_acquire(failure_kind kind) noexcept;

    /// Records a successful attempt. `acquired_for` is the kind passed to the
    /// last granted try_acquire of this request, whose cost is refunded; or
    /// nullopt when the first attempt succeeded, which adds
    /// no_retry_increment. The bucket never exceeds its capacity.
    void on_success(std::optional<failure_kind> acquired_for) noexcept;

    /// Tokens in the bucket now (the capacity when the quota is disabled).
    unsigned available() const noexcept;

private:
    unsigned cost_of(failure_kind kind) const noexcept;
    void refill(unsigned tokens) noexcept;

    bool enabled_;
    unsigned capacity_;
    unsigned retry_cost_;
    unsigned timeout_retry_cost_;
    unsigned no_retry_increment_;
    std::atomic<unsigned> available_;
};

} // namespace sds::detail
