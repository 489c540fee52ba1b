// Concurrent increments of one counter shard, combined into few writes.
//
// Within one process, increments of the same shard never race each other:
// one write per shard is in flight, and the increments that arrive meanwhile
// are summed into the next write. A hot counter incremented by N coroutines
// at once costs a few requests instead of N contending ones (on Azure, N
// rounds of ETag conflicts; on DynamoDB, N UpdateItems).
//
// Each caller still gets the value its own increment produced in a serial
// order: a write that adds the amounts a1..ak of its callers (in the order
// they arrived) and leaves the shard at V gives caller i
// V - (a(i+1) + ... + ak).
//
// The first caller to find no write in flight for its shard leads: it
// writes, in its own coroutine under its own deadline and cancellation, its
// amount plus those of the callers that queued meanwhile (its followers).
// When the write is over, the first caller still queued leads the next one.
// So a caller alone on its shard (the common case) sends exactly the write
// it would without combining, with the same outcomes.
//
// A follower's outcome is its leader's write's: applied with it, or
// errc::ambiguous with it, or a final service error with it. A write that
// was not applied because its leader gave up (errc::timeout, errc::cancelled)
// applied none of its followers' amounts either: they queue again, in order,
// for the next write. A caller whose deadline passes, or who is cancelled,
// while queued leaves the queue (errc::timeout / errc::cancelled: not
// applied); one whose amount is already in flight in another's write gets
// errc::ambiguous at once, and the write goes on for the others.
//
// Engine-neutral: the engines supply the write. Thread safe.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sds::detail {

class increment_combiner : public std::enable_shared_from_this<increment_combiner> {
public:
    using steady_time = std::chrono::steady_clock::time_point;

    /// Applies `total` to the shard and returns the shard's new value, or
    /// throws sds::error. `deadline` is the leading caller's.
    using write_fn = std::function<boost::asio::awaitable<std::int64_t>(std::int64_t total,
                                                                        std::optional<steady_time> deadline)>;

    static std::shared_ptr<increment_combiner> create() { return std::shared_ptr<increment_combiner>(new increment_combiner); }

    /// Adds `amount` to the shard `key` names (increments with the same key
    /// must mean the same write) and returns the value this increment
    /// produced. `write` is used when this caller leads a write. Must be
    /// awaited on a strand.
    boost::asio::awaitable<std::int64_t> add(std::string key, std::int64_t amount, std::optional<steady_time> deadline,
                                             write_fn write);

    /// Writes issued so far (for tests and statistics).
    std::uint64_t writes() const;

private:
    increment_combiner() = default;
    struct waiter;
    struct shard {
        std::vector<std::shared_ptr<waiter>> queued;
        bool writing = false;
    };
    /// Writes for `me` and its followers; returns `me`'s value.
    boost::asio::awaitable<std::int64_t> lead(const std::string& key, std::shared_ptr<waiter> me, const write_fn& write);
    /// Hands the shard to the first queued caller, or marks it idle. Requires mutex_.
    void pass_on(const std::string& key);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, shard> shards_;
    std::uint64_t writes_ = 0;
};

} // namespace sds::detail
