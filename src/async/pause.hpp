// Waiting inside an operation. Every wait in sds is an Asio timer, and every
// wait reports the caller's cancellation the same way: as a value here, as
// sds::error(errc::cancelled) at the operation's surface.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string_view>

namespace sds::detail {

/// Waits `duration` on a timer. False when the awaiting coroutine was
/// cancelled before or during the wait; never throws for it.
boost::asio::awaitable<bool> pause(std::chrono::milliseconds duration);

/// The same; a cancellation throws sds::error(errc::cancelled) whose message
/// starts with `what` ("DescribeTable: cancelled while waiting").
boost::asio::awaitable<void> pause_or_throw(std::chrono::milliseconds duration, std::string_view what);

} // namespace sds::detail
