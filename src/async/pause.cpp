#include "async/pause.hpp"

#include <sds/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sds::detail {

namespace asio = boost::asio;

asio::awaitable<bool> pause(std::chrono::milliseconds duration) {
    // A cancellation emitted before the wait began reached no operation: the
    // state remembers it.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return false;
    if (duration.count() <= 0) co_return true;
    asio::steady_timer timer(co_await asio::this_coro::executor, duration);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !ec;
}

asio::awaitable<void> pause_or_throw(std::chrono::milliseconds duration, std::string_view what) {
    // (GCC 12 miscompiles `if (!co_await ...)` here: name the result first.)
    const bool waited = co_await pause(duration);
    if (!waited) throw error(errc::cancelled, std::string(what) + ": cancelled while waiting");
}

} // namespace sds::detail
