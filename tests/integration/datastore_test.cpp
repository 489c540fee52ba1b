// The datastore end to end, the same scenarios on every service: DynamoDB
// (dynalite behind a gateway that checks every SigV4 signature with AWS's own
// JavaScript signer), Azure Table Storage (Azurite, which checks SharedKey
// itself), and Azurite over HTTPS for the core of them. Every total is exact.
#include <catch2/catch.hpp>

#include "targets.hpp"
#include "../unit/support/expect_error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <spawn.h>
#include <sys/wait.h>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using sds::test::azure_target;
using sds::test::azure_tls_target;
using sds::test::dynamodb_target;
using sds::test::expect_error;

namespace {

// Waits for futures completing on this io_context without blocking it.
template <class T>
asio::awaitable<std::vector<T>> gather(std::vector<std::future<T>>& futures) {
    auto ex = co_await asio::this_coro::executor;
    std::vector<T> out;
    for (auto& f : futures) {
        while (f.wait_for(0s) != std::future_status::ready) {
            asio::steady_timer tick(ex, 2ms);
            co_await tick.async_wait(asio::use_awaitable);
        }
        out.push_back(f.get());
    }
    co_return out;
}

std::vector<std::int64_t> one_to(std::int64_t n) {
    std::vector<std::int64_t> v;
    for (std::int64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

} // namespace

TEMPLATE_TEST_CASE("text and binary values round-trip under any key, and missing data is not an error",
                   "[integration]", dynamodb_target, azure_target, azure_tls_target) {
    const std::string t = TestType::table("values");
    const sds::bytes binary{0x00, 0x01, 0xff, 0x80, 0x7f};
    const std::string text = "héllo \"wörld\" ✓ — 日本語";
    // Keys a URL or an OData literal could get wrong.
    const std::vector<std::string> keys{"it's", "100%", "a b+c&d=e", "é日本", "quote''twice", "(paren)", "~tilde."};
    sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<void> {
        co_await db.create_table(t);
        co_await db.set_data(t, "text", text);
        co_await db.set_data(t, "binary", binary);
        const auto got_text = co_await db.get_value(t, "text");
        const auto got_binary = co_await db.get_value(t, "binary");
        const auto missing = co_await db.get_data(t, "missing");
        REQUIRE(got_text);
        CHECK(got_text->data == text);
        CHECK_FALSE(got_text->is_binary());
        REQUIRE(got_binary);
        CHECK(got_binary->is_binary());
        CHECK(got_binary->as_bytes() == binary);
        CHECK_FALSE(missing);
        for (const auto& k : keys) co_await db.set_data(t, k, "value of " + k);
        for (const auto& k : keys) {
            const auto v = co_await db.get_data(t, k);
            CHECK(v == std::optional<std::string>("value of " + k));
        }
        co_await db.set_data(t, "text", std::string("replaced"));
        const auto replaced = co_await db.get_data(t, "text");
        CHECK(replaced == std::optional<std::string>("replaced"));
        co_await db.delete_data(t, "text");
        co_await db.delete_data(t, "never-there");
        for (const auto& k : keys) co_await db.delete_data(t, k);
        const auto deleted = co_await db.get_data(t, "text");
        CHECK_FALSE(deleted);
        const auto gone = co_await db.get_data(t, keys.front());
        CHECK_FALSE(gone);
        co_await db.delete_table(t);
    });
}

TEMPLATE_TEST_CASE("the seed's counter scenario: incr 1, +2, then sharded by 10 counts 4", "[integration]",
                   dynamodb_target, azure_target, azure_tls_target) {
    const std::string t = TestType::table("seed");
    const auto result = sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<std::array<std::int64_t, 5>> {
        co_await db.create_table(t);
        std::array<std::int64_t, 5> r{};
        r[0] = co_await db.incr(t, "counter");
        r[1] = co_await db.incr(t, "counter", {.amount = 2});
        co_await db.incr(t, "counter", {.shard_count = 10});
        r[2] = co_await db.get_count(t, "counter");
        co_await db.delete_counter(t, "counter");
        r[3] = co_await db.get_count(t, "counter");
        r[4] = co_await db.get_count(t, "never-counted");
        co_await db.delete_table(t);
        co_return r;
    });
    CHECK(result[0] == 1);
    CHECK(result[1] == 3);
    CHECK(result[2] == 4);
    CHECK(result[3] == 0);
    CHECK(result[4] == 0);
}

TEMPLATE_TEST_CASE("20 concurrent unsharded increments count exactly 20, each value returned once", "[integration]",
                   dynamodb_target, azure_target, azure_tls_target) {
    const std::string t = TestType::table("concurrent");
    const auto total = sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<std::int64_t> {
        co_await db.create_table(t);
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::future<std::int64_t>> done;
        for (int i = 0; i < 20; ++i) done.push_back(asio::co_spawn(ex, db.incr(t, "hits"), asio::use_future));
        auto seen = co_await gather(done);
        std::sort(seen.begin(), seen.end());
        CHECK(seen == one_to(20));
        const auto n = co_await db.get_count(t, "hits");
        co_await db.delete_table(t);
        co_return n;
    });
    CHECK(total == 20);
}

TEMPLATE_TEST_CASE("200 concurrent increments of one unsharded counter from one process count exactly 200",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string t = TestType::table("hot");
    asio::thread_pool threads(4);
    sds::datastore db = TestType::make(threads.get_executor());
    asio::co_spawn(threads, db.create_table(t), asio::use_future).get();
    std::vector<std::future<std::int64_t>> done;
    for (int i = 0; i < 200; ++i) done.push_back(asio::co_spawn(threads, db.incr(t, "hot"), asio::use_future));
    std::vector<std::int64_t> seen;
    for (auto& f : done) seen.push_back(f.get());
    std::sort(seen.begin(), seen.end());
    CHECK(seen == one_to(200));
    CHECK(asio::co_spawn(threads, db.get_count(t, "hot"), asio::use_future).get() == 200);
    asio::co_spawn(threads, db.delete_table(t), asio::use_future).get();
    threads.join();
}

// Each process has its own datastore: nothing combines their increments, so
// on Azure they contend for the shard's ETag.
TEMPLATE_TEST_CASE("200 concurrent increments of one counter from 8 processes at once count exactly 200",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string t = TestType::table("procs");
    sds::test::run_on<TestType>([&](sds::datastore& db) { return db.create_table(t); });
    std::vector<pid_t> workers;
    std::vector<FILE*> outputs;
    for (int p = 0; p < 8; ++p) {
        const std::string cmd = std::string(SDS_INCR_WORKER) + " " + TestType::engine + " " + t + " contended 25";
        FILE* out = ::popen(cmd.c_str(), "r");
        REQUIRE(out);
        outputs.push_back(out);
    }
    int acknowledged = 0, ambiguous = 0, failed = 0;
    for (FILE* out : outputs) {
        int a = 0, m = 0, f = 0;
        CHECK(std::fscanf(out, "%d %d %d", &a, &m, &f) == 3);
        CHECK(::pclose(out) == 0);
        acknowledged += a;
        ambiguous += m;
        failed += f;
    }
    CHECK(failed == 0);
    CHECK(ambiguous == 0);
    CHECK(acknowledged == 200);
    const auto total = sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<std::int64_t> {
        const auto n = co_await db.get_count(t, "contended");
        co_await db.delete_table(t);
        co_return n;
    });
    CHECK(total == acknowledged);
}

TEMPLATE_TEST_CASE("a counter over 100 shards and 50 writers over 60 shards on a thread pool count exactly",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string t = TestType::table("shards");
    asio::thread_pool threads(4);
    sds::datastore db = TestType::make(threads.get_executor());
    asio::co_spawn(threads, db.create_table(t), asio::use_future).get();

    std::vector<std::future<void>> writers;
    for (int i = 0; i < 150; ++i)
        writers.push_back(asio::co_spawn(threads, [&]() -> asio::awaitable<void> {
            co_await db.incr(t, "hundred", {.amount = 2, .shard_count = 100});
        }, asio::use_future));
    for (int w = 0; w < 50; ++w)
        writers.push_back(asio::co_spawn(threads, [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 6; ++i) co_await db.incr(t, "sixty", {.shard_count = 60});
        }, asio::use_future));
    for (auto& f : writers) f.get();

    CHECK(asio::co_spawn(threads, db.get_count(t, "hundred"), asio::use_future).get() == 300);
    CHECK(asio::co_spawn(threads, db.get_count(t, "sixty"), asio::use_future).get() == 300);
    asio::co_spawn(threads, db.delete_table(t), asio::use_future).get();
    threads.join();
}

TEMPLATE_TEST_CASE("a counter with 1000 shards is counted exactly with concurrent reads and deleted whole",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string t = TestType::table("thousand");
    const auto counts = sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<std::pair<std::int64_t, std::int64_t>> {
        co_await db.create_table(t, {.on_demand = true});
        for (int i = 0; i < 400; ++i) co_await db.incr(t, "big", {.amount = 3, .shard_count = 1000});
        const auto total = co_await db.get_count(t, "big");
        co_await db.delete_counter(t, "big");
        const auto after = co_await db.get_count(t, "big");
        co_await db.delete_table(t);
        co_return std::pair{total, after};
    });
    CHECK(counts.first == 1200);
    CHECK(counts.second == 0);
}

TEMPLATE_TEST_CASE("a time-series table resolves per day and reads and deletes fall back to the previous day",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string pattern = TestType::table("ts") + "x%Y%m%d";
    const std::string day1_name = TestType::table("ts") + "x20261124";
    const auto day1 = std::chrono::sys_days(std::chrono::year(2026) / 11 / 24) + 10h;
    const auto day2 = day1 + 24h;
    const auto r = sds::test::run_on<TestType>([&](sds::datastore& db) -> asio::awaitable<std::vector<std::optional<std::string>>> {
        co_await db.create_table(pattern, {.at = day1});
        co_await db.set_data(pattern, "k", std::string("from day 1"), {.at = day1});
        co_await db.incr(pattern, "c", {.amount = 5, .at = day1});
        std::vector<std::optional<std::string>> seen;
        seen.push_back(co_await db.get_data(pattern, "k", {.at = day1}));
        seen.push_back(co_await db.get_data(pattern, "k", {.at = day2}));  // day 2's table does not exist yet
        const auto count = co_await db.get_count(pattern, "c", {.at = day2});
        seen.push_back(std::to_string(count));
        co_await db.delete_data(pattern, "k", {.at = day2});
        seen.push_back(co_await db.get_data(pattern, "k", {.at = day1}));
        const auto tables = co_await db.list_tables();
        seen.push_back(std::count(tables.begin(), tables.end(), day1_name) == 1 ? "listed" : "missing");
        co_await db.delete_table(pattern, {.at = day1});
        co_return seen;
    });
    REQUIRE(r.size() == 5);
    CHECK(r[0] == std::optional<std::string>("from day 1"));
    CHECK(r[1] == std::optional<std::string>("from day 1"));
    CHECK(r[2] == std::optional<std::string>("5"));
    CHECK_FALSE(r[3]);
    CHECK(r[4] == std::optional<std::string>("listed"));
}

TEMPLATE_TEST_CASE("operations on a missing table report table_not_found", "[integration]", dynamodb_target,
                   azure_target) {
    const std::string t = TestType::table("missing");
    for (auto op : std::vector<std::function<asio::awaitable<void>(sds::datastore&)>>{
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.get_data(t, "k"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.set_data(t, "k", std::string("v")); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.delete_data(t, "k"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.incr(t, "c"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.get_count(t, "c"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.delete_table(t); },
         }) {
        const auto e = expect_error([&] { sds::test::run_on<TestType>(op); });
        CHECK(e.condition() == sds::errc::table_not_found);
        CHECK(e.diag().http_status >= 400);
        CHECK_FALSE(e.diag().service_code.empty());
    }
}

TEMPLATE_TEST_CASE("a sharded counter stays exact when another process deletes it between increments",
                   "[integration]", dynamodb_target, azure_target) {
    const std::string t = TestType::table("twoprocesses");
    asio::io_context io;
    // Two datastores stand for two processes: each has its own shard cache.
    sds::datastore writer = TestType::make(io.get_executor());
    sds::datastore other = TestType::make(io.get_executor());
    auto f = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::pair<std::int64_t, std::int64_t>> {
            co_await writer.create_table(t);
            for (int i = 0; i < 10; ++i) co_await writer.incr(t, "c", {.shard_count = 10});
            co_await other.delete_counter(t, "c");
            for (int i = 0; i < 20; ++i) co_await writer.incr(t, "c", {.shard_count = 10});
            const auto seen_by_writer = co_await writer.get_count(t, "c");
            const auto seen_by_other = co_await other.get_count(t, "c");
            co_await writer.delete_table(t);
            co_return std::pair{seen_by_writer, seen_by_other};
        },
        asio::use_future);
    io.run();
    const auto [by_writer, by_other] = f.get();
    CHECK(by_writer == 20);
    CHECK(by_other == 20);
}
