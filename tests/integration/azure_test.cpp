// What only Azure Table Storage has, end to end against Azurite (which checks
// SharedKey itself): its tables, its credentials (a wrong key, a SAS made by
// Microsoft's own client) and interoperability with @azure/data-tables in the
// documented layout. The scenarios every engine shares are in
// datastore_test.cpp.
#include <catch2/catch.hpp>

#include "targets.hpp"
#include "../unit/support/expect_error.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <tuple>

namespace asio = boost::asio;
using sds::test::azure_target;
using sds::test::expect_error;
using sds::test::run_on;

namespace {

// Runs tests/integration/azure_interop.mjs (Microsoft's JavaScript client) and returns its standard output.
std::string sdk(const std::string& args) {
    return sds::test::command_output("node " SDS_SOURCE_DIR "/tests/integration/azure_interop.mjs " + args);
}

using sds::test::quote;

} // namespace

TEST_CASE("Azure tables are created (twice is fine), listed and deleted, and have no throughput to set", "[azure]") {
    const std::string t = azure_target::table("tables");
    const auto listed = run_on<azure_target>([&](sds::datastore& db) -> asio::awaitable<std::vector<std::string>> {
        co_await db.create_table(t);
        co_await db.create_table(t, {.read = 20, .write = 10});  // exists; the capacities mean nothing here
        co_await db.set_data(t, "k", "v");
        auto names = co_await db.list_tables();
        try {
            co_await db.update_throughput(t, 5, 5);
            FAIL("expected invalid_argument");
        } catch (const sds::error& e) {
            CHECK(e.condition() == sds::errc::invalid_argument);
        }
        co_await db.delete_table(t);
        try {
            co_await db.delete_table(t);
            FAIL("expected table_not_found");
        } catch (const sds::error& e) {
            CHECK(e.condition() == sds::errc::table_not_found);
        }
        co_return names;
    });
    CHECK(std::count(listed.begin(), listed.end(), t) == 1);
    const auto after = run_on<azure_target>([](sds::datastore& db) { return db.list_tables(); });
    CHECK(std::count(after.begin(), after.end(), t) == 0);
}

TEST_CASE("a wrong account key is auth_failed after one attempt, and the key appears nowhere", "[azure]") {
    asio::io_context io;
    auto config = azure_target::config();
    const std::string wrong = "d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5d3Jvbmc=";
    config.account_key = wrong;
    sds::datastore db(io.get_executor(), config);
    auto f = asio::co_spawn(io, db.list_tables(), asio::use_future);
    io.run();
    const auto e = expect_error([&] { f.get(); });
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(e.diag().attempts == 1);
    CHECK(e.diag().http_status == 403);
    CHECK(std::string(e.what()).find(wrong) == std::string::npos);
}

namespace {

// A value written and a counter incremented through `config`, read back.
std::pair<std::optional<std::string>, std::int64_t> sas_round_trip(const sds::azure_table_config& config,
                                                                   const std::string& t) {
    asio::io_context io;
    sds::datastore db(io.get_executor(), config);
    auto f = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::pair<std::optional<std::string>, std::int64_t>> {
            co_await db.set_data(t, "k", std::string("through a SAS"));
            co_await db.incr(t, "c", {.amount = 4});
            co_return std::pair{co_await db.get_data(t, "k"), co_await db.get_count(t, "c")};
        },
        asio::use_future);
    io.run();
    return f.get();
}

} // namespace

TEST_CASE("a table SAS made by Microsoft's client authorizes sds without the key, over https", "[azure][interop]") {
    using sds::test::azure_tls_target;
    const std::string t = azure_tls_target::table("sas");
    run_on<azure_tls_target>([&](sds::datastore& db) { return db.create_table(t); });
    auto config = azure_tls_target::config();
    config.account_key.clear();
    config.sas_token = sdk("table-sas " + t);
    const auto [value, count] = sas_round_trip(config, t);
    CHECK(value == std::optional<std::string>("through a SAS"));
    CHECK(count == 4);
    run_on<azure_tls_target>([&](sds::datastore& db) { return db.delete_table(t); });
}

TEST_CASE("a SAS goes over plain http (the emulator's) only when the configuration allows it", "[azure][interop]") {
    const std::string t = azure_target::table("sashttp");
    run_on<azure_target>([&](sds::datastore& db) { return db.create_table(t); });
    auto config = azure_target::config();
    config.account_key.clear();
    config.sas_token = sdk("table-sas " + t);
    asio::io_context io;
    const auto e = expect_error([&] { sds::datastore db(io.get_executor(), config); });
    CHECK(e.condition() == sds::errc::invalid_argument);
    CHECK(std::string(e.what()).find("a SAS is sent over https only, unless http.allow_plain_http is set") !=
          std::string::npos);
    CHECK(std::string(e.what()).find("sig=") == std::string::npos);
    config.http.allow_plain_http = true;
    const auto [value, count] = sas_round_trip(config, t);
    CHECK(value == std::optional<std::string>("through a SAS"));
    CHECK(count == 4);
    run_on<azure_target>([&](sds::datastore& db) { return db.delete_table(t); });
}

TEST_CASE("what sds writes, Microsoft's JavaScript client reads in the documented layout", "[azure][interop]") {
    const std::string t = azure_target::table("interopout");
    // Built outside the coroutine: GCC 12 miscompiles an initializer list
    // argument inside one ("array used as initializer").
    const sds::bytes blob{0x00, 0x01, 0x02, 0xff};
    run_on<azure_target>([&](sds::datastore& db) -> asio::awaitable<void> {
        co_await db.create_table(t);
        co_await db.set_data(t, "text", std::string("héllo ✓"));
        co_await db.set_data(t, "it's binary", blob);
        co_await db.incr(t, "c", {.amount = 7});
        co_await db.incr(t, "s", {.amount = 2, .shard_count = 3});
    });
    using boost::json::parse;
    // A value holds its data and the writer stamp: vw, the writer id (16 hex
    // digits, the same for every write of one datastore), and vq, its
    // sequence number of the write.
    auto text = parse(sdk("get " + t + " text")).as_object();
    auto binary = parse(sdk("get " + t + " \"it's binary\"")).as_object();
    const auto writer = text.at("vw");
    CHECK(writer.at("String").as_string().size() == 16u);
    CHECK(binary.at("vw") == writer);
    CHECK(text.at("vq") == parse(R"({"Int64":"1"})"));
    CHECK(binary.at("vq") == parse(R"({"Int64":"2"})"));
    for (auto* entity : {&text, &binary}) {
        entity->erase("vw");
        entity->erase("vq");
    }
    CHECK(text == parse(R"({"data":{"String":"héllo ✓"}})"));
    CHECK(binary == parse(R"({"data":{"Binary":"AAEC/w=="}})"));
    const auto shard = parse(sdk("get " + t + " c_shard_1")).as_object();
    CHECK(shard.at("data") == parse(R"({"Int64":"7"})"));
    // The write record that makes increments exactly once: seq and ops.
    CHECK(shard.at("seq") == parse(R"({"Int64":"1"})"));
    CHECK(shard.at("ops").at("String").as_string().size() == 16);
    CHECK(parse(sdk("get " + t + " s_shards")) == parse(R"({"shards":{"Int64":"3"}})"));
    CHECK(sdk("get " + t + " nothing") == "null");
    run_on<azure_target>([&](sds::datastore& db) { return db.delete_table(t); });
}

TEST_CASE("what Microsoft's JavaScript client writes in the documented layout, sds reads and counts on",
          "[azure][interop]") {
    const std::string t = azure_target::table("interopin");
    sdk("create-table " + t);
    sdk("put-text " + t + " greeting " + quote("grüße aus JS"));
    sdk("put-binary " + t + " blob " + quote("AAECA/8="));
    sdk("put-shard-count " + t + " visits 4");
    sdk("put-counter-shard " + t + " visits 1 10");
    sdk("put-counter-shard " + t + " visits 3 5");
    sdk("put-counter-shard " + t + " visits 4 -2");
    sdk("put-counter-shard " + t + " plain 1 41");
    using result = std::tuple<std::optional<sds::value>, std::optional<sds::value>, std::int64_t, std::int64_t>;
    const auto r = run_on<azure_target>([&](sds::datastore& db) -> asio::awaitable<result> {
        auto text = co_await db.get_value(t, "greeting");
        auto blob = co_await db.get_value(t, "blob");
        auto visits = co_await db.get_count(t, "visits");
        // A shard written without a write record takes increments all the same.
        auto plain = co_await db.incr(t, "plain");
        co_await db.delete_table(t);
        co_return result{text, blob, visits, plain};
    });
    REQUIRE(std::get<0>(r));
    CHECK(std::get<0>(r)->data == "grüße aus JS");
    CHECK_FALSE(std::get<0>(r)->is_binary());
    REQUIRE(std::get<1>(r));
    CHECK(std::get<1>(r)->is_binary());
    CHECK(std::get<1>(r)->as_bytes() == sds::bytes{0x00, 0x01, 0x02, 0x03, 0xff});
    CHECK(std::get<2>(r) == 13);
    CHECK(std::get<3>(r) == 42);
}
