// Thousands of increments on an io_context run by four threads, against a
// local server that answers near their deadlines, with cancellations arriving
// from other threads: nothing crashes, and every outcome agrees with what the
// server saw. For an increment (not idempotent):
//   success             the server applied it;
//   timeout, cancelled  the server never read it;
//   ambiguous           it may or may not have been applied;
// and the server never reads one increment twice.
#include <catch2/catch.hpp>

#include "dynamodb/dynamodb_engine.hpp"
#include "support/test_server.hpp"

#include <sds/datastore.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace sds;
using namespace std::chrono_literals;
using sds::test::server_action;
using sds::test::test_server;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

// Answers UpdateItem as DynamoDB does (the new value in Attributes, with its
// x-amz-crc32) after a delay that wanders around `latency`.
sds::test::server_handler dynamodb_counter_server(std::chrono::milliseconds latency) {
    auto counts = std::make_shared<std::map<std::string, std::int64_t>>();
    return [counts, latency](const auto& req, std::size_t i) {
        const auto body = json::parse(req.body()).as_object();
        const std::string key(body.at("Key").at("key").at("S").as_string());
        const std::int64_t amount = std::stoll(std::string(body.at("ExpressionAttributeValues").at(":a").at("N").as_string()));
        const std::int64_t value = (*counts)[key] += amount;
        server_action a;
        a.body = R"({"Attributes":{"data":{"N":")" + std::to_string(value) + R"("}}})";
        a.headers = {{"x-amz-crc32", std::to_string(detail::dynamodb_crc32(a.body))}};
        a.delay = latency + latency * (static_cast<int>((i * 7) % 11) - 5) / 35;  // within 1/7 of it
        return a;
    };
}

enum class canceller { none, other_strand, outside_thread };

struct op_state {
    // On four threads each increment runs on a strand of its own; on one
    // thread on the io_context's own executor.
    op_state(asio::io_context& io, bool one_thread)
        : strand(one_thread ? asio::any_io_executor(io.get_executor()) : asio::any_io_executor(asio::make_strand(io))) {}
    asio::any_io_executor strand;
    asio::cancellation_signal signal;
    bool finished = false;  // on `strand`
    std::string counter;
    canceller cancelled_by = canceller::none;
    std::chrono::milliseconds cancel_after{0};
    std::optional<errc> failure;        // empty: success
    std::string other_failure;          // an exception that is not an sds::error
    steady::duration overrun{};         // how far past its deadline it returned
};

struct stress_result {
    std::map<std::string, int> outcomes;
    std::map<std::string, steady::duration> max_overrun;  // by outcome
};

asio::awaitable<void> one_increment(datastore& db, op_state& op, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    try {
        co_await db.incr("stress", op.counter, {.timeout = timeout});
    } catch (const sds::error& e) {
        op.failure = e.condition();
    }
    op.overrun = steady::now() - deadline;
}

// Runs `total` increments of distinct counters, `lanes` at a time, on four
// threads; a third of them are cancelled at a random moment by a timer on
// another strand, or by a thread outside the io_context. Checks each outcome
// against the requests the server read.
stress_result run_stress(std::size_t total, std::size_t lanes, std::size_t max_connections,
                         std::chrono::milliseconds latency, std::chrono::milliseconds timeout, int threads = 4) {
    test_server server(dynamodb_counter_server(latency));
    // One thread: the hint that obliges the program to run it from one
    // thread at a time, under which sds runs without strands.
    asio::io_context io(threads == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : threads);
    dynamodb_config config;
    config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
    config.credentials = {"AKIDSTRESS", "stress-secret", ""};
    config.http.max_connections = max_connections;
    config.retry.base_delay = 1ms;
    config.retry.throttle_base_delay = 1ms;
    datastore db(io.get_executor(), config);

    std::vector<std::unique_ptr<op_state>> ops;
    std::mt19937 rng(20261126);
    for (std::size_t i = 0; i < total; ++i) {
        auto op = std::make_unique<op_state>(io, threads == 1);
        op->counter = "c" + std::to_string(i);
        op->cancelled_by = static_cast<canceller>(i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : 2));
        // Anywhere from at once to well past the deadline.
        op->cancel_after = std::chrono::milliseconds(
            std::uniform_int_distribution<int>(0, static_cast<int>(timeout.count() * 3 / 2))(rng));
        ops.push_back(std::move(op));
    }

    std::mutex outside_mutex;
    std::vector<std::pair<steady::time_point, op_state*>> outside_queue;
    std::atomic<std::size_t> finished{0};

    auto cancel = [](op_state& op) {
        asio::post(op.strand, [&op] {
            if (!op.finished) op.signal.emit(asio::cancellation_type::terminal);
        });
    };
    std::function<void(std::size_t)> launch = [&](std::size_t i) {
        if (i >= total) return;
        op_state& op = *ops[i];
        asio::co_spawn(op.strand, one_increment(db, op, timeout),
                       asio::bind_cancellation_slot(op.signal.slot(), [&, i](std::exception_ptr e) {
                           op.finished = true;
                           if (e) {
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& x) {
                                   op.other_failure = x.what();
                               }
                           }
                           ++finished;
                           launch(i + lanes);
                       }));
        if (op.cancelled_by == canceller::other_strand) {
            auto t = std::make_shared<asio::steady_timer>(
                threads == 1 ? asio::any_io_executor(io.get_executor()) : asio::any_io_executor(asio::make_strand(io)),
                op.cancel_after);
            t->async_wait([t, &op, &cancel](boost::system::error_code) { cancel(op); });
        } else if (op.cancelled_by == canceller::outside_thread) {
            std::lock_guard lock(outside_mutex);
            outside_queue.emplace_back(steady::now() + op.cancel_after, &op);
        }
    };
    for (std::size_t lane = 0; lane < lanes; ++lane) asio::post(io, [&, lane] { launch(lane); });

    std::thread outside([&] {
        while (finished < total) {
            {
                std::lock_guard lock(outside_mutex);
                const auto now = steady::now();
                for (auto it = outside_queue.begin(); it != outside_queue.end();) {
                    if (it->first <= now) {
                        cancel(*it->second);
                        it = outside_queue.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    std::vector<std::thread> runners;
    for (int t = 0; t < threads; ++t) runners.emplace_back([&] { io.run(); });
    for (auto& t : runners) t.join();
    outside.join();

    std::map<std::string, int> reads;  // shard key -> times the server read it
    for (const auto& req : server.received()) {
        const auto body = json::parse(req.body()).as_object();
        ++reads[std::string(body.at("Key").at("key").at("S").as_string())];
    }
    stress_result result;
    for (const auto& op : ops) {
        REQUIRE(op->finished);
        INFO("increment of " << op->counter);
        CHECK(op->other_failure == "");
        const int read = reads[op->counter + "_shard_1"];
        CHECK(read <= 1);
        std::string outcome = op->failure ? to_string(*op->failure) : "success";
        if (!op->failure) CHECK(read == 1);
        else if (*op->failure == errc::timeout || *op->failure == errc::cancelled) CHECK(read == 0);
        else CHECK(*op->failure == errc::ambiguous);
        ++result.outcomes[outcome];
        result.max_overrun[outcome] = std::max(result.max_overrun[outcome], op->overrun);
    }
    return result;
}

// What each outcome came to, and how far past its deadline the slowest
// call of each returned (negative: before it).
void report(const char* name, stress_result& r) {
    std::printf("%s:", name);
    for (const auto& [outcome, n] : r.outcomes)
        std::printf(" %s %d (latest %+.1f ms);", outcome.c_str(), n,
                    std::chrono::duration<double, std::milli>(r.max_overrun[outcome]).count());
    std::printf("\n");
}

// Sanitizer builds run several times slower: SDS_TEST_TIME_SCALE stretches
// the server's latency and the deadlines alike, so that they stay as close.
std::chrono::milliseconds scaled(std::chrono::milliseconds ms) {
    const char* scale = std::getenv("SDS_TEST_TIME_SCALE");
    return ms * (scale ? std::max(1, std::atoi(scale)) : 1);
}

} // namespace

TEST_CASE("1,500 increments with deadlines just past the server's latency on four threads, cancelled from other threads, "
          "agree with the server",
          "[stress]") {
    auto r = run_stress(1500, 64, 64, scaled(35ms), scaled(40ms));
    report("deadline near latency, 64 connections", r);
    CHECK(r.outcomes["success"] > 0);
    CHECK(r.outcomes["ambiguous"] + r.outcomes["timeout"] + r.outcomes["cancelled"] > 0);
}

TEST_CASE("1,500 increments with deadlines just past the server's latency on a one-thread io_context, which needs no "
          "strands, cancelled by timers and from a thread outside, agree with the server",
          "[stress]") {
    // BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO: the operations run on the
    // io_context's executor.
    auto r = run_stress(1500, 64, 64, scaled(35ms), scaled(40ms), 1);
    report("one thread, deadline near latency", r);
    CHECK(r.outcomes["success"] > 0);
    CHECK(r.outcomes["ambiguous"] + r.outcomes["timeout"] + r.outcomes["cancelled"] > 0);
}

TEST_CASE("1,500 increments queueing for 8 connections with deadlines near the wait, on four threads, agree with the "
          "server",
          "[stress]") {
    auto r = run_stress(1500, 64, 8, scaled(20ms), scaled(40ms));
    report("queueing for 8 connections", r);
    CHECK(r.outcomes["success"] > 0);
    CHECK(r.outcomes["timeout"] > 0);
}

TEST_CASE("64 concurrent increments of one hot counter on four threads take a few UpdateItems, and each gets a "
          "distinct value",
          "[stress][combiner]") {
    test_server server(dynamodb_counter_server(10ms));
    asio::io_context io(4);
    dynamodb_config config;
    config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
    config.credentials = {"AKIDSTRESS", "stress-secret", ""};
    datastore db(io.get_executor(), config);
    std::mutex mutex;
    std::vector<std::int64_t> values;
    for (int i = 0; i < 64; ++i)
        asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
            const std::int64_t v = co_await db.incr("stress", "hot");
            std::lock_guard lock(mutex);
            values.push_back(v);
        }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
    for (auto& t : threads) t.join();

    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> serial(64);
    for (int i = 0; i < 64; ++i) serial[i] = i + 1;
    CHECK(values == serial);
    const std::size_t writes = server.requests();
    std::printf("64 concurrent increments of one counter: %zu UpdateItem requests\n", writes);
    CHECK(writes <= 64 / 5);
}

// Concurrency hint 1 tunes Asio for one thread, but any number may run the
// io_context: operations awaited from its plain executor must keep their
// strands (they once did not, and a deadline closed a freed connection).
TEST_CASE("1,500 increments awaited from the plain executor of an io_context made with hint 1 but run by two threads "
          "agree with the server, five times",
          "[stress]") {
  // (A race: one round alone often passes where the defect is.)
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    test_server server(dynamodb_counter_server(scaled(35ms)));
    asio::io_context io(1);
    dynamodb_config config;
    config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
    config.credentials = {"AKIDSTRESS", "stress-secret", ""};
    datastore db(io.get_executor(), config);
    constexpr std::size_t total = 1500, lanes = 64;
    std::mutex mutex;
    std::map<std::string, std::string> outcomes;  // counter -> outcome
    std::vector<std::string> others;
    std::function<void(std::size_t)> launch = [&](std::size_t i) {
        if (i >= total) return;
        const std::string counter = "c" + std::to_string(i);
        asio::co_spawn(
            io.get_executor(),
            [&, counter]() -> asio::awaitable<void> {
                std::string outcome = "success";
                try {
                    co_await db.incr("stress", counter, {.timeout = scaled(40ms)});
                } catch (const sds::error& e) {
                    outcome = to_string(e.condition());
                }
                std::lock_guard lock(mutex);
                outcomes[counter] = outcome;
            },
            [&, i](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        std::lock_guard lock(mutex);
                        others.push_back(x.what());
                    }
                }
                launch(i + lanes);
            });
    };
    for (std::size_t lane = 0; lane < lanes; ++lane) asio::post(io, [&, lane] { launch(lane); });
    // Other work of the application, posted from a thread outside, keeps
    // both threads busy running handlers.
    std::atomic<bool> done{false};
    std::thread producer([&] {
        while (!done) {
            asio::post(io, [] {});
            std::this_thread::sleep_for(20us);
        }
    });
    std::vector<std::thread> runners;
    for (int t = 0; t < 2; ++t) runners.emplace_back([&] { io.run(); });
    for (auto& t : runners) t.join();
    done = true;
    producer.join();

    std::map<std::string, int> reads;
    for (const auto& req : server.received()) {
        const auto body = json::parse(req.body()).as_object();
        ++reads[std::string(body.at("Key").at("key").at("S").as_string())];
    }
    CHECK(others.empty());
    REQUIRE(outcomes.size() == total);
    std::map<std::string, int> tally;
    for (const auto& [counter, outcome] : outcomes) {
        INFO("increment of " << counter << ": " << outcome);
        ++tally[outcome];
        const int read = reads[counter + "_shard_1"];
        CHECK(read <= 1);
        if (outcome == "success") CHECK(read == 1);
        else if (outcome == "timeout" || outcome == "cancelled") CHECK(read == 0);
        else CHECK(outcome == "ambiguous");
    }
    CHECK(tally["success"] > 0);
  }
}
