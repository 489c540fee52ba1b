// What the facade refuses before anything is sent: malformed UTF-8, bad keys,
// table names, values and options, each with errc::invalid_argument. The
// datastore here points at a port nothing listens on: a refusal must come
// from the checks (no attempt made), and input that passes them fails later,
// at the network.
#include <catch2/catch.hpp>

#include "support/closed_port.hpp"
#include "support/run.hpp"
#include "validation.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

using sds::test::expect_error;
using sds::test::datastore_error;
using sds::test::closed_port_config;

namespace {



// A refusal by the facade's checks: invalid_argument, no request attempted,
// and a message that says why.
void check_refused(const sds::error& e, std::string_view why) {
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(e.diag().attempts == 0);
    CHECK(e.diag().http_status == 0);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(std::string(why)));
}

// Input that passed the checks: the request went to the closed port.
void check_passed_validation(const sds::error& e) {
    INFO(e.what());
    CHECK(e.condition() != errc::invalid_argument);
    CHECK((e.condition() == errc::network_error || e.condition() == errc::timeout));
}

constexpr std::chrono::milliseconds short_timeout = 3000ms;

// The errc check_key throws for `key`; nullopt when it accepts the key.
std::optional<errc> key_error(std::string_view key, std::size_t max = 2048) {
    try {
        check_key("key", key, max);
    } catch (const sds::error& e) {
        return e.condition();
    }
    return std::nullopt;
}

} // namespace

// ---------------------------------------------------------------- is_utf8

TEST_CASE("is_utf8 accepts ASCII, two, three and four byte sequences up to U+10FFFF", "[validation]") {
    CHECK(is_utf8(""));
    CHECK(is_utf8("plain ascii ~!@"));
    CHECK(is_utf8("a\0b"sv));               // NUL is a valid code point
    CHECK(is_utf8("\x7F"));
    CHECK(is_utf8("\xC2\x80"));             // U+0080, smallest two-byte
    CHECK(is_utf8("caf\xC3\xA9"));          // é
    CHECK(is_utf8("\xDF\xBF"));             // U+07FF, largest two-byte
    CHECK(is_utf8("\xE0\xA0\x80"));         // U+0800, smallest three-byte
    CHECK(is_utf8("\xE2\x82\xAC"));         // €
    CHECK(is_utf8("\xED\x9F\xBF"));         // U+D7FF, just below the surrogates
    CHECK(is_utf8("\xEE\x80\x80"));         // U+E000, just above them
    CHECK(is_utf8("\xEF\xBF\xBF"));         // U+FFFF
    CHECK(is_utf8("\xF0\x90\x80\x80"));     // U+10000, smallest four-byte
    CHECK(is_utf8("\xF0\x9F\x98\x80"));     // 😀
    CHECK(is_utf8("\xF4\x8F\xBF\xBF"));     // U+10FFFF, the largest code point
    CHECK(is_utf8("mixed \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 end"));
}

TEST_CASE("is_utf8 refuses overlong forms", "[validation]") {
    CHECK_FALSE(is_utf8("\xC0\x80"));          // NUL in two bytes
    CHECK_FALSE(is_utf8("\xC1\xBF"));          // U+007F in two bytes
    CHECK_FALSE(is_utf8("\xE0\x80\x80"));      // NUL in three bytes
    CHECK_FALSE(is_utf8("\xE0\x9F\xBF"));      // U+07FF in three bytes
    CHECK_FALSE(is_utf8("\xF0\x80\x80\x80"));  // NUL in four bytes
    CHECK_FALSE(is_utf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes
}

TEST_CASE("is_utf8 refuses surrogates and code points above U+10FFFF", "[validation]") {
    CHECK_FALSE(is_utf8("\xED\xA0\x80"));          // U+D800
    CHECK_FALSE(is_utf8("\xED\xBF\xBF"));          // U+DFFF
    CHECK_FALSE(is_utf8("\xED\xA0\xBD\xED\xB8\x80"));  // a CESU-8 surrogate pair
    CHECK_FALSE(is_utf8("\xF4\x90\x80\x80"));      // U+110000
    CHECK_FALSE(is_utf8("\xF5\x80\x80\x80"));
    CHECK_FALSE(is_utf8("\xF7\xBF\xBF\xBF"));
    CHECK_FALSE(is_utf8("\xF8\x88\x80\x80\x80"));  // five-byte form
    CHECK_FALSE(is_utf8("\xFC\x84\x80\x80\x80\x80"));
    CHECK_FALSE(is_utf8("\xFE"));
    CHECK_FALSE(is_utf8("\xFF"));
}

TEST_CASE("is_utf8 refuses truncated sequences", "[validation]") {
    CHECK_FALSE(is_utf8("\xC3"));
    CHECK_FALSE(is_utf8("abc\xC3"));
    CHECK_FALSE(is_utf8("\xE2\x82"));
    CHECK_FALSE(is_utf8("\xF0\x9F\x98"));
    CHECK_FALSE(is_utf8("\xF0\x9F"));
    // Cut short by the next character rather than the end.
    CHECK_FALSE(is_utf8("\xE2\x82x"));
    CHECK_FALSE(is_utf8("\xC3("));
    CHECK_FALSE(is_utf8("\xF0\x9F\x98 "));
    CHECK_FALSE(is_utf8("\xE2\xC3\xA9"));
}

TEST_CASE("is_utf8 refuses stray continuation bytes", "[validation]") {
    CHECK_FALSE(is_utf8("\x80"));
    CHECK_FALSE(is_utf8("\xBF"));
    CHECK_FALSE(is_utf8("a\x80z"));
    CHECK_FALSE(is_utf8("\xC3\xA9\xA9"));  // one continuation too many
    CHECK_FALSE(is_utf8("\xF0\x9F\x98\x80\x80"));
}

TEST_CASE("require_utf8 names what it refuses", "[validation]") {
    require_utf8("text value", "fine \xC3\xA9");
    const auto e = expect_error([] { require_utf8("text value", "bad \xFF"); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("text value"));
}

// ---------------------------------------------------------------- check_key

TEST_CASE("check_key refuses an empty key", "[validation]") {
    const auto e = expect_error([] { check_key("key", "", 2048); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("empty"));
}

TEST_CASE("check_key accepts exactly the byte limit and refuses one more", "[validation]") {
    check_key("key", std::string(2048, 'k'), 2048);
    CHECK(key_error(std::string(2049, 'k')) == errc::invalid_argument);
    // The limit is in bytes, not characters: 1024 two-byte characters fit, plus one more byte does not.
    std::string two_byte;
    for (int i = 0; i < 1024; ++i) two_byte += "\xC3\xA9";
    check_key("key", two_byte, 2048);
    CHECK(key_error(two_byte + "x") == errc::invalid_argument);
    const auto e = expect_error([] { check_key("key", std::string(2049, 'k'), 2048); });
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("2049"));
}

TEST_CASE("check_key refuses control characters", "[validation]") {
    for (const auto key : {"a\x01z"sv, "tab\there"sv, "line\n"sv, "\r"sv, "nul\0in"sv, "del\x7F"sv, "\x1F"sv}) {
        INFO("key of " << key.size() << " bytes");
        CHECK(key_error(key) == errc::invalid_argument);
    }
    const auto e = expect_error([] { check_key("counter name", "a\tb", 2048); });
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("counter name"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("control"));
}

TEST_CASE("check_key accepts printable text of any script", "[validation]") {
    check_key("key", "user:42/profile#main?x", 2048);
    check_key("key", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 2048);
    check_key("key", " ", 2048);
}

// The C1 controls U+0080 to U+009F (UTF-8 C2 80 to C2 9F, e.g. NEL U+0085)
// are control characters too, and Azure Table forbids them in keys.
TEST_CASE("check_key refuses the C1 control characters U+0080 to U+009F", "[validation]") {
    CHECK(key_error("next\xC2\x85line") == errc::invalid_argument);
    CHECK(key_error("\xC2\x80") == errc::invalid_argument);
    CHECK(key_error("\xC2\x9F") == errc::invalid_argument);
}

TEST_CASE("check_key refuses a key that is not UTF-8", "[validation]") {
    CHECK(key_error("\xFF") == errc::invalid_argument);
    CHECK(key_error("ok\xC0\x80") == errc::invalid_argument);
    CHECK(key_error("\xED\xA0\x80") == errc::invalid_argument);
    const auto e = expect_error([] { check_key("key", "k\xFF", 2048); });
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("UTF-8"));
}

// ---------------------------------------------------------------- the facade

TEST_CASE("table names that are too short, too long or hold bad characters are refused before anything is sent",
          "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.get_data("ab", "k"); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.get_data("", "k"); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.set_data(std::string(256, 't'), "k", "v"); }),
                  "3 to 255");
    for (const char* name : {"bad name", "tbl$", "tbl/x", "t\xC3\xA9l", "tbl:1", "tbl#"}) {
        INFO(name);
        check_refused(datastore_error([name](datastore& db) { return db.delete_data(name, "k"); }), "letters, digits");
    }
    check_refused(datastore_error([](datastore& db) { return db.create_table("a b"); }), "letters, digits");
    check_refused(datastore_error([](datastore& db) { return db.delete_table("xy"); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.update_throughput("xy", 1, 1); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.incr("xy", "c"); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.get_count("xy", "c"); }), "3 to 255");
    check_refused(datastore_error([](datastore& db) { return db.delete_counter("xy", "c"); }), "3 to 255");
}

TEST_CASE("table names of 3 and 255 characters of letters, digits, underscore, dash and dot pass validation",
          "[validation]") {
    check_passed_validation(
        datastore_error([](datastore& db) { return db.get_data("a.-", "k", {.timeout = short_timeout}); }));
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.get_data(std::string(255, 'Z'), "k", {.timeout = short_timeout}); }));
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.get_data("Tbl_09-x.y", "k", {.timeout = short_timeout}); }));
}

TEST_CASE("an empty key or one over 2048 bytes is refused before anything is sent", "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.set_data("tbl", "", "v"); }), "empty");
    check_refused(datastore_error([](datastore& db) { return db.get_data("tbl", ""); }), "empty");
    check_refused(datastore_error([](datastore& db) { return db.delete_data("tbl", ""); }), "empty");
    check_refused(datastore_error([](datastore& db) { return db.get_value("tbl", std::string(2049, 'k')); }),
                  "2049");
    check_refused(datastore_error([](datastore& db) { return db.set_data("tbl", std::string(2049, 'k'), "v"); }),
                  "2049");
    check_refused(datastore_error([](datastore& db) { return db.set_data("tbl", "a\nb", sds::bytes{1, 2}); }),
                  "control");
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.get_data("tbl", std::string(2048, 'k'), {.timeout = short_timeout}); }));
}

// Values and counters share one key space (README, "Data layout"): a value
// stored under "hits_shard_1" would overwrite shard 1 of counter "hits".
TEST_CASE("a value key that names a counter's shard or shard count is refused by every value operation",
          "[validation]") {
    for (const char* key : {"hits_shard_1", "hits_shard_10000", "a_b_shard_07", "hits_shards", "_shards"}) {
        INFO(key);
        check_refused(datastore_error([&](datastore& db) { return db.set_data("tbl", key, "v"); }), "counter");
        check_refused(datastore_error([&](datastore& db) { return db.set_data("tbl", key, sds::bytes{1}); }),
                      "counter");
        check_refused(datastore_error([&](datastore& db) { return db.get_data("tbl", key); }), "counter");
        check_refused(datastore_error([&](datastore& db) { return db.get_value("tbl", key); }), "counter");
        check_refused(datastore_error([&](datastore& db) { return db.delete_data("tbl", key); }), "counter");
    }
    // Near misses are ordinary keys.
    for (const char* key : {"hits_shard_", "hits_shard_x", "hits_shardsx", "shards", "hits_shard_1x", "hits_Shards"}) {
        INFO(key);
        check_passed_validation(
            datastore_error([&](datastore& db) { return db.set_data("tbl", key, "v", {.timeout = short_timeout}); }));
    }
}

TEST_CASE("a counter name without room for the shard suffix is refused", "[validation]") {
    // Shard keys are "<counter>_shard_<n>", n up to 10000: 12 bytes of suffix.
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", std::string(2037, 'c')); }), "2037");
    check_refused(datastore_error([](datastore& db) { return db.get_count("tbl", ""); }), "empty");
    check_refused(datastore_error([](datastore& db) { return db.delete_counter("tbl", "c\x01"); }), "control");
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.incr("tbl", std::string(2036, 'c'), {.timeout = short_timeout}); }));
}

TEST_CASE("text that is not UTF-8 is refused before anything is sent", "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.set_data("tbl", "k", std::string("bad \xFF")); }),
                  "UTF-8");
    check_refused(datastore_error([](datastore& db) { return db.set_data("tbl", "k", std::string("\xED\xA0\x80")); }),
                  "UTF-8");
    check_refused(datastore_error([](datastore& db) { return db.get_data("tbl", "k\xC0\x80"); }), "UTF-8");
}

TEST_CASE("bytes that are not UTF-8 are stored as they are", "[validation]") {
    check_passed_validation(datastore_error([](datastore& db) {
        return db.set_data("tbl", "k", sds::bytes{0xFF, 0xFE, 0x00}, {.timeout = short_timeout});
    }));
}

TEST_CASE("a value making the item over 400 KB is refused, one at the limit passes validation", "[validation]") {
    // The item is "key" + key + "data" + value + the writer stamp (vw, vq: at
    // most 41 bytes): 3 + 1 + 4 + value bytes + 41 <= 409600.
    constexpr std::size_t limit = 400 * 1024;
    const std::size_t fits = limit - 3 - 1 - 4 - 41;
    check_refused(datastore_error([&](datastore& db) { return db.set_data("tbl", "k", std::string(fits + 1, 'v')); }),
                  "400 KB");
    check_refused(datastore_error([&](datastore& db) { return db.set_data("tbl", "k", sds::bytes(fits + 1, 0xAB)); }),
                  "400 KB");
    check_refused(datastore_error([&](datastore& db) {
                      return db.set_data("tbl", std::string(2048, 'k'), std::string(limit - 2048, 'v'));
                  }),
                  "400 KB");
    check_passed_validation(datastore_error([&](datastore& db) {
        return db.set_data("tbl", "k", std::string(fits, 'v'), {.timeout = short_timeout});
    }));
    check_passed_validation(datastore_error([&](datastore& db) {
        return db.set_data("tbl", "k", sds::bytes(fits, 0xAB), {.timeout = short_timeout});
    }));
}

TEST_CASE("an incr amount of 2^53 is refused and 2^53 - 1 passes validation", "[validation]") {
    constexpr std::int64_t two_53 = std::int64_t{1} << 53;
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", "c", {.amount = two_53}); }),
                  "out of range");
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", "c", {.amount = -two_53}); }),
                  "out of range");
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", "c", {.amount = INT64_MIN}); }),
                  "out of range");
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.incr("tbl", "c", {.amount = two_53 - 1, .timeout = short_timeout}); }));
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.incr("tbl", "c", {.amount = -(two_53 - 1), .timeout = short_timeout}); }));
}

TEST_CASE("a shard_count of 0 or over 10000 is refused", "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", "c", {.shard_count = 0}); }),
                  "shard_count");
    check_refused(datastore_error([](datastore& db) { return db.incr("tbl", "c", {.shard_count = 10001}); }),
                  "shard_count");
    check_passed_validation(datastore_error(
        [](datastore& db) { return db.incr("tbl", "c", {.shard_count = 10000, .timeout = short_timeout}); }));
}

TEST_CASE("a timeout that is not positive is refused by every operation", "[validation]") {
    const auto negative = std::chrono::milliseconds(-5);
    check_refused(datastore_error([&](datastore& db) { return db.get_data("tbl", "k", {.timeout = negative}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.set_data("tbl", "k", "v", {.timeout = 0ms}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.list_tables({.timeout = negative}); }), "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.create_table("tbl", {.timeout = negative}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.delete_table("tbl", {.timeout = negative}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.incr("tbl", "c", {.timeout = negative}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.get_count("tbl", "c", {.timeout = negative}); }),
                  "timeout");
    check_refused(datastore_error([&](datastore& db) { return db.delete_counter("tbl", "c", {.timeout = negative}); }),
                  "timeout");
    check_refused(
        datastore_error([&](datastore& db) { return db.update_throughput("tbl", 1, 1, {.timeout = negative}); }),
        "timeout");
}

TEST_CASE("create_table refuses on_demand together with a capacity, and a capacity under 1", "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.create_table("tbl", {.read = 5, .on_demand = true}); }),
                  "on_demand");
    check_refused(datastore_error([](datastore& db) { return db.create_table("tbl", {.write = 5, .on_demand = true}); }),
                  "on_demand");
    check_refused(datastore_error([](datastore& db) { return db.create_table("tbl", {.read = 0}); }), "at least 1");
    check_refused(datastore_error([](datastore& db) { return db.create_table("tbl", {.write = -1}); }), "at least 1");
}

TEST_CASE("update_throughput refuses a capacity under 1", "[validation]") {
    check_refused(datastore_error([](datastore& db) { return db.update_throughput("tbl", 0, 5); }), "at least 1");
    check_refused(datastore_error([](datastore& db) { return db.update_throughput("tbl", 5, 0); }), "at least 1");
    check_refused(datastore_error([](datastore& db) { return db.update_throughput("tbl", -3, -3); }), "at least 1");
}

TEST_CASE("a datastore whose endpoint is malformed is refused at construction", "[validation]") {
    boost::asio::io_context io;
    dynamodb_config c = closed_port_config();
    c.endpoint = "ftp://127.0.0.1:9";
    const auto e = expect_error([&] { sds::datastore db{io.get_executor(), c}; });
    CHECK(e.condition() == errc::invalid_argument);
}

// With Asio's default throw_if_cancelled, the awaiting coroutine's own
// co_await throws operation_aborted before sds runs (documented). A caller
// that turned it off hears of it from sds, and nothing starts.
TEST_CASE("an operation awaited by a coroutine already cancelled is cancelled, as an sds::error, and sends nothing",
          "[validation]") {
    boost::asio::io_context io;
    boost::asio::cancellation_signal signal;
    std::optional<errc> outcome;
    std::string other;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            co_await boost::asio::this_coro::throw_if_cancelled(false);
            sds::datastore db{co_await boost::asio::this_coro::executor, closed_port_config()};
            signal.emit(boost::asio::cancellation_type::terminal);  // before the operation starts
            try {
                co_await db.get_data("tbl", "k");
            } catch (const sds::error& e) {
                outcome = e.condition();
            } catch (const std::exception& e) {
                other = e.what();
            }
        },
        boost::asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));
    io.run();
    CHECK(other == "");
    CHECK(outcome == errc::cancelled);
}

TEST_CASE("input Azure Table Storage would refuse is refused before anything is sent", "[validation][azure]") {
    using sds::test::azure_datastore_error;
    check_refused(azure_datastore_error([](datastore& db) { return db.create_table("bad_name"); }), "letters and digits");
    check_refused(azure_datastore_error([](datastore& db) { return db.create_table("ab"); }), "3 to 63");
    check_refused(azure_datastore_error([](datastore& db) { return db.create_table("tables"); }), "reserved");
    for (const char* key : {"a/b", "a\\b", "a#b", "a?b"}) {
        check_refused(azure_datastore_error([&](datastore& db) { return db.set_data("tbl", key, "v"); }), "may not contain");
        check_refused(azure_datastore_error([&](datastore& db) { return db.get_data("tbl", key); }), "may not contain");
        check_refused(azure_datastore_error([&](datastore& db) { return db.delete_data("tbl", key); }), "may not contain");
        check_refused(azure_datastore_error([&](datastore& db) { return db.incr("tbl", key); }), "may not contain");
    }
    check_refused(azure_datastore_error([](datastore& db) { return db.set_data("tbl", std::string(513, 'k'), "v"); }),
                  "1 KiB");
    // The longest shard key ("_shard_10000") must fit too.
    check_refused(azure_datastore_error([](datastore& db) { return db.incr("tbl", std::string(501, 'c')); }), "1 KiB");
    check_refused(azure_datastore_error([](datastore& db) { return db.set_data("tbl", "k", std::string(32769, 'x')); }),
                  "64 KiB");
    check_refused(azure_datastore_error([](datastore& db) { return db.update_throughput("tbl", 1, 1); }),
                  "no provisioned throughput");
    // At the limits: accepted, and it fails only at the closed port.
    check_passed_validation(azure_datastore_error(
        [](datastore& db) { return db.set_data("tbl", std::string(512, 'k'), std::string(32768, 'x'), {.timeout = short_timeout}); }));
    check_passed_validation(azure_datastore_error(
        [](datastore& db) { return db.incr("tbl", std::string(500, 'c'), {.timeout = short_timeout}); }));
}
