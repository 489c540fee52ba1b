// The DynamoDB engine over a scripted transport: the exact requests each
// operation sends (envelope, signature, JSON body against the documented
// data layout), how responses are read, how service errors map to errc,
// x-amz-crc32 checking, and that an increment is never applied twice.
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"
#include "counters/counter_ops.hpp"
#include "dynamodb/dynamodb_engine.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"

#include <sds/error.hpp>
#include <sds/sigv4.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <cstdint>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::fake_transport;
namespace json = boost::json;

using sds::test::expect_error;

namespace {

constexpr const char* access_key = "AKIDEXAMPLE";
constexpr const char* secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* region = "eu-west-1";
constexpr const char* table = "tbl";

// Fast retries and polls: the behaviour is under test, not the waiting.
dynamodb_config quick_config() {
    dynamodb_config c;
    c.region = region;
    c.credentials = {access_key, secret_key, ""};
    c.retry.base_delay = 1ms;
    c.retry.throttle_base_delay = 1ms;
    c.retry.max_backoff = 5ms;
    c.table_poll_interval = 1ms;
    return c;
}

std::string aws_error_body(std::string_view code, std::string_view message) {
    return R"({"__type":"com.amazonaws.dynamodb.v20120810#)" + std::string(code) + R"(","message":")" +
           std::string(message) + R"("})";
}

struct harness {
    std::shared_ptr<fake_transport> fake = std::make_shared<fake_transport>();
    dynamodb_config config = quick_config();
    std::shared_ptr<engine> made;

    engine& db() { return *engine_ptr(); }
    std::shared_ptr<engine> engine_ptr() {
        if (!made) made = make_dynamodb_engine(std::shared_ptr<transport>(fake), config);
        return made;
    }

    // Counters are engine-neutral (src/counters/counter_ops.hpp) over the
    // engine's counter items; these run them on this engine.
    std::shared_ptr<counter_state> counters = std::make_shared<counter_state>();
    boost::asio::awaitable<std::int64_t> incr(std::string t, std::string c, incr_options o) {
        return increment_counter(engine_ptr(), counters, std::move(t), std::move(c), o);
    }
    boost::asio::awaitable<std::int64_t> count(std::string t, std::string c, read_options o) {
        return count_counter(engine_ptr(), counters, std::move(t), std::move(c), o);
    }
    boost::asio::awaitable<void> delete_counter(std::string t, std::string c, operation_options o) {
        return delete_counter_shards(engine_ptr(), counters, std::move(t), std::move(c), o);
    }

    /// A 200 with `body` and its correct x-amz-crc32, as DynamoDB sends it.
    harness& ok(std::string body) {
        const std::string crc = std::to_string(dynamodb_crc32(body));
        fake->respond(200, std::move(body), {{"x-amz-crc32", crc}, {"x-amzn-RequestId", "rid-ok"}});
        return *this;
    }

    harness& service_error(unsigned status, std::string_view code, std::string_view message) {
        fake->respond(status, aws_error_body(code, message), {{"x-amzn-RequestId", "rid-err"}});
        return *this;
    }

    harness& describe(std::string_view status) {
        return ok(R"({"Table":{"TableName":"tbl","TableStatus":")" + std::string(status) + R"("}})");
    }

    const std::vector<http_request>& requests() const { return fake->requests(); }
    const http_request& request(std::size_t i) const { return fake->requests().at(i); }
};


std::string header(const http_request& r, std::string_view name) {
    const auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string() : std::string(it->value());
}

bool has_header(const http_request& r, std::string_view name) {
    return r.find(boost::beast::string_view(name.data(), name.size())) != r.end();
}

json::value body_of(const http_request& r) { return json::parse(r.body()); }

std::string operation_of(const http_request& r) {
    const std::string target = header(r, "X-Amz-Target");
    const std::string prefix = "DynamoDB_20120810.";
    return target.rfind(prefix, 0) == 0 ? target.substr(prefix.size()) : "<" + target + ">";
}

std::vector<std::string> operations(const std::vector<http_request>& rs) {
    std::vector<std::string> ops;
    for (const auto& r : rs) ops.push_back(operation_of(r));
    return ops;
}

// "20260305T070809Z" as a time point.
std::chrono::system_clock::time_point parse_amz_date(const std::string& s) {
    using namespace std::chrono;
    REQUIRE(s.size() == 16);
    REQUIRE(s[8] == 'T');
    REQUIRE(s[15] == 'Z');
    const auto num = [&](std::size_t pos, std::size_t len) { return std::stoi(s.substr(pos, len)); };
    const year_month_day ymd{year{num(0, 4)}, month{static_cast<unsigned>(num(4, 2))},
                             day{static_cast<unsigned>(num(6, 2))}};
    REQUIRE(ymd.ok());
    return sys_days{ymd} + hours{num(9, 2)} + minutes{num(11, 2)} + seconds{num(13, 2)};
}

// Checks what every DynamoDB request carries, and that its Authorization is
// the SigV4 signature of exactly what was sent.
void check_envelope(const http_request& r, std::string_view op, const dynamodb_config& config) {
    INFO("operation " << op);
    CHECK(r.method() == http::verb::post);
    CHECK(std::string(r.target()) == "/");
    CHECK(header(r, "X-Amz-Target") == "DynamoDB_20120810." + std::string(op));
    CHECK(header(r, "Content-Type") == "application/x-amz-json-1.0");
    CHECK(header(r, "Host") == "127.0.0.1:8000");
    CHECK(header(r, "Content-Length") == std::to_string(r.body().size()));

    const std::string amz_date = header(r, "X-Amz-Date");
    REQUIRE(amz_date.size() == 16);
    const std::string date8 = amz_date.substr(0, 8);
    const std::string auth = header(r, "Authorization");
    const std::string prefix = "AWS4-HMAC-SHA256 Credential=" + config.credentials.access_key_id + "/" + date8 + "/" +
                               config.region + "/dynamodb/aws4_request";
    CHECK(auth.rfind(prefix, 0) == 0);
    const bool with_token = !config.credentials.session_token.empty();
    CHECK(has_header(r, "X-Amz-Security-Token") == with_token);
    if (with_token) CHECK(header(r, "X-Amz-Security-Token") == config.credentials.session_token);
    const std::string signed_headers = with_token ? "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
                                                  : "content-type;host;x-amz-date;x-amz-target";
    CHECK(auth.find("SignedHeaders=" + signed_headers + ",") != std::string::npos);
    // The secret never travels.
    CHECK(auth.find(config.credentials.secret_access_key) == std::string::npos);

    // Re-sign what was sent at the time the request names: the signature must match.
    const std::string host = header(r, "Host");
    const std::string content_type = header(r, "Content-Type");
    const std::string target = header(r, "X-Amz-Target");
    const sigv4::header signed_list[] = {{"Host", host}, {"Content-Type", content_type}, {"X-Amz-Target", target}};
    sigv4::signing_params params;
    params.region = config.region;
    params.service = "dynamodb";
    params.time = parse_amz_date(amz_date);
    const auto expected = sigv4::sign_headers({"POST", "/", "", signed_list, r.body()},
                                              {config.credentials.access_key_id, config.credentials.secret_access_key,
                                               config.credentials.session_token},
                                              params);
    for (const auto& f : expected.fields) CHECK(header(r, f.name) == f.value);
}

std::string shard_item(std::string_view counter, unsigned n, long long value) {
    return R"({"key":{"S":")" + std::string(counter) + "_shard_" + std::to_string(n) + R"("},"data":{"N":")" +
           std::to_string(value) + R"("}})";
}

std::string shards_item(std::string_view counter, unsigned n) {
    return R"({"key":{"S":")" + std::string(counter) + R"(_shards"},"shards":{"N":")" + std::to_string(n) + R"("}})";
}

std::string batch_get_response(const std::vector<std::string>& items, std::string unprocessed = {}) {
    std::string s = R"({"Responses":{"tbl":[)";
    for (std::size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
    s += "]}";
    s += unprocessed.empty() ? R"(,"UnprocessedKeys":{})" : R"(,"UnprocessedKeys":{"tbl":)" + unprocessed + "}";
    return s + "}";
}

// The keys of a BatchGetItem request for table "tbl", checking its shape.
std::vector<std::string> batch_get_keys(const http_request& r, bool consistent = true) {
    const json::value b = body_of(r);
    const auto& request_items = b.at("RequestItems").as_object();
    CHECK(request_items.size() == 1);
    const auto& for_table = request_items.at(table).as_object();
    CHECK(for_table.at("ConsistentRead") == json::value(consistent));
    std::vector<std::string> keys;
    for (const auto& k : for_table.at("Keys").as_array()) {
        const auto& key = k.as_object();
        CHECK(key.size() == 1);
        keys.emplace_back(key.at("key").at("S").as_string());
    }
    CHECK(b.as_object().size() == 1);
    return keys;
}

// The keys of a BatchWriteItem request of DeleteRequests for table "tbl".
std::vector<std::string> batch_delete_keys(const http_request& r) {
    const json::value b = body_of(r);
    CHECK(b.as_object().size() == 1);
    const auto& request_items = b.at("RequestItems").as_object();
    CHECK(request_items.size() == 1);
    std::vector<std::string> keys;
    for (const auto& w : request_items.at(table).as_array()) {
        CHECK(w.as_object().size() == 1);
        const auto& key = w.at("DeleteRequest").at("Key").as_object();
        CHECK(w.at("DeleteRequest").as_object().size() == 1);
        CHECK(key.size() == 1);
        keys.emplace_back(key.at("key").at("S").as_string());
    }
    return keys;
}

std::string shard_name(unsigned n) { return "hits_shard_" + std::to_string(n); }

} // namespace

// ---------------------------------------------------------------- envelope

TEST_CASE("every request is a SigV4-signed JSON 1.0 POST to the root naming its operation", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    CHECK_FALSE(v.has_value());
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "GetItem", h.config);
    CHECK(h.fake->unexpected() == 0);
}

TEST_CASE("a session token in the config is sent as X-Amz-Security-Token and signed", "[dynamodb]") {
    harness h;
    h.config.credentials.session_token = "session-token-value";
    h.ok(R"({})");
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "PutItem", h.config);
}

TEST_CASE("missing credentials are invalid_argument and nothing is sent", "[dynamodb]") {
    SECTION("no access key id") {
        harness h;
        h.config.credentials.access_key_id.clear();
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(h.requests().empty());
    }
    SECTION("no secret access key, on an increment") {
        harness h;
        h.config.credentials.secret_access_key.clear();
        const auto e = expect_error([&] {
            test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 5}); });
        });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(h.requests().empty());
    }
    SECTION("none at all, on create_table") {
        harness h;
        h.config.credentials = {};
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().create_table(table, {}); }); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(h.requests().empty());
        // The message says what to set, without any secret.
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("AWS_ACCESS_KEY_ID"));
    }
}

// ---------------------------------------------------------------- values

// The writer stamp of a PutItem: vw (this engine's 16-hex-digit writer id)
// and vq (its sequence number), with the condition that refuses a copy of an
// older write of the same writer.
void check_value_stamp(const json::value& sent, const std::string& writer, std::int64_t seq) {
    const json::object& body = sent.as_object();
    CHECK(writer.size() == 16);
    CHECK(writer.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(body.at("Item").at("vq") == json::parse(R"({"N":")" + std::to_string(seq) + R"("})"));
    CHECK(body.at("ConditionExpression") ==
          "attribute_not_exists(#w) OR #w <> :w OR NOT attribute_type(#q, :n) OR #q < :q");
    CHECK(body.at("ExpressionAttributeNames") == json::parse(R"({"#w":"vw","#q":"vq"})"));
    CHECK(body.at("ExpressionAttributeValues") ==
          json::parse(R"({":w":{"S":")" + writer + R"("},":q":{"N":")" + std::to_string(seq) + R"("},":n":{"S":"N"}})"));
}

std::string writer_of(const json::value& body) { return std::string(body.at("Item").at("vw").at("S").as_string()); }

TEST_CASE("set_data of text is a PutItem of key S and data S, stamped with the writer", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    test::run([&](auto&) { return h.db().put(table, "user:1", value{value::kind::text, "h\xC3\xA9llo"}, {}); });
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "PutItem", h.config);
    const auto body = body_of(h.request(0));
    CHECK(body.at("TableName") == "tbl");
    CHECK(body.at("Item").at("key") == json::parse(R"({"S":"user:1"})"));
    CHECK(body.at("Item").at("data") == json::parse(R"({"S":"h\u00e9llo"})"));
    CHECK(body.at("Item").as_object().size() == 4u);  // key, data, vw, vq
    check_value_stamp(body, writer_of(body), 1);
}

TEST_CASE("set_data of bytes is a PutItem of data B in base64", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    const std::string raw{'\x00', '\x01', '\xFE', '\xFF'};
    test::run([&](auto&) { return h.db().put(table, "blob", value{value::kind::binary, raw}, {}); });
    REQUIRE(h.requests().size() == 1);
    const auto body = body_of(h.request(0));
    CHECK(body.at("Item").at("key") == json::parse(R"({"S":"blob"})"));
    CHECK(body.at("Item").at("data") == json::parse(R"({"B":"AAH+/w=="})"));
    check_value_stamp(body, writer_of(body), 1);
}

TEST_CASE("each set_data of an engine has the next sequence number and the same writer id", "[dynamodb]") {
    harness h;
    h.ok(R"({})").ok(R"({})").ok(R"({})");
    for (const char* k : {"a", "b", "a"})
        test::run([&](auto&) { return h.db().put(table, k, value{value::kind::text, "v"}, {}); });
    REQUIRE(h.requests().size() == 3);
    const std::string writer = writer_of(body_of(h.request(0)));
    for (std::size_t i = 0; i < 3; ++i) check_value_stamp(body_of(h.request(i)), writer, static_cast<std::int64_t>(i) + 1);
    // Another engine is another writer.
    harness other;
    other.ok(R"({})");
    test::run([&](auto&) { return other.db().put(table, "a", value{value::kind::text, "v"}, {}); });
    CHECK(writer_of(body_of(other.request(0))) != writer);
}

TEST_CASE("a set_data whose condition fails is done: its copy or a later write of the engine holds the key",
          "[dynamodb]") {
    // The first answer is lost after the write applied; the re-send finds
    // the write in place and is refused by its condition.
    harness h;
    h.fake->fail(boost::asio::error::connection_reset, /*request_written=*/true);
    h.service_error(400, "ConditionalCheckFailedException", "The conditional request failed");
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    REQUIRE(h.requests().size() == 2);
    CHECK(h.request(0).body() == h.request(1).body());  // the same write, sent again
}

TEST_CASE("get_data is a GetItem of the key, strongly consistent by default", "[dynamodb]") {
    harness h;
    h.ok(R"({"Item":{"key":{"S":"k"},"data":{"S":"text"}}})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "GetItem", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({"TableName":"tbl","Key":{"key":{"S":"k"}},"ConsistentRead":true})"));
    REQUIRE(v.has_value());
    CHECK(v->type == value::kind::text);
    CHECK(v->data == "text");
}

TEST_CASE("a read asks for eventual consistency when the options or the config say so", "[dynamodb]") {
    SECTION("the read's option") {
        harness h;
        h.ok(R"({})");
        test::run([&](auto&) { return h.db().get(table, "k", {.consistent = false}); });
        CHECK(body_of(h.request(0)).at("ConsistentRead") == json::value(false));
    }
    SECTION("the config's default") {
        harness h;
        h.config.consistent_reads = false;
        h.ok(R"({})");
        test::run([&](auto&) { return h.db().get(table, "k", {}); });
        CHECK(body_of(h.request(0)).at("ConsistentRead") == json::value(false));
    }
    SECTION("the read's option over the config") {
        harness h;
        h.config.consistent_reads = false;
        h.ok(R"({})");
        test::run([&](auto&) { return h.db().get(table, "k", {.consistent = true}); });
        CHECK(body_of(h.request(0)).at("ConsistentRead") == json::value(true));
    }
}

TEST_CASE("a GetItem answer of data B gives the decoded bytes as a binary value", "[dynamodb]") {
    harness h;
    h.ok(R"({"Item":{"key":{"S":"blob"},"data":{"B":"AAH+/w=="}}})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "blob", {}); });
    REQUIRE(v.has_value());
    CHECK(v->is_binary());
    CHECK(v->data == std::string{'\x00', '\x01', '\xFE', '\xFF'});
}

TEST_CASE("a GetItem answer without Item is no value", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "missing", {}); });
    CHECK_FALSE(v.has_value());
}

TEST_CASE("a GetItem answer whose bytes are not base64 is a protocol_error", "[dynamodb]") {
    harness h;
    h.ok(R"({"Item":{"key":{"S":"blob"},"data":{"B":"*not base64*"}}})");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "blob", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
}

TEST_CASE("a 200 whose body is not JSON is a protocol_error", "[dynamodb]") {
    harness h;
    h.ok(std::string("<html>proxy</html>"));
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
}

TEST_CASE("delete_data is a DeleteItem of the key", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    test::run([&](auto&) { return h.db().remove(table, "k", {}); });
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "DeleteItem", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({"TableName":"tbl","Key":{"key":{"S":"k"}}})"));
}

// ---------------------------------------------------------------- counters

TEST_CASE("without exactly_once, incr is an UpdateItem ADD on shard 1 returning UPDATED_NEW, and gives the new value", "[dynamodb]") {
    harness h;
    h.ok(R"({"Attributes":{"data":{"N":"42"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false}); });
    CHECK(n == 42);
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "UpdateItem", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({
        "TableName":"tbl",
        "Key":{"key":{"S":"hits_shard_1"}},
        "UpdateExpression":"ADD #d :a",
        "ExpressionAttributeNames":{"#d":"data"},
        "ExpressionAttributeValues":{":a":{"N":"1"}},
        "ReturnValues":"UPDATED_NEW"})"));
}

TEST_CASE("incr sends the amount as given, negative and large ones included", "[dynamodb]") {
    harness h;
    h.ok(R"({"Attributes":{"data":{"N":"-3"}}})");
    h.ok(R"({"Attributes":{"data":{"N":"9007199254740988"}}})");
    const auto a = test::run([&](auto&) { return h.incr(table, "hits", {.amount = -3, .exactly_once = false}); });
    const auto b = test::run([&](auto&) { return h.incr(table, "hits", {.amount = 9007199254740991, .exactly_once = false}); });
    CHECK(a == -3);
    CHECK(b == 9007199254740988);
    REQUIRE(h.requests().size() == 2);
    CHECK(body_of(h.request(0)).at("ExpressionAttributeValues") == json::parse(R"({":a":{"N":"-3"}})"));
    CHECK(body_of(h.request(1)).at("ExpressionAttributeValues") == json::parse(R"({":a":{"N":"9007199254740991"}})"));
}

// The service answered 200: the increment was applied, whatever the body says.
TEST_CASE("without exactly_once, an UpdateItem answered 200 without the updated number, or with a body that is not JSON, is ambiguous",
          "[dynamodb]") {
    for (const char* body : {R"({})", R"({"Attributes":{}})", "not json"}) {
        INFO(body);
        harness h;
        h.ok(body);
        const auto e = expect_error([&] { test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false}); }); });
        CHECK(e.condition() == errc::ambiguous);
        CHECK(h.requests().size() == 1);
    }
}

TEST_CASE("a sharded incr records the shard count conditionally before it adds to a shard in range", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    h.ok(R"({"Attributes":{"data":{"N":"1"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 10, .exactly_once = false}); });
    CHECK(n == 1);
    REQUIRE(h.requests().size() == 2);
    check_envelope(h.request(0), "UpdateItem", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({
        "TableName":"tbl",
        "Key":{"key":{"S":"hits_shards"}},
        "UpdateExpression":"SET #s = :n",
        "ConditionExpression":"attribute_not_exists(#s) OR #s < :n",
        "ExpressionAttributeNames":{"#s":"shards"},
        "ExpressionAttributeValues":{":n":{"N":"10"}}})"));

    check_envelope(h.request(1), "UpdateItem", h.config);
    const json::value add = body_of(h.request(1));
    CHECK(add.at("UpdateExpression") == "ADD #d :a");
    const std::string key(add.at("Key").at("key").at("S").as_string());
    std::set<std::string> allowed;
    for (unsigned i = 1; i <= 10; ++i) allowed.insert(shard_name(i));
    CHECK(allowed.count(key) == 1);
}

TEST_CASE("a shard count already recorded by this engine is not written again", "[dynamodb]") {
    harness h;
    h.ok(R"({})");
    for (int i = 0; i < 3; ++i) h.ok(R"({"Attributes":{"data":{"N":"1"}}})");
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 10, .exactly_once = false}); });
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 10, .exactly_once = false}); });
    // A smaller count uses the first shards and needs no write either.
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 4, .exactly_once = false}); });
    REQUIRE(h.requests().size() == 4);
    for (std::size_t i = 1; i < 4; ++i) CHECK(body_of(h.request(i)).at("UpdateExpression") == "ADD #d :a");
    const std::string last(body_of(h.request(3)).at("Key").at("key").at("S").as_string());
    std::set<std::string> first_four;
    for (unsigned i = 1; i <= 4; ++i) first_four.insert(shard_name(i));
    CHECK(first_four.count(last) == 1);
}

TEST_CASE("a shard count write that loses its condition is not an error", "[dynamodb]") {
    harness h;
    h.service_error(400, "ConditionalCheckFailedException", "The conditional request failed");
    h.ok(R"({"Attributes":{"data":{"N":"7"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 3, .exactly_once = false}); });
    CHECK(n == 7);
    REQUIRE(h.requests().size() == 2);
    CHECK(body_of(h.request(1)).at("UpdateExpression") == "ADD #d :a");
}

TEST_CASE("get_count of an unsharded counter reads the shard count and shard 1 in one BatchGetItem", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shard_item("hits", 1, 7)}));
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(n == 7);  // no shard-count item: one shard
    REQUIRE(h.requests().size() == 1);
    check_envelope(h.request(0), "BatchGetItem", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({"RequestItems":{"tbl":{
        "Keys":[{"key":{"S":"hits_shards"}},{"key":{"S":"hits_shard_1"}}],
        "ConsistentRead":true,
        "ProjectionExpression":"#k, #d, #n",
        "ExpressionAttributeNames":{"#k":"key","#d":"data","#n":"shards"}}}})"));
}

TEST_CASE("get_count of a counter that does not exist is 0", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({}));
    const auto n = test::run([&](auto&) { return h.count(table, "nothing", {}); });
    CHECK(n == 0);
    CHECK(h.requests().size() == 1);
}

TEST_CASE("get_count reads the shards beyond the first round and counts a missing shard as 0", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 3), shard_item("hits", 1, 5)}));
    h.ok(batch_get_response({shard_item("hits", 2, 11)}));  // shard 3 never incremented
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(n == 16);
    REQUIRE(h.requests().size() == 2);
    CHECK(batch_get_keys(h.request(1)) == std::vector<std::string>{shard_name(2), shard_name(3)});
}

TEST_CASE("get_count honours an eventually consistent read", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shard_item("hits", 1, 2)}));
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {.consistent = false}); });
    CHECK(n == 2);
    REQUIRE(h.requests().size() == 1);
    batch_get_keys(h.request(0), false);
}

TEST_CASE("get_count of 1000 shards reads them 100 keys per BatchGetItem, 10 requests after the first round",
          "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 1000), shard_item("hits", 1, 1)}));
    // The chunks run concurrently, so any answer may meet any request: every
    // answer carries a tenth of the shards, shard i holding i, shard 500 missing.
    for (unsigned part = 0; part < 10; ++part) {
        std::vector<std::string> items;
        for (unsigned i = 2; i <= 1000; ++i)
            if (i % 10 == part && i != 500) items.push_back(shard_item("hits", i, i));
        h.ok(batch_get_response(items));
    }
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(n == 500500 - 500);
    REQUIRE(h.requests().size() == 11);
    CHECK(h.fake->unexpected() == 0);

    std::multiset<std::string> asked;
    for (std::size_t i = 1; i < h.requests().size(); ++i) {
        check_envelope(h.request(i), "BatchGetItem", h.config);
        const auto keys = batch_get_keys(h.request(i));
        CHECK(keys.size() <= 100);
        CHECK_FALSE(keys.empty());
        asked.insert(keys.begin(), keys.end());
    }
    std::multiset<std::string> expected;
    for (unsigned i = 2; i <= 1000; ++i) expected.insert(shard_name(i));
    CHECK(asked == expected);
}

TEST_CASE("the shard count learnt by get_count is read with the shards in the next first round", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 3)}));
    h.ok(batch_get_response({}));
    h.ok(batch_get_response({shards_item("hits", 3), shard_item("hits", 3, 4)}));
    test::run([&](auto&) { return h.count(table, "hits", {}); });
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(n == 4);
    REQUIRE(h.requests().size() == 3);
    CHECK(batch_get_keys(h.request(2)) ==
          std::vector<std::string>{"hits_shards", shard_name(1), shard_name(2), shard_name(3)});
}

TEST_CASE("UnprocessedKeys are re-requested, only those, until none are left", "[dynamodb]") {
    harness h;
    // First round: the shard count arrives, shard 1 is left unprocessed.
    h.ok(batch_get_response({shards_item("hits", 2)}, R"({"Keys":[{"key":{"S":"hits_shard_1"}}],"ConsistentRead":true})"));
    h.ok(batch_get_response({shard_item("hits", 1, 3)}));
    // Second round, shard 2: unprocessed once, then read.
    h.ok(batch_get_response({}, R"({"Keys":[{"key":{"S":"hits_shard_2"}}]})"));
    h.ok(batch_get_response({shard_item("hits", 2, 4)}));
    const auto n = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(n == 7);
    REQUIRE(h.requests().size() == 4);
    CHECK(batch_get_keys(h.request(0)) == std::vector<std::string>{"hits_shards", shard_name(1)});
    CHECK(batch_get_keys(h.request(1)) == std::vector<std::string>{shard_name(1)});
    CHECK(batch_get_keys(h.request(2)) == std::vector<std::string>{shard_name(2)});
    CHECK(batch_get_keys(h.request(3)) == std::vector<std::string>{shard_name(2)});
    CHECK(h.fake->unexpected() == 0);
}

TEST_CASE("UnprocessedKeys that never clear end in throttled", "[dynamodb]") {
    harness h;
    for (int i = 0; i < 10; ++i)
        h.ok(batch_get_response({}, R"({"Keys":[{"key":{"S":"hits_shard_1"}}]})"));
    const auto e = expect_error([&] { test::run([&](auto&) { return h.count(table, "hits", {}); }); });
    CHECK(e.condition() == errc::throttled);
    CHECK(h.requests().size() == 10);
    CHECK(h.fake->unexpected() == 0);
}

// The shard count item stays: it only ever grows, so a writer elsewhere that
// recorded it before using its shards is never left with unrecorded shards.
TEST_CASE("delete_counter deletes the shards 25 per BatchWriteItem and keeps the shard count", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 60)}));
    for (int i = 0; i < 3; ++i) h.ok(R"({"UnprocessedItems":{}})");
    test::run([&](auto&) { return h.delete_counter(table, "hits", {}); });
    REQUIRE(h.requests().size() == 4);
    CHECK(h.fake->unexpected() == 0);

    check_envelope(h.request(0), "BatchGetItem", h.config);
    CHECK(batch_get_keys(h.request(0), /*consistent=*/true) == std::vector<std::string>{"hits_shards"});

    std::multiset<std::string> deleted;
    for (std::size_t i = 1; i < 4; ++i) {
        check_envelope(h.request(i), "BatchWriteItem", h.config);
        const auto keys = batch_delete_keys(h.request(i));
        CHECK(keys.size() <= 25);
        deleted.insert(keys.begin(), keys.end());
    }
    std::multiset<std::string> expected;
    for (unsigned i = 1; i <= 60; ++i) expected.insert(shard_name(i));
    CHECK(deleted == expected);
    CHECK(deleted.count("hits_shards") == 0);
}

TEST_CASE("delete_counter of a counter without a shard count deletes shard 1", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({}));
    h.ok(R"({})");
    test::run([&](auto&) { return h.delete_counter(table, "hits", {}); });
    REQUIRE(h.requests().size() == 2);
    CHECK(batch_delete_keys(h.request(1)) == std::vector<std::string>{shard_name(1)});
}

TEST_CASE("UnprocessedItems of a BatchWriteItem are re-sent, only those, until done", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 3)}));
    h.ok(R"({"UnprocessedItems":{"tbl":[{"DeleteRequest":{"Key":{"key":{"S":"hits_shard_2"}}}}]}})");
    h.ok(R"({"UnprocessedItems":{}})");
    test::run([&](auto&) { return h.delete_counter(table, "hits", {}); });
    REQUIRE(h.requests().size() == 3);
    CHECK(batch_delete_keys(h.request(1)) == std::vector<std::string>{shard_name(1), shard_name(2), shard_name(3)});
    CHECK(batch_delete_keys(h.request(2)) == std::vector<std::string>{shard_name(2)});
}

// ---------------------------------------------------------------- tables

TEST_CASE("create_table sends the key schema and the default throughput, then polls DescribeTable until ACTIVE",
          "[dynamodb]") {
    harness h;
    h.ok(R"({"TableDescription":{"TableName":"tbl","TableStatus":"CREATING"}})");
    h.describe("CREATING").describe("CREATING").describe("ACTIVE");
    test::run([&](auto&) { return h.db().create_table(table, {}); });
    REQUIRE(h.requests().size() == 4);
    CHECK(operations(h.requests()) ==
          std::vector<std::string>{"CreateTable", "DescribeTable", "DescribeTable", "DescribeTable"});
    check_envelope(h.request(0), "CreateTable", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({
        "TableName":"tbl",
        "AttributeDefinitions":[{"AttributeName":"key","AttributeType":"S"}],
        "KeySchema":[{"AttributeName":"key","KeyType":"HASH"}],
        "ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}})"));
    for (std::size_t i = 1; i < 4; ++i) {
        check_envelope(h.request(i), "DescribeTable", h.config);
        CHECK(body_of(h.request(i)) == json::parse(R"({"TableName":"tbl"})"));
    }
}

TEST_CASE("create_table sends the throughput asked for, or PAY_PER_REQUEST on demand", "[dynamodb]") {
    SECTION("provisioned") {
        harness h;
        h.ok(R"({})").describe("ACTIVE");
        test::run([&](auto&) { return h.db().create_table(table, {.read = 20, .write = 10}); });
        REQUIRE(h.requests().size() == 2);
        CHECK(body_of(h.request(0)).at("ProvisionedThroughput") ==
              json::parse(R"({"ReadCapacityUnits":20,"WriteCapacityUnits":10})"));
        CHECK_FALSE(body_of(h.request(0)).as_object().contains("BillingMode"));
    }
    SECTION("the config's defaults") {
        harness h;
        h.config.default_read = 3;
        h.config.default_write = 7;
        h.ok(R"({})").describe("ACTIVE");
        test::run([&](auto&) { return h.db().create_table(table, {}); });
        CHECK(body_of(h.request(0)).at("ProvisionedThroughput") ==
              json::parse(R"({"ReadCapacityUnits":3,"WriteCapacityUnits":7})"));
    }
    SECTION("on demand") {
        harness h;
        h.ok(R"({})").describe("ACTIVE");
        test::run([&](auto&) { return h.db().create_table(table, {.on_demand = true}); });
        const json::value b = body_of(h.request(0));
        CHECK(b.at("BillingMode") == "PAY_PER_REQUEST");
        CHECK_FALSE(b.as_object().contains("ProvisionedThroughput"));
    }
}

TEST_CASE("create_table of a table that exists is not an error and waits until it is ACTIVE", "[dynamodb]") {
    harness h;
    h.service_error(400, "ResourceInUseException", "Table already exists: tbl");
    h.describe("CREATING").describe("CREATING").describe("ACTIVE");
    test::run([&](auto&) { return h.db().create_table(table, {}); });
    CHECK(operations(h.requests()) ==
          std::vector<std::string>{"CreateTable", "DescribeTable", "DescribeTable", "DescribeTable"});
    CHECK(h.fake->remaining() == 0);
}

TEST_CASE("create_table refused with a ValidationException is a service_error and polls nothing", "[dynamodb]") {
    harness h;
    h.service_error(400, "ValidationException", "1 validation error detected");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().create_table(table, {}); }); });
    CHECK(e.condition() == errc::service_error);
    CHECK(e.diag().service_code == "ValidationException");
    CHECK(e.diag().service_message == "1 validation error detected");
    CHECK(h.requests().size() == 1);
}

TEST_CASE("delete_table sends DeleteTable and polls DescribeTable until the table is not found", "[dynamodb]") {
    harness h;
    h.ok(R"({"TableDescription":{"TableName":"tbl","TableStatus":"DELETING"}})");
    h.describe("DELETING").describe("DELETING");
    h.service_error(400, "ResourceNotFoundException", "Requested resource not found: Table: tbl not found");
    test::run([&](auto&) { return h.db().delete_table(table, {}); });
    CHECK(operations(h.requests()) ==
          std::vector<std::string>{"DeleteTable", "DescribeTable", "DescribeTable", "DescribeTable"});
    check_envelope(h.request(0), "DeleteTable", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({"TableName":"tbl"})"));
    CHECK(h.fake->remaining() == 0);
}

TEST_CASE("delete_table of a table that does not exist is table_not_found", "[dynamodb]") {
    harness h;
    h.service_error(400, "ResourceNotFoundException", "Requested resource not found");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().delete_table(table, {}); }); });
    CHECK(e.condition() == errc::table_not_found);
    CHECK(h.requests().size() == 1);
}

TEST_CASE("list_tables follows LastEvaluatedTableName and returns every name sorted", "[dynamodb]") {
    harness h;
    h.ok(R"({"TableNames":["zeta","alpha"],"LastEvaluatedTableName":"zeta"})");
    h.ok(R"({"TableNames":["beta"]})");
    const auto names = test::run([&](auto&) { return h.db().list_tables({}); });
    CHECK(names == std::vector<std::string>{"alpha", "beta", "zeta"});
    REQUIRE(h.requests().size() == 2);
    check_envelope(h.request(0), "ListTables", h.config);
    CHECK(body_of(h.request(0)) == json::parse(R"({"Limit":100})"));
    CHECK(body_of(h.request(1)) == json::parse(R"({"Limit":100,"ExclusiveStartTableName":"zeta"})"));
}

const std::string provisioned_5_5 =
    R"({"Table":{"TableName":"tbl","TableStatus":"ACTIVE","ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":5}}})";

TEST_CASE("update_throughput looks at the table, sends UpdateTable and waits until the table is ACTIVE", "[dynamodb]") {
    harness h;
    h.ok(provisioned_5_5).ok(R"({})").describe("UPDATING").describe("ACTIVE");
    test::run([&](auto&) { return h.db().update_throughput(table, 15, 25, {}); });
    CHECK(operations(h.requests()) ==
          std::vector<std::string>{"DescribeTable", "UpdateTable", "DescribeTable", "DescribeTable"});
    check_envelope(h.request(1), "UpdateTable", h.config);
    CHECK(body_of(h.request(1)) ==
          json::parse(R"({"TableName":"tbl","ProvisionedThroughput":{"ReadCapacityUnits":15,"WriteCapacityUnits":25}})"));
}

TEST_CASE("update_throughput to the current capacity changes nothing and sends no UpdateTable", "[dynamodb]") {
    harness h;
    h.ok(provisioned_5_5);
    test::run([&](auto&) { return h.db().update_throughput(table, 5, 5, {}); });
    CHECK(operations(h.requests()) == std::vector<std::string>{"DescribeTable"});
}

TEST_CASE("update_throughput of an on-demand table is invalid_argument", "[dynamodb]") {
    harness h;
    h.ok(R"({"Table":{"TableName":"tbl","TableStatus":"ACTIVE","BillingModeSummary":{"BillingMode":"PAY_PER_REQUEST"}}})");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().update_throughput(table, 5, 5, {}); }); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(operations(h.requests()) == std::vector<std::string>{"DescribeTable"});
}

TEST_CASE("create_table of a table being deleted creates it again once it is gone", "[dynamodb]") {
    harness h;
    h.service_error(400, "ResourceInUseException", "Table is being deleted");
    h.describe("DELETING");
    h.service_error(400, "ResourceNotFoundException", "Requested resource not found");
    h.ok(R"({"TableDescription":{"TableName":"tbl","TableStatus":"CREATING"}})").describe("ACTIVE");
    test::run([&](auto&) { return h.db().create_table(table, {}); });
    CHECK(operations(h.requests()) ==
          std::vector<std::string>{"CreateTable", "DescribeTable", "DescribeTable", "CreateTable", "DescribeTable"});
}

TEST_CASE("an item that holds no value, such as a counter's shard count, reads as no value", "[dynamodb]") {
    harness h;
    h.ok(R"({"Item":{"key":{"S":"hits_shards"},"shards":{"N":"10"}}})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "hits_shards", {}); });
    CHECK_FALSE(v);
}

TEST_CASE("get_count counts every shard it read, also beyond a shard count that was lost", "[dynamodb]") {
    harness h;
    // This process recorded 3 shards (the conditional write succeeds) and
    // incremented; then the table lost its shard count item.
    h.ok(R"({})").ok(R"({"Attributes":{"data":{"N":"1"}}})");
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 3}); });
    h.ok(R"({"Responses":{"tbl":[{"key":{"S":"hits_shard_1"},"data":{"N":"4"}},{"key":{"S":"hits_shard_3"},"data":{"N":"5"}}]}})");
    const auto total = test::run([&](auto&) { return h.count(table, "hits", {}); });
    CHECK(total == 9);
}

TEST_CASE("a sharded incr records the shard count once, not on every increment", "[dynamodb]") {
    harness h;
    h.ok(R"({})").ok(R"({"Attributes":{"data":{"N":"1"}}})").ok(R"({"Attributes":{"data":{"N":"1"}}})");
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 4, .exactly_once = false}); });
    test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 4, .exactly_once = false}); });
    CHECK(operations(h.requests()) == std::vector<std::string>{"UpdateItem", "UpdateItem", "UpdateItem"});
    CHECK(body_of(h.request(0)).as_object().at("UpdateExpression") == "SET #s = :n");
    CHECK(body_of(h.request(2)).as_object().at("UpdateExpression") == "ADD #d :a");
}

// A get_count taught this engine that 10 shards are recorded; increments
// with a smaller shard_count then record "at least 5", which the service
// answers with a lost condition. That answer proves the record as well as a
// success does: it is not written again.
TEST_CASE("a smaller shard count than one recorded elsewhere is written once, not on every increment", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 10)}));
    h.ok(batch_get_response({}));
    h.service_error(400, "ConditionalCheckFailedException", "The conditional request failed");
    for (int i = 0; i < 3; ++i) h.ok(R"({"Attributes":{"data":{"N":"1"}}})");
    test::run([&](auto&) { return h.count(table, "hits", {}); });
    for (int i = 0; i < 3; ++i) test::run([&](auto&) { return h.incr(table, "hits", {.shard_count = 5}); });
    const auto ops = operations(h.requests());
    CHECK(ops == std::vector<std::string>{"BatchGetItem", "BatchGetItem", "UpdateItem", "UpdateItem", "UpdateItem",
                                          "UpdateItem"});
    CHECK(h.fake->unexpected() == 0);
    std::size_t records = 0;
    for (const auto& r : h.requests())
        if (operation_of(r) == "UpdateItem" && body_of(r).at("UpdateExpression") == "SET #s = :n") ++records;
    CHECK(records == 1);
}

// ---------------------------------------------------------------- cancellation

namespace {

// Runs `op()` and cancels it (terminal) after `after`; returns what it threw.
template <class Op>
sds::error cancelled_after(std::chrono::milliseconds after, Op op) {
    boost::asio::io_context io;
    boost::asio::cancellation_signal signal;
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { co_await op(); },
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                              error = e;
                              done = true;
                          }));
    boost::asio::steady_timer later(io, after);
    later.async_wait([&](auto) {
        if (!done) signal.emit(boost::asio::cancellation_type::terminal);
    });
    io.run();
    REQUIRE(done);
    REQUIRE(error);
    return expect_error([&] { std::rethrow_exception(error); });
}

} // namespace

TEST_CASE("cancelling delete_table while it waits for the table to go is cancelled, as an sds::error", "[dynamodb]") {
    harness h;
    h.config.table_poll_interval = 50ms;
    h.ok(R"({"TableDescription":{"TableName":"tbl","TableStatus":"DELETING"}})");
    for (int i = 0; i < 100; ++i) h.describe("DELETING");
    const auto e = cancelled_after(150ms, [&] { return h.db().delete_table(table, {}); });
    CHECK(e.condition() == errc::cancelled);
    CHECK(h.requests().size() < 10);
}

TEST_CASE("cancelling get_count while it waits to re-request unprocessed keys is cancelled, as an sds::error",
          "[dynamodb]") {
    harness h;
    h.config.retry.throttle_base_delay = 10s;
    h.config.retry.max_backoff = 10s;
    for (int i = 0; i < 10; ++i) h.ok(batch_get_response({}, R"({"Keys":[{"key":{"S":"hits_shard_1"}}]})"));
    // The jittered wait may be short: cancel after the first request, while
    // one of the waits is (almost certainly) running.
    const auto e = cancelled_after(100ms, [&] { return h.count(table, "hits", {}); });
    CHECK(e.condition() == errc::cancelled);
}

// ---------------------------------------------------------------- errors

TEST_CASE("ResourceNotFoundException is table_not_found with the service's message", "[dynamodb]") {
    harness h;
    h.service_error(400, "ResourceNotFoundException", "Requested resource not found");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::table_not_found);
    CHECK(e.diag().http_status == 400);
    CHECK(e.diag().service_code == "ResourceNotFoundException");
    CHECK(e.diag().service_message == "Requested resource not found");
    CHECK(e.diag().request_id == "rid-err");
    CHECK(e.diag().attempts == 1);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("Requested resource not found"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("tbl"));
    CHECK(h.requests().size() == 1);
}

TEST_CASE("credentials the service refuses are auth_failed, without a retry", "[dynamodb]") {
    SECTION("UnrecognizedClientException") {
        harness h;
        h.service_error(400, "UnrecognizedClientException", "The security token included in the request is invalid.");
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
        CHECK(e.condition() == errc::auth_failed);
        CHECK(e.diag().service_code == "UnrecognizedClientException");
        CHECK(h.requests().size() == 1);
    }
    SECTION("InvalidSignatureException") {
        harness h;
        h.service_error(400, "InvalidSignatureException", "The request signature we calculated does not match");
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().remove(table, "k", {}); }); });
        CHECK(e.condition() == errc::auth_failed);
        CHECK(h.requests().size() == 1);
        // The secret is not in the message.
        CHECK(std::string(e.what()).find(secret_key) == std::string::npos);
    }
    SECTION("a bare 403") {
        harness h;
        h.fake->respond(403, "");
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
        CHECK(e.condition() == errc::auth_failed);
        CHECK(e.diag().http_status == 403);
        CHECK(h.requests().size() == 1);
    }
}

TEST_CASE("a ValidationException is a service_error, not retried", "[dynamodb]") {
    harness h;
    h.service_error(400, "ValidationException", "One or more parameter values were invalid");
    const auto e = expect_error([&] {
        test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    });
    CHECK(e.condition() == errc::service_error);
    CHECK(e.diag().service_message == "One or more parameter values were invalid");
    CHECK(h.requests().size() == 1);
}

TEST_CASE("throttling is retried until the service answers", "[dynamodb]") {
    harness h;
    h.service_error(400, "ProvisionedThroughputExceededException", "slow down");
    h.ok(R"({"Attributes":{"data":{"N":"2"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {}); });
    CHECK(n == 2);
    CHECK(h.requests().size() == 2);
}

// ---------------------------------------------------------------- x-amz-crc32

TEST_CASE("dynamodb_crc32 is the IEEE CRC32 of the body", "[dynamodb]") {
    CHECK(dynamodb_crc32("") == 0u);
    CHECK(dynamodb_crc32("123456789") == 0xCBF43926u);
    CHECK(dynamodb_crc32("{}") == 2745614147u);
}

TEST_CASE("a response whose x-amz-crc32 matches is accepted", "[dynamodb]") {
    harness h;
    const std::string body = R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})";
    h.fake->respond(200, body, {{"x-amz-crc32", std::to_string(dynamodb_crc32(body))}});
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(v.has_value());
    CHECK(v->data == "v");
    CHECK(h.requests().size() == 1);
}

TEST_CASE("a response without x-amz-crc32 is accepted", "[dynamodb]") {
    harness h;
    h.fake->respond(200, R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(v.has_value());
    CHECK(h.requests().size() == 1);
}

TEST_CASE("a response whose x-amz-crc32 does not match is retried", "[dynamodb]") {
    harness h;
    const std::string body = R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})";
    const std::string good = std::to_string(dynamodb_crc32(body));
    const std::string bad = std::to_string(dynamodb_crc32(body) ^ 1u);
    h.fake->respond(200, body, {{"x-amz-crc32", bad}});
    h.fake->respond(200, body, {{"x-amz-crc32", good}});
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(v.has_value());
    CHECK(v->data == "v");
    CHECK(h.requests().size() == 2);
}

TEST_CASE("a response whose x-amz-crc32 stays wrong is a protocol_error after every attempt", "[dynamodb]") {
    harness h;
    const std::string body = R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})";
    for (int i = 0; i < 4; ++i) h.fake->respond(200, body, {{"x-amz-crc32", "12345"}});
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
    CHECK(e.diag().attempts == 4);
    CHECK(h.requests().size() == 4);
}

TEST_CASE("an x-amz-crc32 that is not a number counts as a mismatch", "[dynamodb]") {
    harness h;
    h.config.retry.max_attempts = 1;
    h.fake->respond(200, R"({})", {{"x-amz-crc32", "not-a-number"}});
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
}

// ---------------------------------------------------------------- never twice

TEST_CASE("without exactly_once, an increment whose connection broke after it was written is ambiguous and sent once", "[dynamodb]") {
    harness h;
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.ok(R"({"Attributes":{"data":{"N":"1"}}})");  // must not be used
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false}); }); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK(e.diag().attempts == 1);
    CHECK(h.requests().size() == 1);
    CHECK(h.fake->remaining() == 1);
}

TEST_CASE("without exactly_once, an increment answered with a 500 is ambiguous and sent once", "[dynamodb]") {
    harness h;
    h.service_error(500, "InternalServerError", "Internal server error");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false}); }); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK(h.requests().size() == 1);
}

TEST_CASE("without exactly_once, an increment whose answer fails its checksum is ambiguous and sent once", "[dynamodb]") {
    harness h;
    h.fake->respond(200, R"({"Attributes":{"data":{"N":"1"}}})", {{"x-amz-crc32", "1"}});
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false}); }); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK(h.requests().size() == 1);
}

TEST_CASE("with retry_ambiguous an increment whose connection broke is re-sent and succeeds", "[dynamodb]") {
    harness h;
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.ok(R"({"Attributes":{"data":{"N":"5"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {.exactly_once = false, .retry_ambiguous = true}); });
    CHECK(n == 5);
    REQUIRE(h.requests().size() == 2);
    CHECK(body_of(h.request(0)) == body_of(h.request(1)));
    check_envelope(h.request(1), "UpdateItem", h.config);
}

TEST_CASE("an increment that failed before anything was written is retried", "[dynamodb]") {
    harness h;
    h.fake->fail(boost::asio::error::connection_refused, false);
    h.ok(R"({"Attributes":{"data":{"N":"1"}}})");
    const auto n = test::run([&](auto&) { return h.incr(table, "hits", {}); });
    CHECK(n == 1);
    REQUIRE(h.requests().size() == 2);
    CHECK(body_of(h.request(0)) == body_of(h.request(1)));
}

TEST_CASE("a read whose connection broke after it was written is retried", "[dynamodb]") {
    harness h;
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.ok(R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})");
    const auto v = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(v.has_value());
    CHECK(v->data == "v");
    CHECK(h.requests().size() == 2);
}

TEST_CASE("a connection that keeps failing is a network_error after max_attempts", "[dynamodb]") {
    harness h;
    for (int i = 0; i < 4; ++i) h.fake->fail(boost::asio::error::connection_refused, false);
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::network_error);
    CHECK(e.diag().attempts == 4);
    CHECK(h.requests().size() == 4);
}

// ---------------------------------------------------------------- limits and deadlines

TEST_CASE("a shard count out of range is a protocol_error", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 0)}));
    const auto e = expect_error([&] { test::run([&](auto&) { return h.count(table, "hits", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
}

TEST_CASE("a counter total that overflows 64 bits is a protocol_error, not a wrapped number", "[dynamodb]") {
    harness h;
    h.ok(batch_get_response({shards_item("hits", 2), shard_item("hits", 1, INT64_MAX)}));
    h.ok(batch_get_response({shard_item("hits", 2, 1)}));
    const auto e = expect_error([&] { test::run([&](auto&) { return h.count(table, "hits", {}); }); });
    CHECK(e.condition() == errc::protocol_error);
}

TEST_CASE("a table that never becomes ACTIVE ends create_table with timeout", "[dynamodb]") {
    harness h;
    h.config.table_wait_timeout = 5ms;
    h.ok(R"({})");
    for (int i = 0; i < 5000; ++i) h.describe("CREATING");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().create_table(table, {}); }); });
    CHECK(e.condition() == errc::timeout);
    CHECK(h.fake->unexpected() == 0);
    const auto ops = operations(h.requests());
    CHECK(std::count(ops.begin(), ops.end(), "CreateTable") == 1);
}

TEST_CASE("an operation's timeout ends an attempt that does not answer with errc::timeout", "[dynamodb]") {
    harness h;
    h.fake->respond(200, R"({})", {}, 60000ms);
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {.timeout = 20ms}); }); });
    CHECK(e.condition() == errc::timeout);
    CHECK(h.requests().size() == 1);
}

// On DeleteTable (and UpdateTable) DynamoDB sends ResourceInUseException for
// a table that is busy (CREATING, UPDATING, DELETING), not one that exists.
TEST_CASE("delete_table of a table still being created is not reported as already_exists",
          "[dynamodb]") {
    harness h;
    h.service_error(400, "ResourceInUseException", "Attempt to change a resource which is still in use: Table tbl");
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().delete_table(table, {}); }); });
    CHECK(e.condition() == errc::service_error);
    CHECK(e.diag().service_code == "ResourceInUseException");
}

// The first burst of a sharded counter: every caller needs the shard count
// recorded, and they share the write instead of each sending one.
TEST_CASE("concurrent first increments of a sharded counter share the shard-count record", "[dynamodb]") {
    harness h;
    std::size_t records = 0;
    h.fake->answer_with([&](const http_request& r) {
        const auto body = body_of(r).as_object();
        if (body.at("UpdateExpression") == "SET #s = :n") {
            ++records;
            return fake_transport::response(200, "{}", {{"x-amz-crc32", std::to_string(dynamodb_crc32("{}"))}});
        }
        const std::string answer = R"({"Attributes":{"data":{"N":"1"}}})";
        return fake_transport::response(200, answer, {{"x-amz-crc32", std::to_string(dynamodb_crc32(answer))}});
    });
    h.fake->respond(200, "{}", {{"x-amz-crc32", std::to_string(dynamodb_crc32("{}"))}}, 20ms);  // the first record is slow
    test::run([&](auto&) -> boost::asio::awaitable<void> {
        auto ex = co_await boost::asio::this_coro::executor;
        std::vector<std::future<std::int64_t>> done;
        for (int i = 0; i < 50; ++i)
            done.push_back(boost::asio::co_spawn(ex, h.incr(table, "hits", {.shard_count = 4}), boost::asio::use_future));
        for (auto& f : done)
            while (f.wait_for(0s) != std::future_status::ready) {
                boost::asio::steady_timer tick(ex, 1ms);
                co_await tick.async_wait(boost::asio::use_awaitable);
            }
    });
    // The first caller's record, then at most one more for all those that
    // came while it was in flight; and every increment's own ADD.
    std::size_t sets = 0, adds = 0;
    for (const auto& r : h.requests()) {
        const auto expression = body_of(r).at("UpdateExpression");
        (expression == "SET #s = :n" ? sets : adds)++;
    }
    CHECK(sets >= 1);
    CHECK(sets <= 2);
    CHECK(records == sets - 1);
    CHECK(adds >= 1);
}

TEST_CASE("concurrent increments of one counter share requests, and with combine off each sends its own", "[dynamodb]") {
    for (const bool combine : {true, false}) {
        harness h;
        std::int64_t stored = 0;
        h.fake->answer_with([&](const http_request& r) {
            // The service's ADD: the stored value grows by the request's amount.
            const auto body = body_of(r).as_object();
            stored += std::stoll(std::string(body.at("ExpressionAttributeValues").at(":a").at("N").as_string()));
            const std::string answer = R"({"Attributes":{"data":{"N":")" + std::to_string(stored) + R"("}}})";
            auto step = fake_transport::response(200, answer, {{"x-amz-crc32", std::to_string(dynamodb_crc32(answer))}});
            step.delay = 5ms;  // long enough for the others to arrive meanwhile
            return step;
        });
        std::vector<std::int64_t> values;
        test::run([&](auto&) -> boost::asio::awaitable<void> {
            auto ex = co_await boost::asio::this_coro::executor;
            std::vector<std::future<std::int64_t>> done;
            incr_options options;
            options.combine = combine;
            for (int i = 0; i < 20; ++i)
                done.push_back(boost::asio::co_spawn(ex, h.incr(table, "hits", options), boost::asio::use_future));
            for (auto& f : done) {
                while (f.wait_for(0s) != std::future_status::ready) {
                    boost::asio::steady_timer tick(ex, 1ms);
                    co_await tick.async_wait(boost::asio::use_awaitable);
                }
                values.push_back(f.get());
            }
        });
        INFO("combine " << combine);
        // Every caller got a distinct value of 1..20 and the counter counts 20.
        std::sort(values.begin(), values.end());
        std::vector<std::int64_t> expected(20);
        std::iota(expected.begin(), expected.end(), 1);
        CHECK(values == expected);
        CHECK(stored == 20);
        if (combine) CHECK(h.requests().size() < 20);
        else CHECK(h.requests().size() == 20);
    }
}
