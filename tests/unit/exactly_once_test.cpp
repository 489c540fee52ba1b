// Exactly-once increments on DynamoDB over a scripted transport: a small
// model of a table answers the conditional UpdateItem, GetItem and the fence
// as DynamoDB does, and faults are injected around it (a write applied and
// its answer lost, a write lost before it applied, 500s after applying,
// answers that fail their checksum, copies that land late). Every total is
// checked against the model: each acknowledged increment applied once, and
// nothing else.
#include <catch2/catch.hpp>

#include "counters/counter_ops.hpp"
#include "counters/write_record.hpp"
#include "dynamodb/dynamodb_engine.hpp"
#include "support/expect_error.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"

#include <sds/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::expect_error;
using sds::test::fake_transport;
namespace json = boost::json;

namespace {

constexpr const char* table = "tbl";

dynamodb_config quick_config() {
    dynamodb_config c;
    c.region = "eu-west-1";
    c.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    c.retry.base_delay = 1ms;
    c.retry.throttle_base_delay = 1ms;
    c.retry.max_backoff = 2ms;
    return c;
}

std::string target_of(const http_request& r) { return std::string(r["X-Amz-Target"]); }
json::object body_of(const http_request& r) { return json::parse(r.body()).as_object(); }

std::int64_t number(const json::value& typed) {
    return std::stoll(std::string(typed.at("N").as_string()));
}
json::object typed(std::int64_t n) { return json::object{{"N", std::to_string(n)}}; }

// The items of one table, numbers only (what counter shards hold).
struct model_table {
    std::map<std::string, std::map<std::string, std::int64_t>> items;
    std::size_t applied_writes = 0;

    std::int64_t data(const std::string& key) const {
        const auto it = items.find(key);
        if (it == items.end()) return 0;
        const auto d = it->second.find("data");
        return d == it->second.end() ? 0 : d->second;
    }

    static fake_transport::step ok(const json::object& body) {
        const std::string text = json::serialize(body);
        return fake_transport::response(200, text, {{"x-amz-crc32", std::to_string(dynamodb_crc32(text))}});
    }
    static fake_transport::step condition_failed() {
        return fake_transport::response(
            400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"})");
    }

    // Answers one request as DynamoDB would, for the forms sds sends.
    fake_transport::step answer(const http_request& r) {
        const std::string op = target_of(r);
        json::object b = body_of(r);
        const std::string key(b.at("Key").at("key").at("S").as_string());
        const auto name = [&](std::string_view n) { return std::string(b.at("ExpressionAttributeNames").at(n).as_string()); };
        const auto value = [&](std::string_view v) { return number(b.at("ExpressionAttributeValues").at(v)); };
        auto& item = items[key];
        if (op == "DynamoDB_20120810.GetItem") {
            json::object found;
            for (const char* alias : {"#s", "#v"})
                if (const auto it = item.find(name(alias)); it != item.end()) found[it->first] = typed(it->second);
            json::object answer;
            if (!found.empty()) answer["Item"] = std::move(found);
            return ok(answer);
        }
        REQUIRE(op == "DynamoDB_20120810.UpdateItem");
        const std::string update(b.at("UpdateExpression").as_string());
        if (update == "SET #d = if_not_exists(#d, :z) + :a, #s = :s, #v = if_not_exists(#d, :z)") {
            REQUIRE(std::string(b.at("ConditionExpression").as_string()) == "attribute_not_exists(#s) OR #s < :s");
            const std::string s = name("#s"), v = name("#v"), d = name("#d");
            if (item.count(s) && item[s] >= value(":s")) return condition_failed();
            const std::int64_t before = item.count(d) ? item[d] : 0;
            item[d] = before + value(":a");
            item[s] = value(":s");
            item[v] = before;
            ++applied_writes;
            json::object attrs;
            if (b.at("ReturnValues") == "ALL_NEW") {
                attrs["key"] = json::object{{"S", key}};
                for (const auto& [n, x] : item) attrs[n] = typed(x);
            } else {
                attrs[d] = typed(item[d]);
                attrs[s] = typed(item[s]);
                attrs[v] = typed(item[v]);
            }
            return ok(json::object{{"Attributes", attrs}});
        }
        if (update == "SET #s = :n") {  // a shard count record
            const std::string s = name("#s");
            if (item.count(s) && item[s] >= value(":n")) return condition_failed();
            item[s] = value(":n");
            return ok({});
        }
        if (update == "SET #s = :s REMOVE #v") {  // the fence
            const std::string s = name("#s");
            if (item.count(s) && item[s] >= value(":s")) return condition_failed();
            item[s] = value(":s");
            item.erase(name("#v"));
            return ok({});
        }
        if (update.starts_with("REMOVE ")) {  // pruning idle lanes
            for (std::size_t i = 0; b.at("ExpressionAttributeNames").as_object().contains("#s" + std::to_string(i)); ++i) {
                const std::string n = std::to_string(i);
                if (!item.count(name("#s" + n)) || item[name("#s" + n)] != value(":s" + n)) return condition_failed();
            }
            for (std::size_t i = 0; b.at("ExpressionAttributeNames").as_object().contains("#s" + std::to_string(i)); ++i) {
                item.erase(name("#s" + std::to_string(i)));
                item.erase(name("#v" + std::to_string(i)));
            }
            return ok({});
        }
        FAIL("unexpected UpdateExpression " << update);
        return {};
    }
};

// A fault for one request: what happens to it around the model.
enum class fault { none, lost_before, lost_after, error_after, corrupt_after, throttled, stalled };

struct harness {
    std::shared_ptr<fake_transport> fake = std::make_shared<fake_transport>();
    std::shared_ptr<model_table> model = std::make_shared<model_table>();
    std::shared_ptr<engine> made = make_dynamodb_engine(std::shared_ptr<transport>(fake), quick_config());
    std::shared_ptr<counter_state> counters = std::make_shared<counter_state>();
    // Decides each request's fault; none by default.
    std::function<fault(const http_request&)> plan = [](const http_request&) { return fault::none; };
    // Writes whose answer was lost, to land late (applied by the test).
    std::vector<http_request> held;

    harness() {
        fake->answer_with([this](const http_request& r) {
            switch (plan(r)) {
            case fault::none: return model->answer(r);
            case fault::lost_before: {
                fake_transport::step s;
                s.result.ec = boost::asio::error::connection_reset;
                s.result.request_written = true;
                return s;
            }
            case fault::lost_after: {
                model->answer(r);
                fake_transport::step s;
                s.result.ec = boost::asio::error::connection_reset;
                s.result.request_written = true;
                return s;
            }
            case fault::error_after:
                model->answer(r);
                return fake_transport::response(
                    500, R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"x"})");
            case fault::corrupt_after: {
                auto s = model->answer(r);
                s.result.response.set("x-amz-crc32", "1");
                return s;
            }
            case fault::stalled: {  // no answer before the deadline
                auto s = fake_transport::response(200);
                s.delay = 10s;
                return s;
            }
            case fault::throttled:
                return fake_transport::response(
                    400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"x"})");
            }
            return model->answer(r);
        });
    }

    boost::asio::awaitable<std::int64_t> incr(std::string counter, incr_options o) {
        return increment_counter(made, counters, table, std::move(counter), o);
    }
    std::vector<std::string> operations() const {
        std::vector<std::string> ops;
        for (const auto& r : fake->requests()) ops.push_back(target_of(r).substr(std::string("DynamoDB_20120810.").size()));
        return ops;
    }
};

bool is_write(const http_request& r) {
    return target_of(r) == "DynamoDB_20120810.UpdateItem" &&
           body_of(r).at("UpdateExpression").as_string().starts_with("SET #d");
}

} // namespace

TEST_CASE("an exactly-once incr is one conditional UpdateItem that records its writer lane", "[exactly_once]") {
    harness h;
    const auto a = test::run([&](auto&) { return h.incr("hits", {.amount = 5}); });
    const auto b = test::run([&](auto&) { return h.incr("hits", {.amount = -2}); });
    CHECK(a == 5);
    CHECK(b == 3);
    REQUIRE(h.operations() == std::vector<std::string>{"UpdateItem", "UpdateItem"});
    const json::object first = body_of(h.fake->requests()[0]);
    const json::object second = body_of(h.fake->requests()[1]);
    CHECK(first.at("Key") == json::parse(R"({"key":{"S":"hits_shard_1"}})"));
    CHECK(first.at("ConditionExpression") == "attribute_not_exists(#s) OR #s < :s");
    const std::string lane(first.at("ExpressionAttributeNames").at("#s").as_string());
    CHECK(lane.size() == 3 + 16 + 2);
    CHECK(lane.starts_with("ws_"));
    CHECK(lane.ends_with("_0"));
    CHECK(first.at("ExpressionAttributeNames").at("#v").as_string() == "wv_" + lane.substr(3));
    CHECK(first.at("ExpressionAttributeNames").at("#d") == "data");
    CHECK(first.at("ExpressionAttributeValues").at(":a") == json::parse(R"({"N":"5"})"));
    // Sequence numbers are milliseconds of the clock, strictly increasing.
    const auto s1 = number(first.at("ExpressionAttributeValues").at(":s"));
    const auto s2 = number(second.at("ExpressionAttributeValues").at(":s"));
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    CHECK(s1 > now - 60'000);
    CHECK(s1 <= now);
    CHECK(s2 > s1);
    // The first write of an engine asks for the whole item (to find idle
    // lanes); later ones only for what changed.
    CHECK(first.at("ReturnValues") == "ALL_NEW");
    CHECK(second.at("ReturnValues") == "UPDATED_NEW");
    CHECK(h.model->data("hits_shard_1") == 3);
    // Each engine is a writer of its own.
    harness other;
    test::run([&](auto&) { return other.incr("hits", {}); });
    CHECK(body_of(other.fake->requests()[0]).at("ExpressionAttributeNames").at("#s").as_string() != lane);
}

TEST_CASE("a write applied but unanswered is re-sent, fails its condition, and the record gives its value", "[exactly_once]") {
    for (const fault f : {fault::lost_after, fault::error_after, fault::corrupt_after}) {
        INFO("fault " << static_cast<int>(f));
        harness h;
        h.model->items["hits_shard_1"]["data"] = 40;
        int writes = 0;
        h.plan = [&](const http_request& r) { return is_write(r) && writes++ == 0 ? f : fault::none; };
        const auto n = test::run([&](auto&) { return h.incr("hits", {.amount = 2}); });
        CHECK(n == 42);
        CHECK(h.model->data("hits_shard_1") == 42);
        CHECK(h.model->applied_writes == 1);
        CHECK(h.operations() == std::vector<std::string>{"UpdateItem", "UpdateItem", "GetItem"});
        // The re-send is the same write: same lane, same sequence number.
        CHECK(body_of(h.fake->requests()[0]) == body_of(h.fake->requests()[1]));
        CHECK(body_of(h.fake->requests()[2]).at("ConsistentRead") == true);
    }
}

TEST_CASE("a write lost before it applied is re-sent and applies once", "[exactly_once]") {
    harness h;
    int writes = 0;
    h.plan = [&](const http_request& r) { return is_write(r) && writes++ == 0 ? fault::lost_before : fault::none; };
    const auto n = test::run([&](auto&) { return h.incr("hits", {}); });
    CHECK(n == 1);
    CHECK(h.model->applied_writes == 1);
    CHECK(h.operations() == std::vector<std::string>{"UpdateItem", "UpdateItem"});
}

TEST_CASE("a copy of a write that lands late, after the re-send applied, is refused by its condition", "[exactly_once]") {
    harness h;
    int writes = 0;
    h.plan = [&](const http_request& r) { return is_write(r) && writes++ == 0 ? fault::lost_before : fault::none; };
    test::run([&](auto&) { return h.incr("hits", {.amount = 7}); });
    // The first copy, which the fault kept from the model, arrives now.
    const auto late = h.model->answer(h.fake->requests()[0]);
    CHECK(late.result.response.result_int() == 400);
    CHECK(h.model->data("hits_shard_1") == 7);
}

TEST_CASE("a write whose outcome stays unknown past its deadline is ambiguous", "[exactly_once]") {
    harness h;
    h.plan = [&](const http_request& r) { return is_write(r) ? fault::stalled : fault::none; };
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits", {.timeout = 30ms}); }); });
    CHECK(e.condition() == errc::ambiguous);
}

TEST_CASE("a write that can never be sent successfully is fenced off and reported not applied", "[exactly_once]") {
    harness h;
    // Every copy of the write is lost before it applies; the fence gets through.
    h.plan = [&](const http_request& r) { return is_write(r) ? fault::lost_before : fault::none; };
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits", {.amount = 3}); }); });
    CHECK(e.condition() == errc::network_error);
    CHECK(std::string(e.what()).find("not applied") != std::string::npos);
    CHECK(h.model->data("hits_shard_1") == 0);
    const auto ops = h.operations();
    REQUIRE(!ops.empty());
    CHECK(ops.back() == "UpdateItem");
    CHECK(body_of(h.fake->requests().back()).at("UpdateExpression") == "SET #s = :s REMOVE #v");
    // A copy still on its way cannot land any more.
    const auto late = h.model->answer(h.fake->requests()[0]);
    CHECK(late.result.response.result_int() == 400);
    CHECK(h.model->data("hits_shard_1") == 0);
}

TEST_CASE("a fence that finds the write landed reports the write's value", "[exactly_once]") {
    harness h;
    // Every copy is lost; the first one had in fact applied.
    int writes = 0;
    h.plan = [&](const http_request& r) {
        if (!is_write(r)) return fault::none;
        return writes++ == 0 ? fault::lost_after : fault::lost_before;
    };
    const auto n = test::run([&](auto&) { return h.incr("hits", {.amount = 4}); });
    CHECK(n == 4);
    CHECK(h.model->data("hits_shard_1") == 4);
    CHECK(h.model->applied_writes == 1);
}

TEST_CASE("a throttled write that never got through is a plain throttled error, not ambiguous", "[exactly_once]") {
    harness h;
    h.plan = [&](const http_request& r) { return is_write(r) ? fault::throttled : fault::none; };
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits", {}); }); });
    CHECK(e.condition() == errc::throttled);
    CHECK(h.model->data("hits_shard_1") == 0);
}

TEST_CASE("concurrent uncombined writes to one shard use distinct lanes, and lanes are reused", "[exactly_once]") {
    harness h;
    boost::asio::io_context io;
    std::vector<std::future<std::int64_t>> done;
    for (int i = 0; i < 8; ++i)
        done.push_back(boost::asio::co_spawn(io, h.incr("hits", {.combine = false}), boost::asio::use_future));
    io.run();
    std::set<std::int64_t> values;
    for (auto& f : done) values.insert(f.get());
    CHECK(values.size() == 8);
    CHECK(h.model->data("hits_shard_1") == 8);
    // The fake answers at once, so each write ends before the next starts or
    // they overlap; either way no two writes in flight share a lane, and no
    // more lanes are made than writes were in flight.
    std::set<std::string> lanes;
    for (const auto& r : h.fake->requests()) lanes.insert(std::string(body_of(r).at("ExpressionAttributeNames").at("#s").as_string()));
    CHECK(lanes.size() >= 1);
    CHECK(lanes.size() <= 8);
    for (const auto& l : lanes) CHECK(h.model->items["hits_shard_1"].count(l) == 1);
}

TEST_CASE("lanes idle for over an hour are pruned by a later writer, and recent ones are kept", "[exactly_once]") {
    harness h;
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    auto& item = h.model->items["hits_shard_1"];
    item["data"] = 10;
    item["ws_00000000000000aa_0"] = now - 2 * 3600 * 1000;
    item["wv_00000000000000aa_0"] = 3;
    item["ws_00000000000000bb_0"] = now - 60 * 1000;
    item["wv_00000000000000bb_0"] = 9;
    const auto n = test::run([&](auto&) { return h.incr("hits", {}); });
    CHECK(n == 11);
    CHECK(h.operations() == std::vector<std::string>{"UpdateItem", "UpdateItem"});
    const json::object prune = body_of(h.fake->requests()[1]);
    CHECK(prune.at("UpdateExpression") == "REMOVE #s0, #v0");
    CHECK(prune.at("ConditionExpression") == "#s0 = :s0");
    CHECK(item.count("ws_00000000000000aa_0") == 0);
    CHECK(item.count("wv_00000000000000aa_0") == 0);
    CHECK(item.count("ws_00000000000000bb_0") == 1);
    CHECK(item["data"] == 11);
}

TEST_CASE("exactly-once increments through a seeded mix of faults: the total is the sum of what was acknowledged",
          "[exactly_once]") {
    for (const std::uint32_t shards : {1u, 10u}) {
        const std::uint64_t seed = std::random_device{}();
        INFO("seed " << seed << ", shards " << shards);
        harness h;
        std::mt19937_64 rng(seed);
        h.plan = [&](const http_request&) {
            const auto x = std::uniform_int_distribution<int>(0, 99)(rng);
            if (x < 5) return fault::lost_before;
            if (x < 10) return fault::lost_after;
            if (x < 13) return fault::error_after;
            if (x < 15) return fault::corrupt_after;
            if (x < 20) return fault::throttled;
            return fault::none;
        };
        boost::asio::io_context io;
        std::vector<std::future<std::int64_t>> done;
        for (int i = 0; i < 400; ++i)
            done.push_back(boost::asio::co_spawn(io, h.incr("hits", {.amount = 1 + i % 3, .shard_count = shards}),
                                                 boost::asio::use_future));
        io.run();
        std::int64_t acknowledged = 0;
        int errors = 0;
        for (int i = 0; i < 400; ++i) {
            try {
                done[static_cast<std::size_t>(i)].get();
                acknowledged += 1 + i % 3;
            } catch (const sds::error& e) {
                // Only failures that applied nothing may be reported.
                CHECK(e.condition() != errc::ambiguous);
                ++errors;
            }
        }
        std::int64_t total = 0;
        for (std::uint32_t s = 1; s <= shards; ++s) total += h.model->data("hits_shard_" + std::to_string(s));
        CHECK(total == acknowledged);
        CHECK(errors < 40);
    }
}

TEST_CASE("without exactly_once an increment is the plain ADD of the documented layout", "[exactly_once]") {
    harness h;
    h.fake->answer_with([](const http_request& r) {
        CHECK(body_of(r).at("UpdateExpression") == "ADD #d :a");
        return model_table::ok(json::object{{"Attributes", json::object{{"data", typed(1)}}}});
    });
    CHECK(test::run([&](auto&) { return h.incr("hits", {.exactly_once = false}); }) == 1);
}

TEST_CASE("a write applied and answered with a 5xx the retry policy does not retry is settled, never called not applied",
          "[exactly_once]") {
    for (const unsigned status : {501u, 505u, 524u}) {
        INFO("HTTP " << status);
        harness h;
        int writes = 0;
        h.fake->answer_with([&](const http_request& r) {
            if (is_write(r) && writes++ == 0) {
                h.model->answer(r);
                return fake_transport::response(status, "<html>origin timed out</html>");
            }
            return h.model->answer(r);
        });
        CHECK(test::run([&](auto&) { return h.incr("hits", {.amount = 3}); }) == 3);
        CHECK(h.model->data("hits_shard_1") == 3);
        CHECK(h.model->applied_writes == 1);
    }
    // Without exactly-once, the same answer is ambiguous, not a plain failure.
    harness plain;
    plain.fake->answer_with([](const http_request&) { return fake_transport::response(524, "timeout"); });
    const auto e = expect_error([&] { test::run([&](auto&) { return plain.incr("hits", {.exactly_once = false}); }); });
    CHECK(e.condition() == errc::ambiguous);
}

namespace {

std::string http_date(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

} // namespace

TEST_CASE("a Date header hours ahead does not make a writer prune a lane whose write is in doubt", "[exactly_once]") {
    harness a, b;
    b.model = a.model;
    // A's first write applies, and its answer is lost after 50 ms.
    int a_writes = 0;
    a.fake->answer_with([&](const http_request& r) {
        if (is_write(r) && a_writes++ == 0) {
            a.model->answer(r);
            fake_transport::step s;
            s.result.ec = boost::asio::error::connection_reset;
            s.result.request_written = true;
            s.delay = 50ms;
            return s;
        }
        return a.model->answer(r);
    });
    // B's service clock (every Date header) runs two hours ahead.
    b.fake->answer_with([&](const http_request& r) {
        auto s = b.model->answer(r);
        s.result.response.set("Date", http_date(std::chrono::system_clock::now() + 2h));
        return s;
    });
    boost::asio::io_context io;
    auto fa = boost::asio::co_spawn(io, a.incr("hits", {.amount = 5}), boost::asio::use_future);
    // Named: a coroutine lambda's captures live in the lambda, which must
    // outlive the coroutine.
    const auto b_writes = [&]() -> boost::asio::awaitable<std::int64_t> {
        co_await b.incr("hits", {});  // learns the skew
        // The next ALL_NEW look comes after 16 writes of this engine.
        std::int64_t last = 0;
        for (int i = 0; i < 16; ++i) last = co_await b.incr("hits", {});
        co_return last;
    };
    auto fb = boost::asio::co_spawn(io, b_writes(), boost::asio::use_future);
    io.run();
    CHECK(fa.get() >= 5);
    fb.get();
    CHECK(a.model->data("hits_shard_1") == 5 + 17);
}

TEST_CASE("a forked child draws op ids and writer ids of its own", "[exactly_once]") {
    const std::string parent_op = new_op_id();
    harness parent;
    test::run([&](auto&) { return parent.incr("hits", {}); });
    const std::string parent_lane(body_of(parent.fake->requests()[0]).at("ExpressionAttributeNames").at("#s").as_string());
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        std::string out = new_op_id();
        harness h;
        test::run([&](auto&) { return h.incr("hits", {}); });
        out += " " + std::string(body_of(h.fake->requests()[0]).at("ExpressionAttributeNames").at("#s").as_string());
        [[maybe_unused]] const auto n = ::write(fds[1], out.data(), out.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string got;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    ::waitpid(child, nullptr, 0);
    const auto space = got.find(' ');
    REQUIRE(space != std::string::npos);
    const std::string child_op = got.substr(0, space), child_lane = got.substr(space + 1);
    // What the parent draws next, and what the child drew, must differ.
    const std::string parent_next = new_op_id();
    CHECK(child_op != parent_next);
    CHECK(child_op != parent_op);
    harness parent2;
    test::run([&](auto&) { return parent2.incr("hits", {}); });
    CHECK(child_lane != std::string(body_of(parent2.fake->requests()[0]).at("ExpressionAttributeNames").at("#s").as_string()));
    CHECK(child_lane != parent_lane);
}
