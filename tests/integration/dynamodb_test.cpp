// The datastore on DynamoDB end to end: dynalite behind a gateway that checks
// every request's SigV4 signature with AWS's own JavaScript signer, both
// started by the CTest fixture `emulators` (scripts/emulators.sh). The client
// environment (AWS_ENDPOINT_URL_DYNAMODB, credentials) comes from the fixture.
#include <catch2/catch.hpp>

#include <sds/datastore.hpp>

#include "../unit/support/expect_error.hpp"
#include "transport/pooled_transport.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <unistd.h>

using namespace std::chrono_literals;
namespace asio = boost::asio;

using sds::test::expect_error;

namespace {

// A table name unique to this run, so that runs never see each other's data.
std::string table_name(const std::string& what) { return "it_" + what + "_" + std::to_string(::getpid()); }

template <class F>
auto run(F make) {
    asio::io_context io;
    sds::datastore db(io.get_executor(), sds::dynamodb_config::from_env());
    using result_t = typename decltype(make(db))::value_type;
    std::future<result_t> f = asio::co_spawn(io, make(db), asio::use_future);
    io.run();
    return f.get();
}


// The gateway's counts of verified and rejected requests.
std::pair<std::int64_t, std::int64_t> gateway_stats() {
    asio::io_context io;
    const char* url = std::getenv("AWS_ENDPOINT_URL_DYNAMODB");
    REQUIRE(url);
    sds::detail::pooled_transport t(io.get_executor(), sds::detail::endpoint::parse(url), {});
    auto f = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<sds::detail::transport_result> {
            sds::detail::http_request req{sds::detail::http::verb::get, "/__gateway/stats", 11};
            req.set(sds::detail::http::field::host, t.target().host_header);
            co_return co_await t.send(req);
        },
        asio::use_future);
    io.run();
    const auto r = f.get();
    REQUIRE_FALSE(r.ec);
    const auto stats = boost::json::parse(r.response.body()).as_object();
    return {stats.at("verified").to_number<std::int64_t>(), stats.at("rejected").to_number<std::int64_t>()};
}

// Runs tests/integration/sdk_interop.mjs (the official JavaScript SDK) and returns its standard output.
std::string sdk(const std::string& args) {
    const std::string cmd = "node " SDS_SOURCE_DIR "/tests/integration/sdk_interop.mjs " + args;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
    REQUIRE(pipe);
    std::string out;
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get())) out.append(buf.data(), n);
    const int status = ::pclose(pipe.release());
    INFO("command: " << cmd << "\noutput: " << out);
    REQUIRE(status == 0);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Calls that must be refused before anything is sent.
constexpr int bad_call_count = 8;
asio::awaitable<void> bad_call(sds::datastore& db, int which, std::string t) {
    switch (which) {
    case 0: co_await db.create_table("ab"); break;
    case 1: co_await db.create_table("bad name!"); break;
    case 2: co_await db.set_data(t, "", std::string("v")); break;
    case 3: co_await db.set_data(t, std::string(2049, 'k'), std::string("v")); break;
    case 4: co_await db.set_data(t, "k", std::string("\xff\xfe")); break;
    case 5: co_await db.set_data(t, "k", std::string(400 * 1024, 'x')); break;
    case 6: {
        sds::incr_options o;
        o.amount = std::int64_t{1} << 53;
        co_await db.incr(t, "c", o);
        break;
    }
    default: {
        sds::incr_options o;
        o.shard_count = 0;
        co_await db.incr(t, "c", o);
        break;
    }
    }
}

} // namespace

TEST_CASE("tables are created, listed, updated and deleted, and an existing table is not an error", "[dynamodb]") {
    const std::string provisioned = table_name("tables_p"), on_demand = table_name("tables_d");
    const auto names = run([&](sds::datastore& db) -> asio::awaitable<std::vector<std::string>> {
        co_await db.create_table(provisioned, {.read = 20, .write = 10});
        // The emulator keeps a new table CREATING for a while: a write right
        // after create_table only works if create_table waited for ACTIVE.
        co_await db.set_data(provisioned, "k", "v");
        co_await db.create_table(provisioned);  // exists: fine
        co_await db.create_table(on_demand, {.on_demand = true});
        co_await db.update_throughput(provisioned, 7, 3);
        auto listed = co_await db.list_tables();
        co_await db.delete_table(on_demand);
        co_await db.delete_table(provisioned);
        co_return listed;
    });
    CHECK(std::count(names.begin(), names.end(), provisioned) == 1);
    CHECK(std::count(names.begin(), names.end(), on_demand) == 1);
    const auto after = run([](sds::datastore& db) { return db.list_tables(); });
    CHECK(std::count(after.begin(), after.end(), provisioned) == 0);
}

TEST_CASE("text and binary values round-trip, and missing data is not an error", "[dynamodb]") {
    const std::string t = table_name("values");
    const sds::bytes binary{0x00, 0x01, 0xff, 0x80, 0x7f};
    const std::string text = "héllo \"wörld\" ✓ — 日本語";
    run([&](sds::datastore& db) -> asio::awaitable<void> {
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
        co_await db.set_data(t, "text", std::string("replaced"));
        const auto replaced = co_await db.get_data(t, "text");
        CHECK(replaced == std::optional<std::string>("replaced"));
        co_await db.delete_data(t, "text");
        co_await db.delete_data(t, "never-there");
        const auto deleted = co_await db.get_data(t, "text");
        CHECK_FALSE(deleted);
        co_await db.delete_table(t);
    });
}

TEST_CASE("the seed's counter scenario: incr 1, +2, then sharded by 10 counts 4", "[dynamodb]") {
    const std::string t = table_name("seed");
    const auto result = run([&](sds::datastore& db) -> asio::awaitable<std::array<std::int64_t, 5>> {
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

TEST_CASE("20 concurrent unsharded increments count exactly 20", "[dynamodb]") {
    const std::string t = table_name("concurrent");
    const auto total = run([&](sds::datastore& db) -> asio::awaitable<std::int64_t> {
        co_await db.create_table(t);
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::future<std::int64_t>> done;
        for (int i = 0; i < 20; ++i) done.push_back(asio::co_spawn(ex, db.incr(t, "hits"), asio::use_future));
        // The futures complete on this io_context: wait without blocking it.
        std::vector<std::int64_t> seen;
        for (auto& f : done) {
            while (f.wait_for(0s) != std::future_status::ready) {
                asio::steady_timer tick(ex, 5ms);
                co_await tick.async_wait(asio::use_awaitable);
            }
            seen.push_back(f.get());
        }
        std::sort(seen.begin(), seen.end());
        for (int i = 0; i < 20; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i + 1);  // every value returned once
        const auto n = co_await db.get_count(t, "hits");
        co_await db.delete_table(t);
        co_return n;
    });
    CHECK(total == 20);
}

TEST_CASE("a counter over 100 shards and 50 writers over 60 shards on a thread pool count exactly", "[dynamodb]") {
    const std::string t = table_name("shards");
    asio::thread_pool threads(4);
    sds::datastore db(threads.get_executor(), sds::dynamodb_config::from_env());
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

TEST_CASE("a counter with 1000 shards is counted exactly with concurrent batch reads and deleted whole", "[dynamodb]") {
    const std::string t = table_name("thousand");
    const auto counts = run([&](sds::datastore& db) -> asio::awaitable<std::pair<std::int64_t, std::int64_t>> {
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

TEST_CASE("a time-series table resolves per day and reads and deletes fall back to the previous day", "[dynamodb]") {
    const std::string pattern = table_name("ts") + "_%Y%m%d";
    const auto day1 = std::chrono::sys_days(std::chrono::year(2026) / 11 / 24) + 10h;
    const auto day2 = day1 + 24h;
    const auto r = run([&](sds::datastore& db) -> asio::awaitable<std::vector<std::optional<std::string>>> {
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
        seen.push_back(std::count(tables.begin(), tables.end(), table_name("ts") + "_20261124") == 1 ? "listed" : "missing");
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

TEST_CASE("operations on a missing table report table_not_found", "[dynamodb]") {
    const std::string t = table_name("missing");
    for (auto op : std::vector<std::function<asio::awaitable<void>(sds::datastore&)>>{
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.get_data(t, "k"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.set_data(t, "k", std::string("v")); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.incr(t, "c"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.get_count(t, "c"); },
             [&](sds::datastore& db) -> asio::awaitable<void> { co_await db.delete_table(t); },
         }) {
        const auto e = expect_error([&] { run(op); });
        CHECK(e.condition() == sds::errc::table_not_found);
        CHECK(e.diag().service_code == "ResourceNotFoundException");
        CHECK(e.diag().http_status == 400);
    }
}

TEST_CASE("the gateway rejects a wrong signature and sds reports it as auth_failed without retrying", "[dynamodb]") {
    const auto [verified_before, rejected_before] = gateway_stats();
    asio::io_context io;
    auto config = sds::dynamodb_config::from_env();
    config.credentials.secret_access_key = "not-the-secret";
    sds::datastore db(io.get_executor(), config);
    auto f = asio::co_spawn(io, db.list_tables(), asio::use_future);
    io.run();
    try {
        f.get();
        FAIL("expected auth_failed");
    } catch (const sds::error& e) {
        CHECK(e.condition() == sds::errc::auth_failed);
        CHECK(e.diag().service_code == "InvalidSignatureException");
        CHECK(e.diag().attempts == 1);
        const std::string what = e.what();
        CHECK(what.find("not-the-secret") == std::string::npos);
    }
    const auto [verified_after, rejected_after] = gateway_stats();
    CHECK(rejected_after == rejected_before + 1);
    CHECK(verified_after == verified_before);
}

TEST_CASE("bad input is refused before anything reaches the service", "[dynamodb]") {
    const auto [verified_before, rejected_before] = gateway_stats();
    const std::string t = table_name("never");
    for (int which = 0; which < bad_call_count; ++which) {
        INFO("bad call " << which);
        const auto e = expect_error([&] { run([&](sds::datastore& db) { return bad_call(db, which, t); }); });
        CHECK(e.condition() == sds::errc::invalid_argument);
    }
    const auto [verified_after, rejected_after] = gateway_stats();
    CHECK(verified_after == verified_before);
    CHECK(rejected_after == rejected_before);
}

TEST_CASE("what sds writes, the official JavaScript SDK reads in the documented layout", "[dynamodb][interop]") {
    const std::string t = table_name("interop_out");
    // Built outside the coroutine: GCC 12 miscompiles an initializer list
    // argument inside one ("array used as initializer").
    const sds::bytes blob{0x00, 0x01, 0x02, 0xff};
    run([&](sds::datastore& db) -> asio::awaitable<void> {
        co_await db.create_table(t);
        co_await db.set_data(t, "text", std::string("héllo ✓"));
        co_await db.set_data(t, "binary", blob);
        co_await db.incr(t, "c", {.amount = 7});
        co_await db.incr(t, "s", {.amount = 2, .shard_count = 3});
    });
    using boost::json::parse;
    CHECK(parse(sdk("get " + t + " text")) == parse(R"({"key":{"S":"text"},"data":{"S":"héllo ✓"}})"));
    CHECK(parse(sdk("get " + t + " binary")) == parse(R"({"key":{"S":"binary"},"data":{"B":"AAEC/w=="}})"));
    CHECK(parse(sdk("get " + t + " c_shard_1")) == parse(R"({"key":{"S":"c_shard_1"},"data":{"N":"7"}})"));
    CHECK(parse(sdk("get " + t + " s_shards")) == parse(R"({"key":{"S":"s_shards"},"shards":{"N":"3"}})"));
    CHECK(sdk("get " + t + " nothing") == "null");
    run([&](sds::datastore& db) -> asio::awaitable<void> { co_await db.delete_table(t); });
}

TEST_CASE("what the official JavaScript SDK writes in the documented layout, sds reads", "[dynamodb][interop]") {
    const std::string t = table_name("interop_in");
    sdk("create-table " + t);
    sdk("put-text " + t + " greeting " + quote("grüße aus JS"));
    sdk("put-binary " + t + " blob " + quote("AAECA/8="));
    sdk("put-shard-count " + t + " visits 4");
    sdk("put-counter-shard " + t + " visits 1 10");
    sdk("put-counter-shard " + t + " visits 3 5");
    sdk("put-counter-shard " + t + " visits 4 -2");
    const auto r = run([&](sds::datastore& db) -> asio::awaitable<std::tuple<std::optional<sds::value>, std::optional<sds::value>, std::int64_t>> {
        auto text = co_await db.get_value(t, "greeting");
        auto blob = co_await db.get_value(t, "blob");
        auto visits = co_await db.get_count(t, "visits");
        co_await db.delete_table(t);
        co_return std::tuple{text, blob, visits};
    });
    REQUIRE(std::get<0>(r));
    CHECK(std::get<0>(r)->data == "grüße aus JS");
    REQUIRE(std::get<1>(r));
    CHECK(std::get<1>(r)->is_binary());
    CHECK(std::get<1>(r)->as_bytes() == sds::bytes{0x00, 0x01, 0x02, 0x03, 0xff});
    CHECK(std::get<2>(r) == 13);
}

TEST_CASE("a sharded counter stays exact when another process deletes it between increments", "[dynamodb]") {
    const std::string t = table_name("two_processes");
    asio::io_context io;
    // Two datastores stand for two processes: each has its own shard cache.
    sds::datastore writer(io.get_executor(), sds::dynamodb_config::from_env());
    sds::datastore other(io.get_executor(), sds::dynamodb_config::from_env());
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
