// The difference between the local clock and a service's clock.
//
// AWS refuses a signature whose X-Amz-Date is more than 5 minutes (DynamoDB:
// 15) away from its own time, and Azure refuses a SharedKey request whose
// x-ms-date is more than 15 minutes off. A machine with a wrong clock can
// still talk to them when it signs with the server's time instead: every
// response's Date header says what that time is.
#pragma once

#include <atomic>
#include <chrono>
#include <string_view>

namespace sds::detail {

/// The server-minus-local clock offset of one endpoint, learned from the Date
/// headers of its responses. Thread-safe (lock-free); one per endpoint.
class clock_skew {
public:
    /// Offsets smaller than this are taken as no skew: they are within what
    /// both services accept, and the Date header's one-second resolution plus
    /// the response's time in flight make small offsets noise.
    static constexpr std::chrono::minutes threshold{1};

    /// Measures the offset from a response's Date header (an IMF-fixdate) and
    /// the local time the response arrived. An offset of at least `threshold`
    /// is recorded; a smaller one resets the offset to zero. A header that
    /// does not parse, or names a time before 1970, changes nothing. Returns true when the recorded offset
    /// moved by at least `threshold`: only then is a clock skew error worth
    /// retrying (see attempt_outcome::skew_corrected).
    bool observe(std::string_view http_date_header, std::chrono::system_clock::time_point local_now) noexcept;

    /// The recorded server-minus-local offset (zero until a skew is seen).
    std::chrono::system_clock::duration offset() const noexcept;

    /// The server's idea of the current time: system_clock::now() + offset().
    /// Requests are signed with this time.
    std::chrono::system_clock::time_point now() const noexcept;

private:
    std::atomic<std::chrono::system_clock::rep> offset_{0};
};

} // namespace sds::detail
