// Sharded counters on any engine: what incr, get_count and delete_counter do
// with a counter's items (README, "Data layout"), once for both engines.
//
// incr: record the shard count if a larger one is first used (and this
// process does not know it recorded), pick a shard, and add to it through
// the combiner, so that concurrent increments of one shard share writes.
// get_count: read the recorded count and the shards this process knows of
// together, then any further shards; every shard read counts. delete_counter:
// delete every shard up to the recorded (or known) count; the count stays.
#pragma once

#include "counters/increment_combiner.hpp"
#include "counters/shard_counts.hpp"
#include "engine.hpp"

#include <sds/options.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace sds::detail {

/// What one datastore knows and shares about its counters.
struct counter_state {
    shard_counts counts;
    std::shared_ptr<increment_combiner> combiner = increment_combiner::create();
    /// Shares the shard-count record among the increments that need it at
    /// once (a counter's first burst): one write, not one per caller.
    std::shared_ptr<increment_combiner> recorder = increment_combiner::create();
};

boost::asio::awaitable<std::int64_t> increment_counter(std::shared_ptr<engine> e,
                                                       std::shared_ptr<counter_state> state, std::string table,
                                                       std::string counter, incr_options options);

boost::asio::awaitable<std::int64_t> count_counter(std::shared_ptr<engine> e, std::shared_ptr<counter_state> state,
                                                   std::string table, std::string counter, read_options options);

boost::asio::awaitable<void> delete_counter_shards(std::shared_ptr<engine> e, std::shared_ptr<counter_state> state,
                                                   std::string table, std::string counter, operation_options options);

} // namespace sds::detail
