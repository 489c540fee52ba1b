// Runs one datastore operation on an engine over a scripted transport and
// checks how it ended: a result, or an sds::error. Any other exception, an
// operation that never completes, or a sanitizer report is a finding.
//
// The operation is the script's first line (support/scripted_transport.hpp
// has the rest): create_table, create_table_on_demand, delete_table,
// list_tables, update_throughput, set_data, set_bytes, get_data,
// delete_data, incr [shards [amount]], get_count, delete_counter. Counters
// go through the engine-neutral counter code, as the datastore's do.
#pragma once

#include "counters/counter_ops.hpp"
#include "engine.hpp"
#include "support/finding.hpp"

#include <sds/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sds::fuzz {

/// The first word of `line` and the numbers after it.
struct operation_line {
    std::string_view name;
    std::vector<std::int64_t> numbers;
};

inline operation_line parse_operation(std::string_view line) {
    operation_line out;
    auto word = [&line]() {
        while (line.starts_with(' ')) line.remove_prefix(1);
        const std::size_t end = std::min(line.find(' '), line.size());
        const std::string_view w = line.substr(0, end);
        line.remove_prefix(end);
        return w;
    };
    out.name = word();
    for (std::string_view w = word(); !w.empty(); w = word()) {
        std::int64_t n = 0;
        std::from_chars(w.data(), w.data() + w.size(), n);
        out.numbers.push_back(n);
    }
    return out;
}

/// Runs `op` on `e`; returns false when the line names no operation.
/// `sends` counts the requests sent so far: errc::invalid_argument means
/// "refused before anything was sent", so it must not follow a response
/// (except where the README documents it: update_throughput on an on-demand
/// DynamoDB table, an increment that would overflow its shard).
template <class Sends>
bool run_operation(std::shared_ptr<detail::engine> e, std::string_view line, Sends sends) {
    namespace asio = boost::asio;
    const operation_line op = parse_operation(line.substr(0, line.find('\n')));
    auto number = [&op](std::size_t i, std::int64_t fallback) { return i < op.numbers.size() ? op.numbers[i] : fallback; };
    const std::string table = "tbl", key = "k", counter = "c";
    auto counters = std::make_shared<detail::counter_state>();

    asio::awaitable<void> work;
    if (op.name == "create_table") work = e->create_table(table, {});
    else if (op.name == "create_table_on_demand") work = e->create_table(table, {.on_demand = true});
    else if (op.name == "delete_table") work = e->delete_table(table, {});
    else if (op.name == "list_tables") {
        work = [](std::shared_ptr<detail::engine> e) -> asio::awaitable<void> {
            const auto names = co_await e->list_tables({});
            if (!std::is_sorted(names.begin(), names.end())) finding("list_tables returned names out of order");
        }(e);
    } else if (op.name == "update_throughput") work = e->update_throughput(table, 10, 5, {});
    else if (op.name == "set_data") work = e->put(table, key, value{value::kind::text, "v"}, {});
    else if (op.name == "set_bytes") work = e->put(table, key, value{value::kind::binary, std::string("\0\xff", 2)}, {});
    else if (op.name == "get_data") {
        work = [](std::shared_ptr<detail::engine> e, std::string t, std::string k) -> asio::awaitable<void> {
            (void)co_await e->get(t, k, {});
        }(e, table, key);
    } else if (op.name == "delete_data") work = e->remove(table, key, {});
    else if (op.name == "incr") {
        const auto shards = static_cast<std::uint32_t>(std::clamp<std::int64_t>(number(0, 1), 1, 10000));
        const std::int64_t amount = std::clamp<std::int64_t>(number(1, 1), -(std::int64_t{1} << 53) + 1,
                                                             (std::int64_t{1} << 53) - 1);
        work = [](std::shared_ptr<detail::engine> e, std::shared_ptr<detail::counter_state> c, std::string t,
                  std::string n, incr_options o) -> asio::awaitable<void> {
            (void)co_await detail::increment_counter(e, c, t, n, o);
        }(e, counters, table, counter, incr_options{.amount = amount, .shard_count = shards});
    } else if (op.name == "get_count") {
        work = [](std::shared_ptr<detail::engine> e, std::shared_ptr<detail::counter_state> c, std::string t,
                  std::string n) -> asio::awaitable<void> {
            (void)co_await detail::count_counter(e, c, t, n, {});
        }(e, counters, table, counter);
    } else if (op.name == "delete_counter") {
        work = detail::delete_counter_shards(e, counters, table, counter, {});
    } else {
        return false;
    }

    asio::io_context io;
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(work), [&](std::exception_ptr ex) {
        done = true;
        failure = ex;
    });
    io.run();
    if (!done) finding(std::string(op.name) + " never completed");
    if (!failure) return true;
    try {
        std::rethrow_exception(failure);
    } catch (const sds::error& err) {
        const bool may_refuse_late = op.name == "update_throughput" || op.name == "incr";
        if (err.condition() == errc::invalid_argument && sends() > 0 && !may_refuse_late)
            finding(std::string(op.name) + " failed with invalid_argument after sending: " + err.what());
        return true;  // a documented failure
    } catch (...) {
    }
    finding(std::string(op.name) + " threw " + describe(failure));
}

} // namespace sds::fuzz
