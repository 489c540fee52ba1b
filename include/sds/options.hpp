// Per-operation options of the datastore. Every field has a default, so
// `{}` or designated initializers (`{.amount = 3}`) read naturally.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace sds {

/// Options every operation accepts.
struct operation_options {
    /// The time at which a time-series table name ("events_%Y%m%d") is
    /// resolved. Default: now (UTC).
    std::optional<std::chrono::system_clock::time_point> at;
    /// A deadline for the whole operation, all attempts and backoffs included.
    /// Default: none (each attempt still has the transport's request timeout).
    std::optional<std::chrono::milliseconds> timeout;
};

/// Options of create_table.
struct table_options {
    /// Provisioned read capacity (DynamoDB). Default: the config's default_read.
    std::optional<std::int64_t> read;
    /// Provisioned write capacity (DynamoDB). Default: the config's default_write.
    std::optional<std::int64_t> write;
    /// On-demand billing (DynamoDB PAY_PER_REQUEST) instead of provisioned capacity.
    bool on_demand = false;
    std::optional<std::chrono::system_clock::time_point> at;
    std::optional<std::chrono::milliseconds> timeout;
};

/// Options of reads (get_data, get_value, get_count).
struct read_options {
    /// Strongly consistent read. Default: the config's consistent_reads.
    std::optional<bool> consistent;
    std::optional<std::chrono::system_clock::time_point> at;
    std::optional<std::chrono::milliseconds> timeout;
};

/// Options of incr.
struct incr_options {
    /// What to add; may be negative. At most 2^53 - 1 in magnitude, so every
    /// counter stays exact for readers that hold numbers as doubles (JavaScript).
    std::int64_t amount = 1;
    /// Spread the counter over this many shards (1 to 10,000) and increment a
    /// random one. The count only grows: a larger count is recorded before it
    /// is first used, a smaller one uses the first shards.
    std::uint32_t shard_count = 1;
    /// Apply the increment exactly once, also when a request's outcome is
    /// unknown (the connection broke after it was sent, a 5xx, a response that
    /// never came): the shard item records the write, so sds can re-send it
    /// safely and tell whether it landed (README, "Counters: exactly once").
    /// On by default. Azure Table counters are always exactly once; the option
    /// matters on DynamoDB only, where off means a plain `ADD`: an unknown
    /// outcome is then errc::ambiguous (or re-sent, with retry_ambiguous).
    bool exactly_once = true;
    /// Without exactly_once: an increment whose outcome is unknown is
    /// reported as errc::ambiguous; with this set, it is re-sent instead, at
    /// the risk of counting twice. Ignored with exactly_once.
    bool retry_ambiguous = false;
    /// Concurrent increments of the same shard share one request: the first
    /// caller's write carries the amounts queued while it was in flight, and
    /// each caller still gets its own new value. Off: this increment is a
    /// request of its own (on Azure, a read and a conditional write that may
    /// conflict with the others).
    bool combine = true;
    std::optional<std::chrono::system_clock::time_point> at;
    std::optional<std::chrono::milliseconds> timeout;
};

} // namespace sds
