// Waiting for a message on a concurrent channel, at most until a deadline.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>

namespace sds::detail {

/// Receives one message (a `void(error_code)` signal) from `channel`, giving
/// up at `deadline` or when the awaiting coroutine is cancelled. True when a
/// message was taken: also when it came in the same turn as the deadline or
/// the cancellation, so that nothing sent is ever lost; the caller looks at
/// the deadline and the cancellation state itself.
template <class Channel>
boost::asio::awaitable<bool> receive_until(Channel& channel,
                                           std::optional<std::chrono::steady_clock::time_point> deadline) {
    namespace asio = boost::asio;
    if (channel.try_receive([](auto&&...) {})) co_return true;
    if (!deadline) {
        auto [ec] = co_await channel.async_receive(asio::as_tuple(asio::use_awaitable));
        co_return !ec;  // an error: cancelled while waiting, nothing taken
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, *deadline);
    auto [order, received_ec, timer_ec] =
        co_await asio::experimental::make_parallel_group(channel.async_receive(asio::deferred),
                                                         timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)order;
    (void)timer_ec;
    co_return !received_ec;
}

} // namespace sds::detail
