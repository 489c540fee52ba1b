#include "counters/counter_ops.hpp"

#include "counters/counter_keys.hpp"

#include <sds/error.hpp>

#include <algorithm>
#include <random>

namespace sds::detail {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

std::uint32_t pick_shard(std::uint32_t n) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return n <= 1 ? 1 : std::uniform_int_distribution<std::uint32_t>(1, n)(rng);
}

// A recorded shard count the engines may write (1 to max_shard_count); a
// larger one came from elsewhere and is refused rather than read blindly.
constexpr std::int64_t max_recorded_shards = 1'000'000;

// The recorder's write: the engine's record of a shard count.
asio::awaitable<std::int64_t> record_shard_count(std::shared_ptr<engine> e, std::string table, std::string counter,
                                                 std::uint32_t n, deadline_t deadline) {
    co_await e->record_shard_count(std::move(table), std::move(counter), n, deadline);
    co_return 0;
}

} // namespace

asio::awaitable<std::int64_t> increment_counter(std::shared_ptr<engine> e, std::shared_ptr<counter_state> state,
                                                std::string table, std::string counter, incr_options options) {
    const auto deadline = deadline_of(options.timeout);
    const std::uint32_t n = options.shard_count;
    if (state->counts.needs_record(table, counter, n, steady::now())) {
        // Concurrent callers that need the same record share its write
        // (recording is idempotent: the amounts the combiner adds mean nothing).
        std::string key = table;
        key.push_back('\0');
        key += counter;
        key.push_back('\0');
        key += std::to_string(n);
        auto record = [e, table, counter, n](std::int64_t, deadline_t record_deadline) {
            return record_shard_count(e, table, counter, n, record_deadline);
        };
        co_await state->recorder->add(std::move(key), 0, deadline, std::move(record));
        state->counts.recorded(table, counter, n, steady::now());
    }
    std::string shard = shard_key(counter, pick_shard(n));
    const shard_write_options write_options{.exactly_once = options.exactly_once,
                                            .retry_ambiguous = !options.exactly_once && options.retry_ambiguous};
    if (!options.combine) co_return co_await e->add_to_shard(table, shard, options.amount, deadline, write_options);
    // Increments combine when they would be the same write.
    std::string key = table;
    key.push_back('\0');
    key += shard;
    key.push_back(write_options.exactly_once ? 'e' : write_options.retry_ambiguous ? 'r' : 'p');
    auto write = [e, table, shard, write_options](std::int64_t total, deadline_t write_deadline) {
        return e->add_to_shard(table, shard, total, write_deadline, write_options);
    };
    co_return co_await state->combiner->add(std::move(key), options.amount, deadline, std::move(write));
}

asio::awaitable<std::int64_t> count_counter(std::shared_ptr<engine> e, std::shared_ptr<counter_state> state,
                                            std::string table, std::string counter, read_options options) {
    const auto deadline = deadline_of(options.timeout);
    const bool consistent = options.consistent.value_or(e->consistent_by_default());
    // One round in the common case: the shard count and the shards this
    // process knows of are read together.
    const std::uint32_t hint = state->counts.known(table, counter).value_or(1);
    const std::string count_key = shard_count_key(counter);
    std::vector<std::string> keys{count_key};
    for (std::uint32_t i = 1; i <= hint; ++i) keys.push_back(shard_key(counter, i));
    counter_items items = co_await e->read_counter_items(table, std::move(keys), consistent, deadline);

    std::uint32_t n = 1;
    if (const auto it = items.find(count_key); it != items.end()) {
        if (it->second < 1 || it->second > max_recorded_shards)
            throw error(errc::protocol_error, "shard count of '" + counter + "' is out of range: " +
                                                  std::to_string(it->second));
        n = static_cast<std::uint32_t>(it->second);
    }
    if (n > hint) {
        std::vector<std::string> more;
        for (std::uint32_t i = hint + 1; i <= n; ++i) more.push_back(shard_key(counter, i));
        items.merge(co_await e->read_counter_items(table, std::move(more), consistent, deadline));
    }
    if (n > 1) state->counts.seen(table, counter, n);

    // Every shard read counts, also one beyond the recorded count (a writer
    // whose record was lost with a recreated table): never drop an increment
    // that was read. A shard never incremented counts 0.
    std::int64_t total = 0;
    for (std::uint32_t i = 1; i <= std::max(n, hint); ++i) {
        const auto it = items.find(shard_key(counter, i));
        if (it != items.end() && __builtin_add_overflow(total, it->second, &total))
            throw error(errc::protocol_error, "the total of '" + counter + "' overflows a 64-bit integer");
    }
    co_return total;
}

asio::awaitable<void> delete_counter_shards(std::shared_ptr<engine> e, std::shared_ptr<counter_state> state,
                                            std::string table, std::string counter, operation_options options) {
    const auto deadline = deadline_of(options.timeout);
    const std::string count_key = shard_count_key(counter);
    std::vector<std::string> count_only{count_key};
    const counter_items recorded = co_await e->read_counter_items(table, std::move(count_only), true, deadline);
    std::uint32_t n = state->counts.known(table, counter).value_or(1);
    if (const auto it = recorded.find(count_key); it != recorded.end() && it->second > 0 &&
                                                  it->second <= max_recorded_shards)
        n = std::max(n, static_cast<std::uint32_t>(it->second));
    // The shards go; the shard count stays. It only ever grows, so a writer
    // elsewhere that recorded it before using a shard stays right; with every
    // shard gone, the counter counts 0.
    std::vector<std::string> keys;
    for (std::uint32_t i = 1; i <= n; ++i) keys.push_back(shard_key(counter, i));
    co_await e->delete_items(table, std::move(keys), deadline);
}

} // namespace sds::detail
