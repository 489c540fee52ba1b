// What one process knows of its counters' shard counts, shared by the engines.
//
// A counter's shard count is recorded in the table (a conditional write that
// only lets it grow) before a larger count is first used, so that get_count
// never misses a shard. This cache spares an increment that write while a
// record of at least its count is known to be there: the process wrote it,
// or the service refused to lower it (a lost condition proves the record as
// well as a success does). Such knowledge is trusted for `ttl` only, after
// which the next increment records again: a table deleted and recreated by
// someone else heals within it.
//
// Thread safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sds::detail {

class shard_counts {
public:
    using clock = std::chrono::steady_clock;

    /// How long a known record is trusted.
    static constexpr std::chrono::seconds default_ttl{60};

    explicit shard_counts(std::chrono::steady_clock::duration ttl = default_ttl) : ttl_(ttl) {}

    /// The largest shard count this process has recorded or read for the
    /// counter: how many shards a reader should expect. Nullopt: none known.
    std::optional<std::uint32_t> known(std::string_view table, std::string_view counter) const;

    /// Whether an increment using `n` shards must first record a count of at
    /// least `n`: true unless a record of at least `n` is known since less
    /// than the ttl. One shard never needs a record.
    bool needs_record(std::string_view table, std::string_view counter, std::uint32_t n, clock::time_point now) const;

    /// The table holds a count of at least `n` as of `now`: this process
    /// wrote it, or its write lost the condition because the count was larger.
    void recorded(std::string_view table, std::string_view counter, std::uint32_t n, clock::time_point now);

    /// A reader saw a recorded count of `n` (it says how many shards to read;
    /// it does not spare a writer its record).
    void seen(std::string_view table, std::string_view counter, std::uint32_t n);

    /// Forgets every counter of a table (it was deleted).
    void forget_table(std::string_view table);

private:
    struct entry {
        std::uint32_t largest = 0;          // largest count recorded or seen
        std::uint32_t recorded_at_least = 0;  // a record of at least this many...
        clock::time_point recorded_when{};  // ...was known to be there then
    };
    static std::string key_of(std::string_view table, std::string_view counter);
    entry& slot(std::string_view table, std::string_view counter);  // requires mutex_

    // A bound, not an LRU: entries are cheap to relearn.
    static constexpr std::size_t max_entries = 100'000;

    clock::duration ttl_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
};

} // namespace sds::detail
