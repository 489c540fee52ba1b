#include "retry/clock_skew.hpp"

#include "retry/http_date.hpp"

namespace sds::detail {
namespace {

using duration = std::chrono::system_clock::duration;

template <class Rep, class Period>
std::chrono::duration<Rep, Period> magnitude(std::chrono::duration<Rep, Period> d) {
    return d < d.zero() ? -d : d;
}

} // namespace

bool clock_skew::observe(std::string_view http_date_header, std::chrono::system_clock::time_point local_now) noexcept {
    const auto server_now = parse_http_date(http_date_header);
    if (!server_now) return false;
    // No service's clock says it is before 1970, and neither signer can sign
    // such a time: taking it would leave every later request of the endpoint
    // unsignable, with no response left to correct the skew.
    if (*server_now < std::chrono::system_clock::time_point{}) return false;
    // Both time points lie within system_clock's range, but their difference
    // need not fit its duration; compare in seconds first to stay defined.
    const auto server_s = std::chrono::floor<std::chrono::seconds>(*server_now).time_since_epoch();
    const auto local_s = std::chrono::floor<std::chrono::seconds>(local_now).time_since_epoch();
    constexpr auto limit = std::chrono::floor<std::chrono::seconds>(duration::max() / 2);
    if (magnitude(server_s - local_s) >= limit) return false;

    duration measured = *server_now - local_now;
    if (magnitude(measured) < threshold) measured = duration::zero();
    const duration previous{offset_.exchange(measured.count(), std::memory_order_relaxed)};
    return magnitude(measured - previous) >= threshold;
}

std::chrono::system_clock::duration clock_skew::offset() const noexcept {
    return duration{offset_.load(std::memory_order_relaxed)};
}

std::chrono::system_clock::time_point clock_skew::now() const noexcept {
    return std::chrono::system_clock::now() + offset();
}

} // namespace sds::detail

