// Credentials that expire, cached and refreshed ahead of their expiry.
//
// get() hands out the cached value while it is usable. Once it is within its
// refresh window (the last five minutes, or the last half of its lifetime
// when that is shorter), the first caller to notice starts a fetch in the
// background and every caller goes on with the cached value. When there is
// no usable value, callers wait for the fetch in flight (starting one if
// none is): every concurrent caller shares one fetch. A fetch runs detached
// from the caller that started it, so a caller's cancellation or deadline
// ends only its own wait.
//
// A fetch that takes longer than 30 s fails (errc::timeout); one that throws
// anything but an sds::error fails as errc::auth_failed naming the source.
// A failed fetch is retried with backoff (1 s, doubling, at most 30 s) while
// the cached value is still usable; with none, callers get the fetch's error,
// and during the backoff they get it at once instead of fetching again.
//
// T is a value with an `expiration` (std::optional<system_clock::time_point>;
// none: it never expires). Thread safe; get() may be awaited on any executor.
#pragma once

#include "async/receive_until.hpp"

#include <sds/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sds::detail {

template <class T>
class refreshing_cache : public std::enable_shared_from_this<refreshing_cache<T>> {
public:
    using fetch_fn = std::function<boost::asio::awaitable<T>()>;
    using system_time = std::chrono::system_clock::time_point;
    using steady_time = std::chrono::steady_clock::time_point;

    static constexpr std::chrono::seconds refresh_ahead{300};
    static constexpr std::chrono::seconds expiry_margin{10};
    static constexpr std::chrono::seconds first_backoff{1};
    static constexpr std::chrono::seconds max_backoff{30};
    // The longest a fetch may take by default, whatever its source (each
    // request of a network source has its own, shorter timeout).
    static constexpr std::chrono::seconds default_fetch_timeout{30};

    /// `source` names where the values come from and `what` what they are
    /// ("credentials", "the region"), for messages.
    static std::shared_ptr<refreshing_cache> create(fetch_fn fetch, std::string source,
                                                    std::chrono::milliseconds fetch_timeout = default_fetch_timeout,
                                                    std::string what = "credentials") {
        return std::shared_ptr<refreshing_cache>(
            new refreshing_cache(std::move(fetch), std::move(source), fetch_timeout, std::move(what)));
    }

    /// A usable value: the cached one, or the one a fetch brings. Throws the
    /// fetch's sds::error, or errc::timeout / errc::cancelled when the
    /// deadline or a cancellation ends the wait.
    boost::asio::awaitable<T> get(std::optional<steady_time> deadline) {
        namespace asio = boost::asio;
        const auto ex = co_await asio::this_coro::executor;
        for (;;) {
            std::shared_ptr<waiter> me;
            std::optional<T> value;
            bool start = false;  // a fetch, started once the lock is released (it may run at once)
            {
                std::lock_guard lock(mutex_);
                const auto now = std::chrono::system_clock::now();
                const auto steady_now = std::chrono::steady_clock::now();
                if (current_ && usable(now)) {
                    start = in_refresh_window(now) && !fetching_ && steady_now >= retry_after_;
                    value = *current_;
                } else {
                    if (!fetching_) {
                        if (last_error_ && steady_now < retry_after_) std::rethrow_exception(last_error_);
                        start = true;
                    }
                    me = std::make_shared<waiter>(ex);
                    waiters_.push_back(me);
                }
                if (start) {
                    fetching_ = true;
                    ++fetches_;
                }
            }
            if (start) boost::asio::co_spawn(ex, run_fetch(this->shared_from_this()), boost::asio::detached);
            if (value) co_return std::move(*value);
            const bool woken = co_await receive_until(me->wake, deadline);
            if (woken) continue;  // look again: a value, or the fetch's error
            {
                std::lock_guard lock(mutex_);
                std::erase(waiters_, me);
            }
            const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                throw error(errc::cancelled, "cancelled while waiting for " + what_ + " from " + source_);
            throw error(errc::timeout, "deadline expired while waiting for " + what_ + " from " + source_);
        }
    }

    /// Forgets the cached value (e.g. after the service refused it as
    /// expired): the next get() fetches.
    void invalidate() {
        std::lock_guard lock(mutex_);
        current_.reset();
    }

    /// Fetches started so far (for tests and statistics).
    std::uint64_t fetches() const {
        std::lock_guard lock(mutex_);
        return fetches_;
    }

private:
    refreshing_cache(fetch_fn fetch, std::string source, std::chrono::milliseconds fetch_timeout, std::string what)
        : fetch_(std::move(fetch)), source_(std::move(source)), what_(std::move(what)), fetch_timeout_(fetch_timeout) {}

    struct waiter {
        explicit waiter(const boost::asio::any_io_executor& ex) : wake(ex, 1) {}
        boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> wake;
    };

    // The value's lifetime as it was when fetched: what the margins scale by.
    std::chrono::system_clock::duration lifetime() const {
        return current_->expiration ? *current_->expiration - fetched_at_ : std::chrono::system_clock::duration::max();
    }
    // Usable until shortly before it expires (10 s, or a tenth of a shorter lifetime).
    bool usable(system_time now) const {
        if (!current_->expiration) return true;
        const auto margin = std::min<std::chrono::system_clock::duration>(expiry_margin, lifetime() / 10);
        return now < *current_->expiration - margin;
    }
    bool in_refresh_window(system_time now) const {
        if (!current_->expiration) return false;
        const auto ahead = std::min<std::chrono::system_clock::duration>(refresh_ahead, lifetime() / 2);
        return now >= *current_->expiration - ahead;
    }

    // One fetch, bounded by fetch_timeout whatever the source does; any
    // failure ends up an sds::error naming the source.
    static boost::asio::awaitable<void> run_fetch(std::shared_ptr<refreshing_cache> self) {
        namespace asio = boost::asio;
        std::optional<T> fetched;
        std::exception_ptr failure;
        try {
            const auto ex = co_await asio::this_coro::executor;
            asio::steady_timer timer(ex, self->fetch_timeout_);
            auto [order, fetch_failure, value, timer_ec] =
                co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, self->fetch_(), asio::deferred),
                                                                 timer.async_wait(asio::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            (void)timer_ec;
            if (order[0] != 0)
                throw error(errc::timeout, self->source_ + ": no " + self->what_ + " within " +
                                               std::to_string(self->fetch_timeout_.count()) + " ms");
            if (fetch_failure) std::rethrow_exception(fetch_failure);
            fetched = std::move(value);
        } catch (const sds::error&) {
            failure = std::current_exception();
        } catch (const std::exception& e) {
            // A source that broke its contract (sds::error only).
            failure = std::make_exception_ptr(error(errc::auth_failed, self->source_ + ": " + e.what()));
        } catch (...) {
            failure = std::make_exception_ptr(error(errc::auth_failed, self->source_ + ": the fetch failed"));
        }
        if (fetched && fetched->expiration && *fetched->expiration <= std::chrono::system_clock::now()) {
            // Nothing could be done with them: a failure, retried with backoff.
            fetched.reset();
            failure = std::make_exception_ptr(
                error(errc::auth_failed, self->source_ + " gave credentials that have already expired"));
        }
        std::vector<std::shared_ptr<waiter>> woken;
        {
            std::lock_guard lock(self->mutex_);
            self->fetching_ = false;
            if (fetched) {
                self->current_ = std::move(fetched);
                self->fetched_at_ = std::chrono::system_clock::now();
                self->last_error_ = nullptr;
                self->failures_ = 0;
                self->retry_after_ = {};
            } else {
                self->last_error_ = failure;
                ++self->failures_;
                const auto backoff = std::min<std::chrono::steady_clock::duration>(
                    max_backoff, first_backoff * (1LL << std::min(self->failures_ - 1, 5u)));
                self->retry_after_ = std::chrono::steady_clock::now() + backoff;
            }
            woken.swap(self->waiters_);
        }
        for (const auto& w : woken) w->wake.try_send(boost::system::error_code{});
    }

    const fetch_fn fetch_;
    const std::string source_;
    const std::string what_;
    const std::chrono::milliseconds fetch_timeout_;
    mutable std::mutex mutex_;
    std::optional<T> current_;
    system_time fetched_at_{};
    bool fetching_ = false;
    std::vector<std::shared_ptr<waiter>> waiters_;
    std::exception_ptr last_error_;
    unsigned failures_ = 0;
    steady_time retry_after_{};
    std::uint64_t fetches_ = 0;
};

} // namespace sds::detail
