// sds::datastore: a key-value store and sharded counters on DynamoDB.
//
//   boost::asio::io_context io;
//   sds::datastore db{io.get_executor(), sds::dynamodb_config::from_env()};
//   co_await db.create_table("table");
//   co_await db.set_data("table", "key", "value");
//   std::optional<std::string> v = co_await db.get_data("table", "key");
//   std::int64_t n = co_await db.incr("table", "hits", {.shard_count = 10});
//   std::int64_t total = co_await db.get_count("table", "hits");
//
// Every operation is a coroutine: co_await it from a coroutine running on an
// executor of the io_context the datastore was made with. Failures throw
// sds::error (see <sds/error.hpp>); missing data is not a failure: get_data
// gives std::nullopt and a missing counter counts 0.
//
// Table names containing '%' are UTC strftime patterns ("events_%Y%m%d"),
// resolved at the operation's `at` time (default now). When the table of
// the current slice does not exist, reads and deletes fall back to the
// previous slice (the slice one period earlier: a day for %d, an hour for %H,
// a month for %m, ...).
//
// Bad input (a table name the service cannot accept, an empty key or one
// over 2048 bytes, a value key naming a counter item ("*_shards",
// "*_shard_<digits>"), text that is not UTF-8, an item over 400 KB, an amount
// or shard count out of range) throws errc::invalid_argument before anything
// is sent.
//
// Thread safety: one datastore may be used by any number of coroutines at
// once, also on an io_context run by several threads: each operation runs on
// a strand of its own (or the caller's, when the caller runs on a strand).
// On an io_context made with BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO (the
// program's promise to Asio that one thread at a time runs it and uses its
// I/O objects) operations need no strand and run on the caller's executor:
// the fastest setup for a single-threaded server. (Hint 1 alone allows
// several threads, so operations keep their strands there; _UNSAFE also
// works, but Asio then cannot resolve host names.)
// Construction opens no connection. Cancellation: every operation honours
// Asio per-operation cancellation (terminal), also emitted from another
// thread, and the `timeout` option, and reports either as sds::error
// (errc::cancelled, errc::timeout). (A coroutine that awaits an operation
// after it was itself cancelled gets Asio's own operation_aborted from that
// co_await, unless it set this_coro::throw_if_cancelled(false); nothing is
// started either way.) For incr, those two mean the increment was
// not applied; one that may have been is errc::ambiguous. A cancelled set_data
// or delete_data may or may not have been applied (repeating it is safe).
//
// Arguments are taken by value and each operation holds the engine, so an
// operation may be started with temporaries and awaited later, even after
// the datastore was moved or destroyed. Like any Asio I/O object, a
// datastore must be destroyed before the io_context it was made with.
#pragma once

#include <sds/azure_table_config.hpp>
#include <sds/dynamodb_config.hpp>
#include <sds/error.hpp>
#include <sds/options.hpp>
#include <sds/value.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sds {

namespace detail {
class engine;
struct counter_state;
struct datastore_access;
}

class datastore {
public:
    /// A datastore on DynamoDB. Checks the configuration (throws
    /// errc::invalid_argument naming the field for a malformed endpoint, a
    /// timeout or interval that is not positive or over 100 years, no
    /// connections, a default capacity under 1); opens nothing.
    datastore(boost::asio::any_io_executor ex, dynamodb_config config);
    /// A datastore on Azure Table Storage. Checks the configuration as for
    /// DynamoDB, and a malformed account key or SAS, or max_write_conflicts
    /// of 0 (errc::invalid_argument, never echoing a credential); opens nothing.
    datastore(boost::asio::any_io_executor ex, azure_table_config config);
    ~datastore();
    datastore(datastore&&) noexcept;
    datastore& operator=(datastore&&) noexcept;

    /// Creates a table with hash key `key` and waits until it is usable. A
    /// table that already exists is not an error (its throughput is left as it is).
    boost::asio::awaitable<void> create_table(std::string table, table_options options = {});

    /// Deletes a table and waits until it is gone. errc::table_not_found if
    /// there is none.
    boost::asio::awaitable<void> delete_table(std::string table, operation_options options = {});

    /// Names of all tables, sorted.
    boost::asio::awaitable<std::vector<std::string>> list_tables(operation_options options = {});

    /// Sets a table's provisioned read and write capacity and waits until the
    /// table is ACTIVE again. Setting the current values changes nothing;
    /// an on-demand table is errc::invalid_argument.
    boost::asio::awaitable<void> update_throughput(std::string table, std::int64_t read, std::int64_t write,
                                                   operation_options options = {});

    /// Stores UTF-8 text under `key`, replacing what was there.
    ///
    /// Every copy of the write is conditional, so a copy delayed past the
    /// timeout and re-sent can never land later over a newer value: on
    /// DynamoDB the item is stamped with this datastore's writer id and a
    /// sequence number (`vw`, `vq`) and the PutItem refuses to replace a
    /// later write of the same datastore; on Azure the write is an Update
    /// If-Match the ETag this datastore last saw for the key (an Insert for a
    /// key it has not seen), and a key changed by another writer meanwhile
    /// costs a read and a second write. errc::condition_failed only after
    /// losing to other writers `max_write_conflicts` times in a row (Azure).
    boost::asio::awaitable<void> set_data(std::string table, std::string key, std::string text,
                                          operation_options options = {});
    /// Stores raw bytes under `key`, replacing what was there (as above).
    boost::asio::awaitable<void> set_data(std::string table, std::string key, bytes data,
                                          operation_options options = {});

    /// The text (or the raw bytes) stored under `key`; std::nullopt if none.
    boost::asio::awaitable<std::optional<std::string>> get_data(std::string table, std::string key,
                                                                read_options options = {});
    /// The value stored under `key` with its type; std::nullopt if none.
    boost::asio::awaitable<std::optional<value>> get_value(std::string table, std::string key,
                                                           read_options options = {});

    /// Deletes what is stored under `key`; deleting nothing is not an error.
    boost::asio::awaitable<void> delete_data(std::string table, std::string key, operation_options options = {});

    /// Adds `options.amount` to a counter and returns the new value of the
    /// shard it incremented: the counter's value when it has one shard. The
    /// total of a sharded counter is get_count's to read. Never applied twice:
    /// errc::timeout and errc::cancelled mean it was not applied,
    /// errc::ambiguous that it may have been (see incr_options::retry_ambiguous).
    boost::asio::awaitable<std::int64_t> incr(std::string table, std::string counter, incr_options options = {});

    /// The counter's total: the recorded shard count and every shard read
    /// concurrently. A counter that does not exist counts 0.
    boost::asio::awaitable<std::int64_t> get_count(std::string table, std::string counter, read_options options = {});

    /// Deletes every shard of a counter: it counts 0 afterwards. Its shard
    /// count item stays, since the count only grows: another process that
    /// recorded it before incrementing its shards stays exact.
    boost::asio::awaitable<void> delete_counter(std::string table, std::string counter, operation_options options = {});

private:
    friend struct detail::datastore_access;
    datastore(boost::asio::any_io_executor ex, std::shared_ptr<detail::engine> engine);

    boost::asio::any_io_executor executor_;
    std::shared_ptr<detail::engine> engine_;
    std::shared_ptr<detail::counter_state> counters_;
};

} // namespace sds
