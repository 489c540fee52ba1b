// What only DynamoDB has, end to end: provisioned and on-demand tables, the
// gateway's SigV4 verdicts, and interoperability with AWS's JavaScript SDK.
// dynalite behind a gateway that checks every request's SigV4 signature with
// AWS's own JavaScript signer, both started by the CTest fixture `emulators`
// (scripts/emulators.sh). The scenarios every engine shares are in
// datastore_test.cpp.
#include <catch2/catch.hpp>

#include <sds/datastore.hpp>

#include "../unit/support/expect_error.hpp"
#include "targets.hpp"
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

using sds::test::dynamodb_target;

std::string table_name(const std::string& what) { return dynamodb_target::table(what); }

template <class F>
auto run(F make) {
    return sds::test::run_on<dynamodb_target>(std::move(make));
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
    return sds::test::command_output("node " SDS_SOURCE_DIR "/tests/integration/sdk_interop.mjs " + args);
}

using sds::test::quote;

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
    // A value holds its data and the writer stamp: vw, the writer id (16 hex
    // digits, the same for every write of one datastore), and vq, its
    // sequence number of the write.
    auto text = parse(sdk("get " + t + " text")).as_object();
    auto binary = parse(sdk("get " + t + " binary")).as_object();
    const auto writer = text.at("vw");
    CHECK(writer.at("S").as_string().size() == 16u);
    CHECK(binary.at("vw") == writer);
    CHECK(text.at("vq") == parse(R"({"N":"1"})"));
    CHECK(binary.at("vq") == parse(R"({"N":"2"})"));
    for (auto* item : {&text, &binary}) {
        item->erase("vw");
        item->erase("vq");
    }
    CHECK(text == parse(R"({"key":{"S":"text"},"data":{"S":"héllo ✓"}})"));
    CHECK(binary == parse(R"({"key":{"S":"binary"},"data":{"B":"AAEC/w=="}})"));
    // A shard holds its number and, for exactly-once increments, the record
    // of each writer lane: ws_<id>_<lane> and wv_<id>_<lane>, both numbers.
    const auto shard = parse(sdk("get " + t + " c_shard_1")).as_object();
    CHECK(shard.at("key") == parse(R"({"S":"c_shard_1"})"));
    CHECK(shard.at("data") == parse(R"({"N":"7"})"));
    CHECK(shard.size() == 4);
    for (const auto& [name, v] : shard) {
        if (name == "key" || name == "data") continue;
        INFO(name);
        CHECK((name.starts_with("ws_") || name.starts_with("wv_")));
        CHECK(name.size() == 3 + 16 + 2);
        CHECK(v.as_object().contains("N"));
    }
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

