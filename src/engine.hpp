// The interface between the datastore facade and a storage service.
//
// The facade resolves table names, validates what every engine needs valid
// and dispatches; an engine turns one datastore operation into service
// requests and back. Table names reaching an engine are resolved (no '%').
#pragma once

#include <sds/options.hpp>
#include <sds/value.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <unordered_map>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sds::detail {

/// What a service accepts, for validation before anything is sent.
struct engine_limits {
    std::size_t max_key_bytes;   ///< item key (DynamoDB hash key: 2048)
    std::size_t max_item_bytes;  ///< a whole value item (DynamoDB: 400 KB)
};

using deadline_t = std::optional<std::chrono::steady_clock::time_point>;

/// The deadline an operation's `timeout` option sets, counted from now.
inline deadline_t deadline_of(const std::optional<std::chrono::milliseconds>& timeout) {
    if (!timeout) return std::nullopt;
    return std::chrono::steady_clock::now() + *timeout;
}

/// The numbers counter items hold, by key: a shard's `data`, a shard-count
/// item's `shards` (README, "Data layout"). Keys with no item are absent.
using counter_items = std::unordered_map<std::string, std::int64_t>;

/// How one write to a counter shard may be sent.
struct shard_write_options {
    /// Record the write in the shard so that an unknown outcome can be
    /// resolved (incr_options::exactly_once). Azure always does.
    bool exactly_once = true;
    /// Re-send a write whose outcome is unknown (incr_options::retry_ambiguous).
    bool retry_ambiguous = false;
};

class engine {
public:
    virtual ~engine() = default;

    virtual const engine_limits& limits() const noexcept = 0;
    /// Throws errc::invalid_argument for a (resolved) table name the service refuses.
    virtual void check_table_name(std::string_view name) const = 0;
    /// Throws errc::invalid_argument for a key (of a value, or a counter's
    /// item) the service refuses, beyond the checks every engine shares.
    virtual void check_key(std::string_view what, std::string_view key) const = 0;
    /// Throws errc::invalid_argument when a value item would be too large.
    virtual void check_item(std::string_view key, const value& v) const = 0;

    virtual boost::asio::awaitable<void> create_table(std::string table, table_options options) = 0;
    virtual boost::asio::awaitable<void> delete_table(std::string table, operation_options options) = 0;
    virtual boost::asio::awaitable<std::vector<std::string>> list_tables(operation_options options) = 0;
    virtual boost::asio::awaitable<void> update_throughput(std::string table, std::int64_t read, std::int64_t write,
                                                           operation_options options) = 0;
    virtual boost::asio::awaitable<void> put(std::string table, std::string key, value v, operation_options options) = 0;
    virtual boost::asio::awaitable<std::optional<value>> get(std::string table, std::string key, read_options options) = 0;
    virtual boost::asio::awaitable<void> remove(std::string table, std::string key, operation_options options) = 0;

    // Counter items; what a counter is made of, and the combining of
    // increments, is engine-neutral (src/counters/counter_ops.hpp).

    /// Records a shard count of at least `n` for `counter` (a conditional
    /// write: the count only grows). A count already at least `n` is success.
    virtual boost::asio::awaitable<void> record_shard_count(std::string table, std::string counter, std::uint32_t n,
                                                            deadline_t deadline) = 0;
    /// Adds `amount` to the shard item `shard` and returns its new value.
    /// Not idempotent: an unknown outcome is errc::ambiguous unless resolved.
    virtual boost::asio::awaitable<std::int64_t> add_to_shard(std::string table, std::string shard, std::int64_t amount,
                                                              deadline_t deadline, shard_write_options options) = 0;
    /// Reads the counter items `keys` (concurrently, as the service allows).
    virtual boost::asio::awaitable<counter_items> read_counter_items(std::string table, std::vector<std::string> keys,
                                                                     bool consistent, deadline_t deadline) = 0;
    /// Deletes the items `keys`; absent ones are not an error.
    virtual boost::asio::awaitable<void> delete_items(std::string table, std::vector<std::string> keys,
                                                      deadline_t deadline) = 0;
    /// The config's default for read_options::consistent.
    virtual bool consistent_by_default() const noexcept = 0;
};

} // namespace sds::detail
