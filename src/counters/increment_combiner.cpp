#include "counters/increment_combiner.hpp"

#include "async/receive_until.hpp"

#include <sds/error.hpp>

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace sds::detail {

namespace asio = boost::asio;

struct increment_combiner::waiter {
    waiter(const asio::any_io_executor& ex, std::int64_t a, std::optional<steady_time> d)
        : amount(a), deadline(d), wake(ex, 1) {}
    const std::int64_t amount;
    const std::optional<steady_time> deadline;
    // Signalled at most once: when this caller is to lead the next write,
    // or when the write that carried it is over. The fields below are set
    // (under the combiner's mutex) before the signal and read after it.
    asio::experimental::concurrent_channel<void(boost::system::error_code)> wake;
    bool leads = false;      // woken to lead
    bool in_flight = false;  // its amount is in a write under way
    bool gone = false;       // it left while in flight (ambiguous): nothing more is owed to it
    std::int64_t value = 0;
    std::exception_ptr failure;
};

std::uint64_t increment_combiner::writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
}

void increment_combiner::pass_on(const std::string& key) {
    const auto it = shards_.find(key);
    auto& queued = it->second.queued;
    if (queued.empty()) {
        shards_.erase(it);
        return;
    }
    auto next = queued.front();
    queued.erase(queued.begin());
    next->leads = true;
    next->wake.try_send(boost::system::error_code{});
}

asio::awaitable<std::int64_t> increment_combiner::add(std::string key, std::int64_t amount,
                                                      std::optional<steady_time> deadline, write_fn write) {
    auto me = std::make_shared<waiter>(co_await asio::this_coro::executor, amount, deadline);
    bool leading = false;
    {
        std::lock_guard lock(mutex_);
        shard& s = shards_[key];
        if (!s.writing) {
            s.writing = true;
            leading = true;
        } else {
            s.queued.push_back(me);
        }
    }
    if (leading) co_return co_await lead(key, me, write);

    // A follower: wait to be carried by a write, or to lead one.
    const bool woken = co_await receive_until(me->wake, deadline);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    const bool cancelled = state.cancelled() != asio::cancellation_type::none;
    const bool expired = deadline && std::chrono::steady_clock::now() >= *deadline;
    bool to_lead = false;
    {
        std::lock_guard lock(mutex_);
        if (me->leads) {
            me->leads = false;
            to_lead = woken && !cancelled && !expired;
            if (!to_lead) pass_on(key);  // it gave up just as its turn came
        } else if (woken) {
            // A write that completed is never thrown away, also when the
            // deadline or a cancellation came in the same turn.
            if (me->failure) std::rethrow_exception(me->failure);
            co_return me->value;
        } else if (me->in_flight) {
            me->gone = true;  // its leader must not queue it again, nor hand it the lead
            throw error(errc::ambiguous, std::string("incr: ") + (cancelled ? "cancelled" : "deadline expired") +
                                             " while a write carrying it was in flight; it may have been applied");
        } else {
            std::erase(shards_[key].queued, me);
        }
    }
    if (to_lead) co_return co_await lead(key, me, write);
    if (cancelled) throw error(errc::cancelled, "incr: cancelled while waiting for the shard's write");
    throw error(errc::timeout, "incr: deadline expired while waiting for the shard's write");
}

asio::awaitable<std::int64_t> increment_combiner::lead(const std::string& key, std::shared_ptr<waiter> me,
                                                      const write_fn& write) {
    // The leader first, then its followers in the order they came, as many
    // as fit in one 64-bit total.
    std::vector<std::shared_ptr<waiter>> batch{me};
    std::int64_t total = me->amount;
    {
        std::lock_guard lock(mutex_);
        auto& queued = shards_[key].queued;
        std::size_t n = 0;
        for (; n < queued.size(); ++n) {
            std::int64_t sum;
            if (__builtin_add_overflow(total, queued[n]->amount, &sum)) break;
            total = sum;
        }
        batch.insert(batch.end(), queued.begin(), queued.begin() + static_cast<std::ptrdiff_t>(n));
        queued.erase(queued.begin(), queued.begin() + static_cast<std::ptrdiff_t>(n));
        for (const auto& w : batch) w->in_flight = true;
        ++writes_;
    }

    std::optional<sds::error> refused;
    std::exception_ptr failure;
    std::int64_t value = 0;
    try {
        value = co_await write(total, me->deadline);
    } catch (const sds::error& e) {
        refused = e;
    } catch (...) {
        failure = std::current_exception();
    }
    // Not applied because the leader gave up: the followers wait for the next
    // write instead of failing with the leader's reason.
    const bool leader_gave_up =
        refused && (refused->condition() == errc::timeout || refused->condition() == errc::cancelled);

    std::vector<std::shared_ptr<waiter>> done;
    {
        std::lock_guard lock(mutex_);
        if (leader_gave_up) {
            // Those still waiting go back to the front, in order; one that
            // already left (ambiguous) is not waiting for anything.
            auto& queued = shards_[key].queued;
            std::vector<std::shared_ptr<waiter>> again;
            for (std::size_t i = 1; i < batch.size(); ++i) {
                batch[i]->in_flight = false;
                if (!batch[i]->gone) again.push_back(batch[i]);
            }
            queued.insert(queued.begin(), again.begin(), again.end());
        } else {
            // Serial order: the last to come produced `value`, each earlier
            // one the value before the amounts that came after it.
            std::int64_t after = 0;
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
                waiter& w = **it;
                if (refused) w.failure = std::make_exception_ptr(*refused);  // a copy each: callers on many threads
                else if (failure) w.failure = failure;
                else w.value = value - after;
                after += w.amount;
            }
            done.assign(batch.begin() + 1, batch.end());
        }
        pass_on(key);
        for (const auto& w : done) w->wake.try_send(boost::system::error_code{});
    }
    if (me->failure) std::rethrow_exception(me->failure);
    if (refused) throw *refused;
    co_return me->value;
}

} // namespace sds::detail
