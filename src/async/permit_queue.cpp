#include "async/permit_queue.hpp"

#include "async/receive_until.hpp"

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace sds::detail {

namespace asio = boost::asio;

struct permit_queue::waiter {
    explicit waiter(const asio::any_io_executor& ex) : wake(ex, 1) {}
    asio::experimental::concurrent_channel<void(boost::system::error_code)> wake;
    bool granted = false;  // guarded by the queue's mutex
};

asio::awaitable<bool> permit_queue::acquire(std::optional<std::chrono::steady_clock::time_point> deadline) {
    const auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<waiter> me;
    {
        std::lock_guard lock(mutex_);
        if (available_ > 0 && waiters_.empty()) {
            --available_;
            co_return true;
        }
        me = std::make_shared<waiter>(ex);
        waiters_.push_back(me);
    }
    co_await receive_until(me->wake, deadline);
    std::lock_guard lock(mutex_);
    if (me->granted) co_return true;
    std::erase(waiters_, me);
    co_return false;
}

void permit_queue::release() noexcept {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) {
        ++available_;
        return;
    }
    auto next = std::move(waiters_.front());
    waiters_.pop_front();
    next->granted = true;
    next->wake.try_send(boost::system::error_code{});  // if it fails, the waiter finds `granted` anyway
}

std::size_t permit_queue::available() const {
    std::lock_guard lock(mutex_);
    return available_;
}

} // namespace sds::detail
