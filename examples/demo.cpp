// A tour of sds::datastore: every operation, one step at a time, on either
// engine: `sds_demo [dynamodb|azure]` (default: $SDS_ENGINE, else dynamodb).
//
// It runs against the endpoint the environment names, as the vendors' tools
// would: for DynamoDB AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL),
// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; for Azure Table
// Storage AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY with SDS_AZURE_TABLE_ENDPOINT. Point it at the local
// emulators to try sds without a cloud account.
//
// Each step prints the call and what came back. A result that is not the
// expected one is marked FAILED, and the program then exits 1: the test
// suite runs this demo too. It creates its own tables (named after its
// process id, so several runs can share an endpoint) and deletes them.
#include <sds/datastore.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <exception>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------
// Showing values the way they would be written in C++.

std::string show(const std::string& text) {
    std::string s = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            s += '\\';
            s += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            constexpr char hex[] = "0123456789abcdef";
            s += "\\x";
            s += hex[(c >> 4) & 0xf];
            s += hex[c & 0xf];
        } else {
            s += c;  // printable ASCII and UTF-8 show as themselves
        }
    }
    return s + "\"";
}

std::string show(const std::optional<std::string>& v) { return v ? show(*v) : "std::nullopt"; }

std::string show(std::int64_t n) { return std::to_string(n); }

std::string show(const sds::bytes& data) {
    constexpr char hex[] = "0123456789abcdef";
    std::string s = "bytes{";
    for (std::size_t i = 0; i < data.size(); ++i) {
        s += i ? ", 0x" : "0x";
        s += hex[data[i] >> 4];
        s += hex[data[i] & 0xf];
    }
    return s + "}";
}

std::string show(const std::optional<sds::value>& v) {
    if (!v) return "std::nullopt";
    return v->is_binary() ? "binary " + show(v->as_bytes()) : "text " + show(v->data);
}

// ---------------------------------------------------------------------------
// The report: prints each step and counts the ones that failed.

class report {
public:
    void section(const std::string& title) { std::cout << "\n# " << title << "\n"; }

    // Prints the call before it is awaited, so a slow step shows what it waits for.
    void call(const std::string& text) {
        std::cout << text << std::flush;
        ++steps_;
    }

    // The call returned; `note` says what it did.
    void ok(const std::string& note = "") {
        std::cout << " ... ok" << (note.empty() ? "" : " (" + note + ")") << "\n";
    }

    // The call returned `got`, which should be `expected`.
    template <typename T>
    void returned(const T& got, const T& expected) {
        std::cout << " -> " << show(got);
        if (got == expected)
            std::cout << "\n";
        else
            fail("expected " + show(expected));
    }

    // The call threw, which it should have, with `expected`.
    void threw(const sds::error& e, sds::errc expected) {
        std::cout << " -> threw sds::error " << e.what();
        if (e.condition() == expected)
            std::cout << "\n";
        else
            fail(std::string("expected ") + sds::to_string(expected));
    }

    // A check of something other than a call's result.
    void check(bool passed, const std::string& what) {
        ++steps_;
        std::cout << "  " << what;
        if (passed)
            std::cout << ": yes\n";
        else
            fail("not so");
    }

    void fail(const std::string& why) {
        std::cout << "   <-- FAILED: " << why << "\n";
        ++failures_;
    }

    int failures() const { return failures_; }
    int steps() const { return steps_; }

private:
    int steps_ = 0;
    int failures_ = 0;
};

// The name a time-series table pattern resolves to at `at` (UTC strftime).
std::string resolve(const std::string& pattern, std::chrono::system_clock::time_point at) {
    const std::time_t t = std::chrono::system_clock::to_time_t(at);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char name[256];
    return std::string(name, std::strftime(name, sizeof name, pattern.c_str(), &utc));
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// The tables the demo works with. Names are unique per run; Azure's are
// letters and digits only.
struct demo_tables {
    explicit demo_tables(bool on_azure)
        : azure(on_azure), base((azure ? "sdsdemo" : "sds_demo_") + std::to_string(::getpid())),
          provisioned(base), on_demand(base + (azure ? "second" : "_on_demand")),
          series(base + (azure ? "x%Y%m%d" : "_%Y%m%d")), missing(base + (azure ? "nevercreated" : "_never_created")) {}
    bool azure;
    std::string base;
    std::string provisioned;  // 20 reads/s, 10 writes/s on DynamoDB
    std::string on_demand;    // pay per request on DynamoDB
    std::string series;       // one table per UTC day
    std::string missing;
    // Tables created and not deleted yet: deleted on the way out even if a step throws.
    std::vector<std::string> to_delete;
};

// ---------------------------------------------------------------------------
// The tour. Results are kept in named variables before they are checked:
// GCC 12 can destroy a temporary twice when a co_await and another temporary
// are arguments of the same call.

asio::awaitable<void> tables(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Tables");

    r.call("create_table(" + show(t.provisioned) + ", {.read = 20, .write = 10})");
    co_await db.create_table(t.provisioned, {.read = 20, .write = 10});
    t.to_delete.push_back(t.provisioned);
    r.ok(t.azure ? "" : "waited until ACTIVE");

    r.call("create_table(" + show(t.on_demand) + ", {.on_demand = true})");
    co_await db.create_table(t.on_demand, {.on_demand = true});
    t.to_delete.push_back(t.on_demand);
    r.ok(t.azure ? "" : "waited until ACTIVE");

    r.call("create_table(" + show(t.provisioned) + ") again");
    co_await db.create_table(t.provisioned);
    r.ok("a table that exists is not an error");

    r.call("list_tables()");
    const std::vector<std::string> names = co_await db.list_tables();
    r.ok(std::to_string(names.size()) + " tables");
    r.check(contains(names, t.provisioned) && contains(names, t.on_demand), "both tables are listed");

    r.call("update_throughput(" + show(t.provisioned) + ", 30, 15)");
    if (!t.azure) {
        co_await db.update_throughput(t.provisioned, 30, 15);
        r.ok();
        co_return;
    }
    // Table Storage has no provisioned throughput; create_table ignored the
    // capacities above.
    try {
        co_await db.update_throughput(t.provisioned, 30, 15);
        r.fail("Azure accepted a throughput");
    } catch (const sds::error& e) {
        r.threw(e, sds::errc::invalid_argument);
    }
}

asio::awaitable<void> values(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Text and binary values");
    const std::string& table = t.provisioned;

    r.call("set_data(" + show(table) + ", \"greeting\", \"hello\")");
    co_await db.set_data(table, "greeting", std::string("hello"));
    r.ok();
    r.call("get_data(" + show(table) + ", \"greeting\")");
    const std::optional<std::string> greeting = co_await db.get_data(table, "greeting");
    r.returned(greeting, std::optional<std::string>("hello"));

    const std::string unicode = "grüße, 世界 ✓";
    r.call("set_data(" + show(table) + ", \"unicode\", " + show(unicode) + ")");
    co_await db.set_data(table, "unicode", unicode);
    r.ok();
    r.call("get_data(" + show(table) + ", \"unicode\")");
    const std::optional<std::string> text = co_await db.get_data(table, "unicode");
    r.returned(text, std::optional<std::string>(unicode));

    // Bytes that are not UTF-8 are stored as binary (DynamoDB type B, Azure Edm.Binary).
    const sds::bytes blob{0x00, 0xff, 0x10, 0x80, 0xc3};
    r.call("set_data(" + show(table) + ", \"blob\", " + show(blob) + ")");
    co_await db.set_data(table, "blob", blob);
    r.ok();
    r.call("get_value(" + show(table) + ", \"blob\")");
    const std::optional<sds::value> stored = co_await db.get_value(table, "blob");
    const sds::value expected_blob{sds::value::kind::binary, std::string(blob.begin(), blob.end())};
    r.returned(stored, std::optional<sds::value>(expected_blob));

    r.call("delete_data(" + show(table) + ", \"greeting\")");
    co_await db.delete_data(table, "greeting");
    r.ok();
    r.call("get_data(" + show(table) + ", \"greeting\")");
    const std::optional<std::string> deleted = co_await db.get_data(table, "greeting");
    r.returned(deleted, std::optional<std::string>());

    r.call("delete_data(" + show(table) + ", \"blob\")");
    co_await db.delete_data(table, "blob");
    r.ok();

    r.call("get_data(" + show(table) + ", \"no such key\")");
    const std::optional<std::string> missing = co_await db.get_data(table, "no such key");
    r.returned(missing, std::optional<std::string>());
}

asio::awaitable<void> counters(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Counters");
    const std::string& table = t.provisioned;

    r.call("incr(" + show(table) + ", \"visits\")");
    const std::int64_t first = co_await db.incr(table, "visits");
    r.returned(first, std::int64_t{1});
    r.call("incr(" + show(table) + ", \"visits\", {.amount = 2})");
    const std::int64_t second = co_await db.incr(table, "visits", {.amount = 2});
    r.returned(second, std::int64_t{3});

    // Spreading a hot counter over 10 shards; the 3 it held stay in shard 1,
    // so the total is 4 whichever shard this increment lands on.
    r.call("incr(" + show(table) + ", \"visits\", {.shard_count = 10})");
    const std::int64_t shard_value = co_await db.incr(table, "visits", {.shard_count = 10});
    r.ok("the shard it incremented now holds " + std::to_string(shard_value));
    r.call("get_count(" + show(table) + ", \"visits\")");
    const std::int64_t total = co_await db.get_count(table, "visits");
    r.returned(total, std::int64_t{4});

    // 20 coroutines increment one counter at the same time: every increment
    // is atomic, so each sees a different value and none is lost.
    const auto ex = co_await asio::this_coro::executor;
    using increment = decltype(asio::co_spawn(ex, db.incr(table, "concurrent"), asio::deferred));
    std::vector<increment> increments;
    for (int i = 0; i < 20; ++i) increments.push_back(asio::co_spawn(ex, db.incr(table, "concurrent"), asio::deferred));
    r.call("20 concurrent incr(" + show(table) + ", \"concurrent\")");
    auto [order, errors, results] = co_await asio::experimental::make_parallel_group(std::move(increments))
                                        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
    r.ok("all returned");
    std::sort(results.begin(), results.end());
    std::vector<std::int64_t> one_to_twenty(20);
    std::iota(one_to_twenty.begin(), one_to_twenty.end(), 1);
    r.check(results == one_to_twenty, "each returned a different value from 1 to 20");
    r.call("get_count(" + show(table) + ", \"concurrent\")");
    const std::int64_t concurrent_total = co_await db.get_count(table, "concurrent");
    r.returned(concurrent_total, std::int64_t{20});

    r.call("get_count(" + show(table) + ", \"never incremented\")");
    const std::int64_t never = co_await db.get_count(table, "never incremented");
    r.returned(never, std::int64_t{0});

    r.call("delete_counter(" + show(table) + ", \"visits\")");
    co_await db.delete_counter(table, "visits");
    r.ok("every shard and the shard count");
    r.call("get_count(" + show(table) + ", \"visits\")");
    const std::int64_t after_delete = co_await db.get_count(table, "visits");
    r.returned(after_delete, std::int64_t{0});
}

asio::awaitable<void> time_series(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Time-series tables");
    // A name with '%' is resolved with UTC strftime; passing the same `at` to
    // each call keeps them on one table even across midnight.
    const auto at = std::chrono::system_clock::now();
    const std::string resolved = resolve(t.series, at);
    std::cout << show(t.series) << " resolves to " << show(resolved) << " now\n";

    r.call("create_table(" + show(t.series) + ", {.at = now})");
    co_await db.create_table(t.series, {.at = at});
    t.to_delete.push_back(resolved);
    r.ok("created " + resolved);
    r.call("set_data(" + show(t.series) + ", \"event\", \"logged\", {.at = now})");
    co_await db.set_data(t.series, "event", std::string("logged"), {.at = at});
    r.ok();
    r.call("get_data(" + show(t.series) + ", \"event\", {.at = now})");
    const std::optional<std::string> event = co_await db.get_data(t.series, "event", {.at = at});
    r.returned(event, std::optional<std::string>("logged"));
    r.call("list_tables()");
    const std::vector<std::string> names = co_await db.list_tables();
    r.ok();
    r.check(contains(names, resolved), show(resolved) + " is listed");
}

asio::awaitable<void> errors(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Errors");

    // Failures throw sds::error; its condition() is an sds::errc.
    r.call("get_data(" + show(t.missing) + ", \"greeting\")");
    try {
        const auto v = co_await db.get_data(t.missing, "greeting");
        r.fail("returned " + show(v) + " instead of throwing");
    } catch (const sds::error& e) {
        r.threw(e, sds::errc::table_not_found);
    }

    // Bad input is refused before anything is sent.
    r.call("set_data(" + show(t.provisioned) + ", \"\", \"value\")");
    try {
        co_await db.set_data(t.provisioned, "", std::string("value"));
        r.fail("an empty key was accepted");
    } catch (const sds::error& e) {
        r.threw(e, sds::errc::invalid_argument);
    }
}

asio::awaitable<void> clean_up(sds::datastore& db, demo_tables& t, report& r) {
    r.section("Clean-up");
    while (!t.to_delete.empty()) {
        r.call("delete_table(" + show(t.to_delete.back()) + ")");
        co_await db.delete_table(t.to_delete.back());
        t.to_delete.pop_back();
        r.ok(t.azure ? "" : "waited until it was gone");
    }
    r.call("list_tables()");
    const std::vector<std::string> names = co_await db.list_tables();
    r.ok();
    r.check(std::none_of(names.begin(), names.end(),
                         [&](const std::string& n) { return n.starts_with(t.base); }),
            "none of the demo's tables is left");
}

asio::awaitable<void> tour(sds::datastore& db, demo_tables& t, report& r) {
    co_await tables(db, t, r);
    co_await values(db, t, r);
    co_await counters(db, t, r);
    co_await time_series(db, t, r);
    co_await errors(db, t, r);
    co_await clean_up(db, t, r);
}

// After a step threw: deletes what the demo created, reporting nothing more.
asio::awaitable<void> delete_leftovers(sds::datastore& db, demo_tables& t) {
    for (const std::string& table : t.to_delete) {
        try {
            co_await db.delete_table(table, {.timeout = 30s});
        } catch (const sds::error& e) {
            std::cout << "could not delete " << show(table) << ": " << e.what() << "\n";
        }
    }
    t.to_delete.clear();
}

// Runs a coroutine to completion on `io` and rethrows what it threw.
void run(asio::io_context& io, asio::awaitable<void> coroutine) {
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e) {
        failure = e;
        io.stop();  // idle pooled connections must not keep run() going
    });
    io.restart();
    io.run();
    if (failure) std::rethrow_exception(failure);
}

// A datastore on the engine asked for, configured from the environment.
sds::datastore make_datastore(asio::io_context& io, bool azure) {
    if (azure) {
        sds::azure_table_config config = sds::azure_table_config::from_env();
        std::cout << "sds demo on Azure Table Storage at "
                  << (config.endpoint.empty() ? "account " + config.account_name : config.endpoint) << "\n";
        return {io.get_executor(), std::move(config)};
    }
    sds::dynamodb_config config = sds::dynamodb_config::from_env();
    std::cout << "sds demo on DynamoDB at " << (config.endpoint.empty() ? "AWS" : config.endpoint) << ", region "
              << config.region << "\n";
    return {io.get_executor(), std::move(config)};
}

} // namespace

int main(int argc, char* argv[]) {
    std::string engine = argc > 1 ? argv[1] : "";
    if (engine.empty()) {
        const char* env = std::getenv("SDS_ENGINE");
        engine = env && *env ? env : "dynamodb";
    }
    if (engine != "dynamodb" && engine != "azure") {
        std::cerr << "usage: sds_demo [dynamodb|azure]\n";
        return 2;
    }
    asio::io_context io;
    demo_tables t(engine == "azure");
    report r;
    try {
        sds::datastore db = make_datastore(io, t.azure);
        try {
            run(io, tour(db, t, r));
        } catch (...) {
            run(io, delete_leftovers(db, t));
            throw;
        }
    } catch (const sds::error& e) {
        std::cout << "\n   <-- FAILED: threw sds::error " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cout << "\n   <-- FAILED: threw " << e.what() << "\n";
        return 1;
    }

    if (r.failures()) {
        std::cout << "\n" << r.failures() << " of " << r.steps() << " steps FAILED\n";
        return 1;
    }
    std::cout << "\nall " << r.steps() << " steps as expected\n";
    return 0;
}
