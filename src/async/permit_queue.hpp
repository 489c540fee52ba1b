// A counting semaphore that coroutines on any strand wait on, first come
// first served, at most until a deadline and cancellably.
//
// Built on a mutex and one single-use channel per waiter, not on one shared
// channel: Asio 1.81's concurrent_channel refuses every later send once its
// last waiting receiver is cancelled, which would lose permits for good.
// Whether a waiter holds a permit is decided under the mutex, never by
// whether a wake-up message arrived.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace sds::detail {

class permit_queue {
public:
    explicit permit_queue(std::size_t permits) : available_(permits) {}

    /// Takes a permit, waiting while none is free. False when the deadline
    /// passed or the awaiting coroutine was cancelled first; a permit granted
    /// in the same turn is taken (true), and the caller gives it back.
    boost::asio::awaitable<bool> acquire(std::optional<std::chrono::steady_clock::time_point> deadline);

    /// Gives a permit back: to the first waiter, or to the free count.
    void release() noexcept;

    /// Free permits now.
    std::size_t available() const;

private:
    struct waiter;
    mutable std::mutex mutex_;
    std::size_t available_;
    std::deque<std::shared_ptr<waiter>> waiters_;
};

} // namespace sds::detail
