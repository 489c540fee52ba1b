// The combiner of concurrent increments of one shard: few writes, each
// caller's value in a serial order, and outcomes that mean what a single
// increment's would, with a scripted write in place of a service.
#include <catch2/catch.hpp>

#include "counters/increment_combiner.hpp"
#include "support/expect_error.hpp"

#include <sds/error.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <vector>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using steady = std::chrono::steady_clock;

// A shard in memory whose writes take `latency`; it can be told to refuse
// its next writes.
struct fake_shard {
    std::int64_t value = 0;
    std::vector<std::int64_t> totals;  // every write's total, in order
    std::chrono::milliseconds latency{10};
    std::vector<errc> refusals;        // the next writes throw these, in order

    increment_combiner::write_fn writer() {
        return [this](std::int64_t total, std::optional<steady::time_point> deadline) -> asio::awaitable<std::int64_t> {
            totals.push_back(total);
            asio::steady_timer t(co_await asio::this_coro::executor, latency);
            if (deadline && *deadline < steady::now() + latency) t.expires_at(*deadline);
            co_await t.async_wait(asio::use_awaitable);
            if (!refusals.empty()) {
                const errc e = refusals.front();
                refusals.erase(refusals.begin());
                throw sds::error(e, "scripted refusal");
            }
            if (deadline && steady::now() >= *deadline) throw sds::error(errc::timeout, "scripted deadline");
            value += total;
            co_return value;
        };
    }
};

struct outcome {
    std::optional<std::int64_t> value;
    std::optional<errc> failure;
};

// Starts `amounts.size()` increments of one key on strands of `io`, each
// with its deadline, and returns their outcomes once io.run() is done.
struct increments {
    asio::io_context io;
    std::shared_ptr<increment_combiner> combiner = increment_combiner::create();
    std::vector<outcome> outcomes;
    std::vector<std::unique_ptr<asio::cancellation_signal>> signals;

    void start(fake_shard& shard, std::int64_t amount, std::optional<std::chrono::milliseconds> timeout = {},
               std::chrono::milliseconds start_after = 0ms) {
        const std::size_t i = outcomes.size();
        outcomes.emplace_back();
        signals.push_back(std::make_unique<asio::cancellation_signal>());
        auto strand = asio::make_strand(io);
        auto timer = std::make_shared<asio::steady_timer>(strand, start_after);
        timer->async_wait([this, i, timer, strand, amount, timeout, &shard](auto) {
            asio::co_spawn(
                strand,
                [this, i, amount, timeout, &shard]() -> asio::awaitable<void> {
                    std::optional<steady::time_point> deadline;
                    if (timeout) deadline = steady::now() + *timeout;
                    try {
                        outcomes[i].value = co_await combiner->add("tbl/hits_shard_1", amount, deadline, shard.writer());
                    } catch (const sds::error& e) {
                        outcomes[i].failure = e.condition();
                    }
                },
                asio::bind_cancellation_slot(signals[i]->slot(), [](std::exception_ptr) {}));
        });
    }
};

} // namespace

TEST_CASE("64 concurrent increments of one shard take a few writes, and each gets a distinct value in serial order",
          "[combiner]") {
    fake_shard shard;
    increments run;
    for (int i = 0; i < 64; ++i) run.start(shard, 1);
    run.io.run();
    std::vector<std::int64_t> values;
    for (const auto& o : run.outcomes) {
        REQUIRE(o.value);
        values.push_back(*o.value);
    }
    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> serial(64);
    for (int i = 0; i < 64; ++i) serial[i] = i + 1;
    CHECK(values == serial);  // as if applied one after another
    CHECK(shard.value == 64);
    CHECK(run.combiner->writes() == shard.totals.size());
    CHECK(shard.totals.size() <= 3);  // the first alone, then the rest together
}

TEST_CASE("amounts of any sign combine, and each caller's value counts its own amount last", "[combiner]") {
    fake_shard shard;
    increments run;
    const std::int64_t amounts[] = {5, -2, 7, 100, -50};
    for (auto a : amounts) run.start(shard, a);
    run.io.run();
    CHECK(shard.value == 60);
    // The first caller leads alone (5); the other four follow in one write
    // in arrival order: -2, 7, 100, -50 leave 3, 10, 110, 60.
    REQUIRE(shard.totals == std::vector<std::int64_t>{5, 55});
    CHECK(run.outcomes[0].value == 5);
    CHECK(run.outcomes[1].value == 3);
    CHECK(run.outcomes[2].value == 10);
    CHECK(run.outcomes[3].value == 110);
    CHECK(run.outcomes[4].value == 60);
}

TEST_CASE("a caller whose deadline passes while it is queued leaves the queue unapplied", "[combiner]") {
    fake_shard shard;
    shard.latency = 100ms;
    increments run;
    run.start(shard, 1);              // leads a 100 ms write
    run.start(shard, 10, 30ms, 5ms);  // queued; gives up at 35 ms
    run.start(shard, 100, {}, 5ms);   // queued; carried by the next write
    run.io.run();
    CHECK(run.outcomes[1].failure == errc::timeout);
    CHECK(run.outcomes[2].value == 101);
    CHECK(shard.value == 101);  // the 10 was never applied
    CHECK(shard.totals == std::vector<std::int64_t>{1, 100});
}

TEST_CASE("when a leader gives up before its write applied, its followers are carried by the next write", "[combiner]") {
    fake_shard shard;
    shard.latency = 50ms;
    increments run;
    run.start(shard, 1);             // leads a write that applies 1
    run.start(shard, 2, 80ms, 5ms);  // leads the second write (2 + 3), which its deadline cuts short
    run.start(shard, 3, {}, 10ms);   // follows it, then is carried by the third
    run.io.run();
    CHECK(run.outcomes[0].value == 1);
    CHECK(run.outcomes[1].failure == errc::timeout);
    CHECK(run.outcomes[2].value == 4);
    CHECK(shard.value == 4);
    CHECK(shard.totals == std::vector<std::int64_t>{1, 5, 3});
}

TEST_CASE("a final error of a write reaches every caller it carried", "[combiner]") {
    fake_shard shard;
    shard.refusals = {errc::table_not_found, errc::table_not_found};
    increments run;
    for (int i = 0; i < 5; ++i) run.start(shard, 1);
    run.io.run();
    for (const auto& o : run.outcomes) CHECK(o.failure == errc::table_not_found);
    CHECK(shard.value == 0);
}

TEST_CASE("a follower cancelled while its write is in flight is ambiguous at once, and the write goes on", "[combiner]") {
    fake_shard shard;
    shard.latency = 60ms;
    increments run;
    run.start(shard, 1);            // leads the first write
    run.start(shard, 2, {}, 5ms);   // leads the second (2 + 3) at 60 ms
    run.start(shard, 3, {}, 10ms);  // follows it; cancelled at 90 ms, in flight
    asio::steady_timer cancel(run.io, 90ms);
    cancel.async_wait([&](auto) { run.signals[2]->emit(asio::cancellation_type::terminal); });
    run.io.run();
    CHECK(run.outcomes[2].failure == errc::ambiguous);
    CHECK(run.outcomes[1].value == 3);
    CHECK(shard.value == 6);  // it was applied after all
}

TEST_CASE("a follower cancelled while queued leaves the queue unapplied", "[combiner]") {
    fake_shard shard;
    shard.latency = 60ms;
    increments run;
    run.start(shard, 1);
    run.start(shard, 10, {}, 5ms);
    asio::steady_timer cancel(run.io, 20ms);
    cancel.async_wait([&](auto) { run.signals[1]->emit(asio::cancellation_type::terminal); });
    run.io.run();
    CHECK(run.outcomes[1].failure == errc::cancelled);
    CHECK(shard.value == 1);
}

// A follower left (ambiguous) while its write was in flight; then the leader
// gave up. The shard must not be handed to the one that left.
TEST_CASE("a follower that left while in flight is not handed the lead when its leader gives up", "[combiner]") {
    fake_shard shard;
    shard.latency = 100ms;
    increments run;
    run.start(shard, 1);               // leads the first write (0 to 100 ms)
    run.start(shard, 2, 160ms, 5ms);   // leads the second at 100 ms; its deadline (165 ms) cuts it short
    run.start(shard, 3, 120ms, 10ms);  // follows it; leaves ambiguous at 130 ms, in flight
    run.start(shard, 4, 2s, 150ms);    // queued behind them; must still be written
    run.io.run_for(5s);
    CHECK(run.outcomes[0].value == 1);
    CHECK(run.outcomes[1].failure == errc::timeout);
    CHECK(run.outcomes[2].failure == errc::ambiguous);
    CHECK(run.outcomes[3].value == 5);
    CHECK(shard.value == 5);
}
