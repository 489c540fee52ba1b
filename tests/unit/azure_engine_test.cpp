// The Azure Table engine over a scripted transport: the exact requests each
// operation sends (headers, SharedKey signature of what was sent, OData
// bodies in the documented layout, key literals), how answers and errors are
// read, and how a counter write whose outcome is unknown is settled by the
// shard's write record instead of being guessed.
#include <catch2/catch.hpp>

#include "azure/azure_engine.hpp"
#include "azure/odata.hpp"
#include "counters/counter_ops.hpp"
#include "counters/write_record.hpp"
#include "support/expect_error.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"

#include <sds/error.hpp>
#include <sds/sharedkey.hpp>

#include <boost/asio/error.hpp>
#include <boost/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::expect_error;
using sds::test::fake_transport;
namespace json = boost::json;

namespace {

constexpr const char* account = "devstoreaccount1";
constexpr const char* dev_key =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
constexpr const char* table = "tbl";

azure_table_config quick_config() {
    azure_table_config c;
    c.account_name = account;
    c.account_key = dev_key;
    c.retry.base_delay = 1ms;
    c.retry.throttle_base_delay = 1ms;
    c.retry.max_backoff = 5ms;
    c.table_poll_interval = 1ms;
    return c;
}

std::string header(const http_request& r, std::string_view name) {
    const auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string() : std::string(it->value());
}

std::string azure_error_body(std::string_view code) {
    return R"({"odata.error":{"code":")" + std::string(code) + R"(","message":{"lang":"en-US","value":"scripted )" +
           std::string(code) + R"(\nRequestId:x\nTime:y"}}})";
}

struct harness {
    std::shared_ptr<fake_transport> fake =
        std::make_shared<fake_transport>("http://127.0.0.1:10002/devstoreaccount1");
    azure_table_config config = quick_config();
    std::shared_ptr<engine> made;
    std::shared_ptr<counter_state> counters = std::make_shared<counter_state>();

    std::shared_ptr<engine> engine_ptr() {
        if (!made) made = make_azure_engine(std::shared_ptr<transport>(fake), config);
        return made;
    }
    engine& db() { return *engine_ptr(); }
    boost::asio::awaitable<std::int64_t> incr(std::string c, incr_options o = {}) {
        return increment_counter(engine_ptr(), counters, table, std::move(c), o);
    }
    boost::asio::awaitable<std::int64_t> count(std::string c) {
        return count_counter(engine_ptr(), counters, table, std::move(c), {});
    }

    harness& respond(unsigned status, std::string body = {}, std::vector<std::pair<std::string, std::string>> h = {}) {
        h.emplace_back("x-ms-request-id", "rid-" + std::to_string(fake->remaining()));
        fake->respond(status, std::move(body), std::move(h));
        return *this;
    }
    harness& error(unsigned status, std::string_view code) {
        return respond(status, azure_error_body(code), {{"x-ms-error-code", std::string(code)}});
    }
    const http_request& request(std::size_t i) const { return fake->requests().at(i); }
    std::size_t sent() const { return fake->requests().size(); }
};

// Checks what every request carries, and that its Authorization is the
// SharedKey signature of exactly what was sent.
void check_envelope(const http_request& r, sharedkey::scheme scheme = sharedkey::scheme::shared_key) {
    CHECK(header(r, "x-ms-version") == "2019-02-02");
    CHECK(header(r, "DataServiceVersion") == "3.0;NetFx");
    CHECK(header(r, "MaxDataServiceVersion") == "3.0;NetFx");
    CHECK(header(r, "Host") == "127.0.0.1:10002");
    const std::string accept = header(r, "Accept");
    CHECK((accept == "application/json;odata=nometadata" || accept == "application/json;odata=minimalmetadata"));
    CHECK(header(r, "x-ms-client-request-id").size() == 36);
    const std::string date = header(r, "x-ms-date");
    REQUIRE_FALSE(date.empty());
    const std::string target(r.target());
    const auto q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    CHECK(path.rfind("/devstoreaccount1/", 0) == 0);
    std::vector<sharedkey::header> headers{{"x-ms-date", date}};
    const std::string content_type = header(r, "Content-Type");
    if (!content_type.empty()) headers.push_back({"Content-Type", content_type});
    const std::string method(r.method_string());
    const auto expected =
        sharedkey::sign(scheme, {method, path, query, headers},
                        sharedkey::credentials{account, sharedkey::account_key::from_base64(dev_key)});
    CHECK(header(r, "Authorization") == expected.authorization);
    CHECK(expected.canonicalized_resource.rfind("/devstoreaccount1/devstoreaccount1/", 0) == 0);
}

json::object body_of(const http_request& r) { return json::parse(r.body()).as_object(); }

// A shard entity as the service returns it with minimalmetadata.
std::string shard_entity(std::string_view key, std::int64_t value, const write_record& record = {}) {
    json::object e{{"odata.metadata", "x"}, {"PartitionKey", key}, {"RowKey", ""}};
    odata::set_int64(e, "data", value);
    if (record.seq) {
        odata::set_int64(e, "seq", record.seq);
        e["ops"] = record.encode_ops();
    }
    return json::serialize(e);
}

} // namespace

TEST_CASE("every Azure request carries the Table service headers and a SharedKey signature of what was sent",
          "[azure]") {
    harness h;
    h.respond(204);
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    REQUIRE(h.sent() == 1);
    check_envelope(h.request(0));
    CHECK(header(h.request(0), "Content-Type") == "application/json");
}

TEST_CASE("SharedKeyLite signs when the config asks for it", "[azure]") {
    harness h;
    h.config.shared_key_lite = true;
    h.respond(204);
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    check_envelope(h.request(0), sharedkey::scheme::shared_key_lite);
    CHECK(header(h.request(0), "Authorization").rfind("SharedKeyLite devstoreaccount1:", 0) == 0);
}

TEST_CASE("with a SAS token every URL carries it and no Authorization is sent", "[azure]") {
    harness h;
    h.config.account_key.clear();
    h.config.sas_token = "sv=2019-02-02&sp=raud&sig=abc%3D";
    h.config.http.allow_plain_http = true;  // the fake endpoint is plain http
    h.respond(200, R"({"value":[]})");
    h.respond(204);
    test::run([&](auto&) { return h.db().list_tables({}); });
    test::run([&](auto&) { return h.db().remove(table, "k", {}); });
    CHECK(std::string(h.request(0).target()) == "/devstoreaccount1/Tables?$top=1000&sv=2019-02-02&sp=raud&sig=abc%3D");
    CHECK(std::string(h.request(1).target()) ==
          "/devstoreaccount1/tbl(PartitionKey='k',RowKey='')?sv=2019-02-02&sp=raud&sig=abc%3D");
    for (std::size_t i = 0; i < 2; ++i) CHECK(header(h.request(i), "Authorization").empty());
}

TEST_CASE("keys become OData literals: quotes doubled, everything else outside the unreserved set percent-encoded",
          "[azure]") {
    CHECK(odata::key_literal("it's") == "it''s");
    CHECK(odata::key_literal("100%") == "100%25");
    CHECK(odata::key_literal("a b+c&d=e") == "a%20b%2Bc%26d%3De");
    CHECK(odata::key_literal("\xC3\xA9\xE6\x97\xA5") == "%C3%A9%E6%97%A5");
    CHECK(odata::key_literal("A-z_0.9~") == "A-z_0.9~");
    CHECK(odata::entity_path("tbl", "it's 1") == "/tbl(PartitionKey='it''s%201',RowKey='')");
    harness h;
    h.respond(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
    test::run([&](auto&) { return h.db().get(table, "it's 100% \xC3\xA9", {}); });
    CHECK(std::string(h.request(0).target()) == "/devstoreaccount1/tbl(PartitionKey='it''s%20100%25%20%C3%A9',RowKey='')");
    check_envelope(h.request(0));
}

// A value entity as the service returns it, stamped by `writer` with `seq`.
std::string value_entity(std::string_view key, std::string_view data, std::string_view writer, std::int64_t seq) {
    json::object e{{"odata.metadata", "x"}, {"PartitionKey", key}, {"RowKey", ""}, {"data", data}, {"vw", writer}};
    odata::set_int64(e, "vq", seq);
    return json::serialize(e);
}
std::string writer_of(const http_request& r) { return std::string(body_of(r).at("vw").as_string()); }

TEST_CASE("set_data of a key it knows no ETag for is an Insert, and the next is an Update If-Match the ETag returned",
          "[azure]") {
    harness h;
    h.respond(204, {}, {{"ETag", "W/\"e1\""}}).respond(204, {}, {{"ETag", "W/\"e2\""}}).respond(204);
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "hello"}, {}); });
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "again"}, {}); });
    test::run([&](auto&) { return h.db().put(table, "b", value{value::kind::binary, std::string("\0\1\xff", 3)}, {}); });
    REQUIRE(h.sent() == 3);
    const std::string writer = writer_of(h.request(0));
    CHECK(writer.size() == 16);
    CHECK(writer.find_first_not_of("0123456789abcdef") == std::string::npos);
    // An Insert: POST to the table, Prefer no content, no If-Match.
    CHECK(h.request(0).method() == http::verb::post);
    CHECK(std::string(h.request(0).target()) == "/devstoreaccount1/tbl");
    CHECK(header(h.request(0), "If-Match").empty());
    CHECK(body_of(h.request(0)) == json::parse(R"({"PartitionKey":"k","RowKey":"","data":"hello","vw":")" + writer +
                                               R"(","vq@odata.type":"Edm.Int64","vq":"1"})"));
    // An Update: PUT to the entity, If-Match the ETag the Insert returned.
    CHECK(h.request(1).method() == http::verb::put);
    CHECK(std::string(h.request(1).target()) == "/devstoreaccount1/tbl(PartitionKey='k',RowKey='')");
    CHECK(header(h.request(1), "If-Match") == "W/\"e1\"");
    CHECK(body_of(h.request(1)) == json::parse(R"({"PartitionKey":"k","RowKey":"","data":"again","vw":")" + writer +
                                               R"(","vq@odata.type":"Edm.Int64","vq":"2"})"));
    CHECK(h.request(2).method() == http::verb::post);
    CHECK(body_of(h.request(2)) ==
          json::parse(R"({"PartitionKey":"b","RowKey":"","data":"AAH/","data@odata.type":"Edm.Binary","vw":")" + writer +
                      R"(","vq@odata.type":"Edm.Int64","vq":"3"})"));
    for (std::size_t i = 0; i < 3; ++i) check_envelope(h.request(i));
}

TEST_CASE("set_data refused because an earlier copy of it landed is done after one read", "[azure]") {
    // The Insert's answer is lost after it applied; the re-send meets the
    // entity (409), and a read finds this very write in it.
    harness h;
    h.fake->fail(boost::asio::error::connection_reset, /*request_written=*/true);
    h.error(409, "EntityAlreadyExists");
    h.fake->answer_with([&](const http_request& r) {
        REQUIRE(r.method() == http::verb::get);
        return fake_transport::response(200, value_entity("k", "v", writer_of(h.request(0)), 1), {{"ETag", "W/\"e5\""}});
    });
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    REQUIRE(h.sent() == 3);
    CHECK(h.request(1).body() == h.request(0).body());
    CHECK(h.request(2).method() == http::verb::get);
    // The ETag read is the one the next write is conditional on.
    h.fake->answer_with(nullptr);
    h.respond(204, {}, {{"ETag", "W/\"e6\""}});
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "w"}, {}); });
    REQUIRE(h.sent() == 4);
    CHECK(h.request(3).method() == http::verb::put);
    CHECK(header(h.request(3), "If-Match") == "W/\"e5\"");
}

TEST_CASE("set_data refused because a later write of the same datastore landed is done too", "[azure]") {
    harness h;
    h.respond(204, {}, {{"ETag", "W/\"e1\""}});
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "one"}, {}); });
    h.error(412, "UpdateConditionNotSatisfied");
    h.fake->answer_with([&](const http_request&) {
        return fake_transport::response(200, value_entity("k", "three", writer_of(h.request(0)), 3), {{"ETag", "W/\"e3\""}});
    });
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "two"}, {}); });
    CHECK(h.sent() == 3);  // Insert, refused Update, read: no write of "two" over "three"
}

TEST_CASE("set_data that lost to another writer reads the key and writes again on the ETag read", "[azure]") {
    harness h;
    h.respond(204, {}, {{"ETag", "W/\"e1\""}});
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "one"}, {}); });
    h.error(412, "UpdateConditionNotSatisfied");
    h.respond(200, value_entity("k", "theirs", "0123456789abcdef", 99), {{"ETag", "W/\"e9\""}});
    h.respond(204, {}, {{"ETag", "W/\"e10\""}});
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "two"}, {}); });
    REQUIRE(h.sent() == 4);
    CHECK(header(h.request(1), "If-Match") == "W/\"e1\"");
    CHECK(h.request(2).method() == http::verb::get);
    CHECK(h.request(3).method() == http::verb::put);
    CHECK(header(h.request(3), "If-Match") == "W/\"e9\"");
    CHECK(body_of(h.request(3)).at("data") == "two");
    // A key deleted meanwhile: the Update meets 404, the read finds nothing,
    // and the value is inserted.
    h.error(404, "ResourceNotFound").error(404, "ResourceNotFound").respond(204);
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "three"}, {}); });
    REQUIRE(h.sent() == 7);
    CHECK(header(h.request(4), "If-Match") == "W/\"e10\"");
    CHECK(h.request(5).method() == http::verb::get);
    CHECK(h.request(6).method() == http::verb::post);
}

TEST_CASE("get_data's ETag makes the next set_data an Update, and delete_data forgets it", "[azure]") {
    harness h;
    h.respond(200, value_entity("k", "v", "0123456789abcdef", 1), {{"ETag", "W/\"e7\""}});
    h.respond(204).respond(204).respond(204);
    test::run([&](auto&) { return h.db().get(table, "k", {}); });
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "w"}, {}); });
    test::run([&](auto&) { return h.db().remove(table, "k", {}); });
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "x"}, {}); });
    REQUIRE(h.sent() == 4);
    CHECK(h.request(1).method() == http::verb::put);
    CHECK(header(h.request(1), "If-Match") == "W/\"e7\"");
    CHECK(h.request(2).method() == http::verb::delete_);
    CHECK(h.request(3).method() == http::verb::post);
}

TEST_CASE("set_data losing to other writers max_write_conflicts times is condition_failed", "[azure]") {
    harness h;
    h.config.max_write_conflicts = 3;
    h.fake->answer_with([&](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(200, value_entity("k", "theirs", "0123456789abcdef", 1), {{"ETag", "W/\"x\""}});
        if (r.method() == http::verb::post)
            return fake_transport::response(409, azure_error_body("EntityAlreadyExists"),
                                            {{"x-ms-error-code", "EntityAlreadyExists"}});
        return fake_transport::response(412, azure_error_body("UpdateConditionNotSatisfied"),
                                        {{"x-ms-error-code", "UpdateConditionNotSatisfied"}});
    });
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); }); });
    CHECK(e.condition() == errc::condition_failed);
    CHECK(std::string(e.what()).find("set_data") != std::string::npos);
    // The first Insert was a guess (no ETag known), not a loss; then three
    // Updates on ETags it read, each refused.
    std::size_t inserts = 0, updates = 0;
    for (const auto& r : h.fake->requests()) {
        inserts += r.method() == http::verb::post;
        updates += r.method() == http::verb::put;
    }
    CHECK(inserts == 1u);
    CHECK(updates == 3u);
}

TEST_CASE("set_data with max_write_conflicts 1 writes a key it has no ETag for, with no other writer", "[azure]") {
    harness h;
    h.config.max_write_conflicts = 1;
    h.error(409, "EntityAlreadyExists");
    h.respond(200, value_entity("k", "old", "0123456789abcdef", 4), {{"ETag", "W/\"e4\""}});
    h.respond(204, {}, {{"ETag", "W/\"e5\""}});
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "new"}, {}); });
    REQUIRE(h.sent() == 3);
    CHECK(header(h.request(2), "If-Match") == "W/\"e4\"");
}

TEST_CASE("set_data of a key read back without an ETag is a protocol_error, not a loop", "[azure]") {
    harness h;
    h.error(409, "EntityAlreadyExists");
    h.respond(200, value_entity("k", "old", "0123456789abcdef", 4));  // no ETag header, no odata.etag
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); }); });
    CHECK(e.condition() == errc::protocol_error);
    CHECK(h.sent() == 2);
}

TEST_CASE("the ETag cache keeps the keys used last: rewrites of hot keys stay one request after 10,000 others",
          "[azure]") {
    harness h;
    h.fake->answer_with([](const http_request&) { return fake_transport::response(204, {}, {{"ETag", "W/\"e\""}}); });
    auto write = [&](const std::string& key) {
        test::run([&](auto&) { return h.db().put(table, key, value{value::kind::text, "v"}, {}); });
    };
    for (int i = 0; i < 100; ++i) write("hot" + std::to_string(i));
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4000; ++i) write("cold" + std::to_string(round) + "_" + std::to_string(i));
        for (int i = 0; i < 100; ++i) write("hot" + std::to_string(i));  // each one used again: kept
    }
    // Every hot rewrite was an Update on its cached ETag.
    const auto& sent = h.fake->requests();
    std::size_t hot_updates = 0;
    for (const auto& r : sent)
        hot_updates += r.method() == http::verb::put && std::string(r.target()).find("'hot") != std::string::npos;
    CHECK(hot_updates == 300u);
    CHECK(sent.size() == 100u + 3 * (4000u + 100u));
}

TEST_CASE("get_data reads with minimal metadata and tells Edm.Binary from Edm.String", "[azure]") {
    harness h;
    h.respond(200, R"({"odata.metadata":"m","PartitionKey":"k","RowKey":"","data":"hi"})", {{"ETag", "W/\"1\""}});
    h.respond(200, R"({"PartitionKey":"k","RowKey":"","data@odata.type":"Edm.Binary","data":"AAH/"})");
    h.respond(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
    h.respond(200, R"({"PartitionKey":"k","RowKey":"","shards@odata.type":"Edm.Int64","shards":"3"})");
    const auto text = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    const auto bin = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    const auto none = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    const auto no_data = test::run([&](auto&) { return h.db().get(table, "k", {}); });
    REQUIRE(text);
    CHECK(*text == value{value::kind::text, "hi"});
    REQUIRE(bin);
    CHECK(*bin == value{value::kind::binary, std::string("\0\1\xff", 3)});
    CHECK_FALSE(none);
    CHECK_FALSE(no_data);
    CHECK(header(h.request(0), "Accept") == "application/json;odata=minimalmetadata");
    CHECK(h.request(0).method() == http::verb::get);
}

TEST_CASE("an operation on a table that does not exist is table_not_found", "[azure]") {
    harness h;
    h.error(404, "TableNotFound").error(404, "TableNotFound").error(404, "ResourceNotFound");
    CHECK(expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); }).condition() ==
          errc::table_not_found);
    CHECK(expect_error([&] { test::run([&](auto&) { return h.db().remove(table, "k", {}); }); }).condition() ==
          errc::table_not_found);
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().delete_table(table, {}); }); });
    CHECK(e.condition() == errc::table_not_found);
    CHECK(e.diag().http_status == 404);
    CHECK(e.diag().service_code == "ResourceNotFound");
    CHECK(e.diag().client_request_id.size() == 36);
    CHECK(std::string(e.what()).find("client request id") != std::string::npos);
}

TEST_CASE("delete_data deletes with If-Match * and deleting nothing is not an error", "[azure]") {
    harness h;
    h.respond(204).error(404, "ResourceNotFound");
    test::run([&](auto&) { return h.db().remove(table, "k", {}); });
    test::run([&](auto&) { return h.db().remove(table, "k", {}); });
    CHECK(h.request(0).method() == http::verb::delete_);
    CHECK(header(h.request(0), "If-Match") == "*");
    check_envelope(h.request(0));
}

TEST_CASE("create_table posts the name: an existing table is fine, one being deleted is waited out", "[azure]") {
    harness h;
    h.respond(204).error(409, "TableAlreadyExists").error(409, "TableBeingDeleted").error(409, "TableBeingDeleted").respond(204);
    test::run([&](auto&) { return h.db().create_table(table, {}); });
    test::run([&](auto&) { return h.db().create_table(table, {.read = 20, .write = 10}); });  // ignored on Azure
    test::run([&](auto&) { return h.db().create_table(table, {}); });
    REQUIRE(h.sent() == 5);
    CHECK(std::string(h.request(0).target()) == "/devstoreaccount1/Tables");
    CHECK(h.request(0).method() == http::verb::post);
    CHECK(body_of(h.request(0)) == json::parse(R"({"TableName":"tbl"})"));
    CHECK(header(h.request(0), "Prefer") == "return-no-content");
    check_envelope(h.request(0));
}

TEST_CASE("a table that stays being deleted ends create_table with timeout", "[azure]") {
    harness h;
    h.config.table_wait_timeout = 20ms;
    h.fake->answer_with([](const http_request&) {
        return fake_transport::response(409, azure_error_body("TableBeingDeleted"), {{"x-ms-error-code", "TableBeingDeleted"}});
    });
    CHECK(expect_error([&] { test::run([&](auto&) { return h.db().create_table(table, {}); }); }).condition() ==
          errc::timeout);
}

TEST_CASE("list_tables follows NextTableName, also past an empty page, and sorts", "[azure]") {
    harness h;
    h.respond(200, R"({"value":[{"TableName":"b"},{"TableName":"a"}]})", {{"x-ms-continuation-NextTableName", "c+/="}});
    h.respond(200, R"({"value":[]})", {{"x-ms-continuation-NextTableName", "d"}});
    h.respond(200, R"({"value":[{"TableName":"d"}]})");
    const auto names = test::run([&](auto&) { return h.db().list_tables({}); });
    CHECK(names == std::vector<std::string>{"a", "b", "d"});
    REQUIRE(h.sent() == 3);
    CHECK(std::string(h.request(0).target()) == "/devstoreaccount1/Tables?$top=1000");
    CHECK(std::string(h.request(1).target()) == "/devstoreaccount1/Tables?$top=1000&NextTableName=c%2B%2F%3D");
    CHECK(std::string(h.request(2).target()) == "/devstoreaccount1/Tables?$top=1000&NextTableName=d");
}

TEST_CASE("update_throughput is invalid_argument on Azure and sends nothing", "[azure]") {
    harness h;
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().update_throughput(table, 5, 5, {}); }); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("no provisioned throughput") != std::string::npos);
    CHECK(h.sent() == 0);
}

TEST_CASE("auth errors are auth_failed whatever Azure calls them, and ServerBusy is retried as throttling", "[azure]") {
    for (const char* code : {"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch"}) {
        harness h;
        h.respond(403, "<?xml version=\"1.0\"?><Error><Code>x</Code></Error>", {{"x-ms-error-code", code}});
        const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
        CHECK(e.condition() == errc::auth_failed);
        CHECK(h.sent() == 1);
    }
    harness busy;
    busy.error(503, "ServerBusy").error(503, "ServerBusy").respond(204);
    test::run([&](auto&) { return busy.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    CHECK(busy.sent() == 3);
}

TEST_CASE("no credentials is invalid_argument and nothing is sent", "[azure]") {
    harness h;
    h.config.account_key.clear();
    const auto e = expect_error([&] { test::run([&](auto&) { return h.db().get(table, "k", {}); }); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(h.sent() == 0);
}

TEST_CASE("a malformed account key is invalid_argument at construction, without echoing it", "[azure]") {
    harness h;
    h.config.account_key = "not*base64*s3cr3t";
    const auto e = expect_error([&] { h.db(); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("s3cr3t") == std::string::npos);
}

// ---------------------------------------------------------------- validation

TEST_CASE("Azure table names are 3 to 63 letters and digits starting with a letter, and not 'tables'", "[azure]") {
    harness h;
    for (const char* bad : {"ab", "1abc", "ab-c", "ab_c", "Tables", "tables"})
        CHECK(expect_error([&] { h.db().check_table_name(bad); }).condition() == errc::invalid_argument);
    CHECK(expect_error([&] { h.db().check_table_name(std::string(64, 'a')); }).condition() == errc::invalid_argument);
    h.db().check_table_name("abc");
    h.db().check_table_name("A" + std::string(62, '9'));
}

TEST_CASE("Azure keys may not hold slashes, backslashes, '#' or '?', and hold at most 1 KiB counted in UTF-16",
          "[azure]") {
    harness h;
    for (const char* bad : {"a/b", "a\\b", "a#b", "a?b"})
        CHECK(expect_error([&] { h.db().check_key("key", bad); }).condition() == errc::invalid_argument);
    h.db().check_key("key", std::string(512, 'k'));
    CHECK(expect_error([&] { h.db().check_key("key", std::string(513, 'k')); }).condition() == errc::invalid_argument);
    // 256 four-byte characters are 512 UTF-16 units (surrogate pairs): the limit.
    std::string emoji;
    for (int i = 0; i < 256; ++i) emoji += "\xF0\x9F\x98\x80";
    h.db().check_key("key", emoji);
    CHECK(expect_error([&] { h.db().check_key("key", emoji + "x"); }).condition() == errc::invalid_argument);
}

TEST_CASE("an Azure property over 64 KiB is refused: text counts 2 bytes per UTF-16 unit, bytes count as they are",
          "[azure]") {
    harness h;
    h.db().check_item("k", value{value::kind::text, std::string(32768, 'x')});
    CHECK(expect_error([&] { h.db().check_item("k", value{value::kind::text, std::string(32769, 'x')}); }).condition() ==
          errc::invalid_argument);
    h.db().check_item("k", value{value::kind::binary, std::string(65536, 'x')});
    CHECK(expect_error([&] { h.db().check_item("k", value{value::kind::binary, std::string(65537, 'x')}); })
              .condition() == errc::invalid_argument);
}

// ---------------------------------------------------------------- counters

TEST_CASE("incr of a missing shard inserts it with its value and a write record", "[azure]") {
    harness h;
    h.error(404, "ResourceNotFound");
    h.respond(204);
    const auto v = test::run([&](auto&) { return h.incr("hits", {.amount = 5}); });
    CHECK(v == 5);
    REQUIRE(h.sent() == 2);
    CHECK(h.request(1).method() == http::verb::post);
    CHECK(std::string(h.request(1).target()) == "/devstoreaccount1/tbl");
    const auto body = body_of(h.request(1));
    CHECK(body.at("PartitionKey") == "hits_shard_1");
    CHECK(body.at("data") == "5");
    CHECK(body.at("data@odata.type") == "Edm.Int64");
    CHECK(body.at("seq") == "1");
    CHECK(body.at("ops").as_string().size() == 16);
    check_envelope(h.request(1));
}

TEST_CASE("incr of an existing shard writes it back with If-Match on the ETag it read", "[azure]") {
    harness h;
    write_record r;
    r = r.after("aaaaaaaaaaaaaaaa");
    h.respond(200, shard_entity("hits_shard_1", 41, r), {{"ETag", "W/\"datetime'1'\""}});
    h.respond(204);
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 42);
    CHECK(h.request(1).method() == http::verb::put);
    CHECK(header(h.request(1), "If-Match") == "W/\"datetime'1'\"");
    const auto body = body_of(h.request(1));
    CHECK(body.at("data") == "42");
    CHECK(body.at("seq") == "2");
    const auto ops = write_record::decode_ops(body.at("ops").as_string());
    REQUIRE(ops.size() == 2);
    CHECK(ops[0] == "aaaaaaaaaaaaaaaa");
}

TEST_CASE("incr that loses its ETag to another writer reads again and retries", "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 1), {{"ETag", "W/\"a\""}});
    h.error(412, "UpdateConditionNotSatisfied");
    h.respond(200, shard_entity("hits_shard_1", 2), {{"ETag", "W/\"b\""}});
    h.respond(204);
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 3);
    CHECK(header(h.request(3), "If-Match") == "W/\"b\"");
}

TEST_CASE("incr that keeps losing to other writers ends in condition_failed, not applied", "[azure]") {
    harness h;
    h.config.max_write_conflicts = 3;
    int reads = 0;
    h.fake->answer_with([&](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(200, shard_entity("hits_shard_1", reads++), {{"ETag", "W/\"x\""}});
        return fake_transport::response(412, azure_error_body("UpdateConditionNotSatisfied"),
                                        {{"x-ms-error-code", "UpdateConditionNotSatisfied"}});
    });
    CHECK(expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); }).condition() == errc::condition_failed);
}

namespace {

// The shard as it is once the first write sent (request 1) landed: at
// `value`, its op id in the record as write 1.
auto landed_shard(const harness& h, std::int64_t value) {
    write_record landed;
    landed.seq = 1;
    landed.ops = write_record::decode_ops(body_of(h.request(1)).at("ops").as_string());
    return fake_transport::response(200, shard_entity("hits_shard_1", value, landed), {{"ETag", "W/\"b\""}});
}

} // namespace

// The write's outcome is unknown (the connection broke after sending), the
// retry loop sends it again, the ETag has moved: did the first land?
TEST_CASE("a write re-sent after an unknown outcome that finds its op in the record is applied once", "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, /*request_written=*/true);
    h.error(412, "UpdateConditionNotSatisfied");
    // The first attempt did land: the shard holds its op id.
    h.fake->answer_with([&](const http_request&) { return landed_shard(h, 11); });
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 11);
    REQUIRE(h.sent() == 4);  // read, write, re-send, read: nothing written twice
    CHECK(h.request(3).method() == http::verb::get);
}

TEST_CASE("a write re-sent after an unknown outcome that finds another writer's op in its place is retried", "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.error(412, "UpdateConditionNotSatisfied");
    write_record other;
    other = other.after("bbbbbbbbbbbbbbbb");  // seq 1: the slot our write wanted
    h.respond(200, shard_entity("hits_shard_1", 20, other), {{"ETag", "W/\"b\""}});
    h.respond(204);
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 21);
    REQUIRE(h.sent() == 5);
    CHECK(header(h.request(4), "If-Match") == "W/\"b\"");
}

// The read that would settle an unknown outcome fails (the retry loop gave
// up on it): giving up too would make the increment ambiguous, so it reads
// again, a few rounds.
TEST_CASE("a read that fails after an unknown outcome is tried again and finds the write", "[azure]") {
    harness h;
    h.config.retry.max_attempts = 2;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, /*request_written=*/true);
    h.error(412, "UpdateConditionNotSatisfied");
    int reads = 0;
    h.fake->answer_with([&](const http_request& r) {
        REQUIRE(r.method() == http::verb::get);
        if (++reads <= 4)  // two rounds of the retry loop's two attempts
            return fake_transport::response(503, azure_error_body("ServerBusy"), {{"x-ms-error-code", "ServerBusy"}});
        return landed_shard(h, 11);
    });
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 11);
    CHECK(reads == 5);
    CHECK(h.sent() == 8);  // read, write, re-send, then reads only: nothing written twice
}

TEST_CASE("reads that keep failing after an unknown outcome end ambiguous, naming the read", "[azure]") {
    harness h;
    h.config.retry.max_attempts = 2;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.error(412, "UpdateConditionNotSatisfied");
    int reads = 0;
    h.fake->answer_with([&](const http_request& r) {
        REQUIRE(r.method() == http::verb::get);
        ++reads;
        return fake_transport::response(503, azure_error_body("ServerBusy"), {{"x-ms-error-code", "ServerBusy"}});
    });
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("cannot tell whether a write landed: GetEntity"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("an earlier attempt may have been applied"));
    CHECK(reads == 8);  // four rounds of two attempts
}

TEST_CASE("a write that fails after an unknown outcome reads the record again instead of giving up", "[azure]") {
    harness h;
    h.config.retry.max_attempts = 2;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.error(412, "UpdateConditionNotSatisfied");
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});  // not landed (yet)
    h.error(503, "ServerBusy");  // the fencing write, twice
    h.error(503, "ServerBusy");
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});  // still not landed
    h.respond(204, "", {{"ETag", "W/\"b\""}});
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 11);
    REQUIRE(h.sent() == 8);
    CHECK(header(h.request(7), "If-Match") == "W/\"a\"");
}

TEST_CASE("a write whose record moved on by more than its capacity is ambiguous", "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.error(412, "UpdateConditionNotSatisfied");
    write_record far;
    for (int i = 0; i < 40; ++i) far = far.after("cccccccccccccc" + std::to_string(10 + i));
    h.respond(200, shard_entity("hits_shard_1", 50, far), {{"ETag", "W/\"b\""}});
    CHECK(expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); }).condition() == errc::ambiguous);
}

TEST_CASE("the write record keeps the last 32 op ids and knows which writes it can vouch for", "[azure]") {
    write_record r;
    for (int i = 1; i <= 40; ++i) r = r.after("op" + std::to_string(i));
    CHECK(r.seq == 40);
    REQUIRE(r.ops.size() == write_record::capacity);
    CHECK(r.ops.front() == "op9");
    CHECK(r.fate_of("op40", 40) == write_record::fate::applied);
    CHECK(r.fate_of("mine", 41) == write_record::fate::not_applied);  // not reached yet
    CHECK(r.fate_of("mine", 9) == write_record::fate::not_applied);   // op9 holds write 9
    CHECK(r.fate_of("mine", 8) == write_record::fate::unknown);       // fell out of the record
    CHECK(write_record::decode_ops(r.encode_ops()) == r.ops);
    CHECK(write_record::decode_ops("").empty());
}

TEST_CASE("the shard count is inserted when missing, raised with If-Match, and left alone when large enough",
          "[azure]") {
    harness h;
    // incr with 4 shards: the count is missing, inserted.
    h.error(404, "ResourceNotFound").respond(204);
    h.fake->answer_with([](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
        return fake_transport::response(204);
    });
    test::run([&](auto&) { return h.incr("hits", {.shard_count = 4}); });
    CHECK(std::string(h.request(1).target()) == "/devstoreaccount1/tbl");
    CHECK(body_of(h.request(1)).at("PartitionKey") == "hits_shards");
    CHECK(body_of(h.request(1)).at("shards") == "4");
    CHECK(body_of(h.request(1)).at("shards@odata.type") == "Edm.Int64");

    // Another engine finds 10 recorded: asking for 4 writes nothing.
    harness other;
    other.respond(200, R"({"PartitionKey":"hits_shards","RowKey":"","shards@odata.type":"Edm.Int64","shards":"10"})",
                  {{"ETag", "W/\"s\""}});
    other.fake->answer_with([](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
        return fake_transport::response(204);
    });
    test::run([&](auto&) { return other.incr("hits", {.shard_count = 4}); });
    CHECK(other.request(1).method() == http::verb::get);  // straight on to the shard
}

TEST_CASE("get_count reads the recorded count and every shard with point reads", "[azure]") {
    harness h;
    std::map<std::string, std::string> entities{
        {"hits_shards", R"({"PartitionKey":"hits_shards","RowKey":"","shards@odata.type":"Edm.Int64","shards":"150"})"}};
    for (int i = 1; i <= 150; ++i)
        entities["hits_shard_" + std::to_string(i)] = shard_entity("hits_shard_" + std::to_string(i), i);
    h.config.max_concurrent_reads = 8;
    h.fake->answer_with([&](const http_request& r) {
        const std::string target(r.target());
        const auto start = target.find("PartitionKey='") + 14;
        const std::string key = target.substr(start, target.find('\'', start) - start);
        const auto it = entities.find(key);
        if (it == entities.end())
            return fake_transport::response(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
        return fake_transport::response(200, it->second, {{"ETag", "W/\"e\""}});
    });
    CHECK(test::run([&](auto&) { return h.count("hits"); }) == 150 * 151 / 2);
    CHECK(h.sent() == 2 + 149);  // the count and shard 1, then shards 2..150
    std::set<std::string> targets;
    for (const auto& r : h.fake->requests()) targets.insert(std::string(r.target()));
    CHECK(targets.size() == 151);
}

// A write stalled in the service lands after the record was read and found
// not to hold it: the next write loses its condition to it, and the record
// must be looked at again rather than the amount added a second time.
TEST_CASE("a stalled write that lands after the record was read is found there, not added again", "[azure]") {
    harness h;
    h.config.retry.max_attempts = 2;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);  // the write stalls in the service
    h.fake->fail(boost::asio::error::connection_reset, true);  // and its re-send: ambiguous, settle it
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});  // not landed yet
    h.error(412, "UpdateConditionNotSatisfied");  // the stalled one landed first
    h.fake->answer_with([&](const http_request&) {
        write_record landed;
        landed.seq = 1;
        landed.ops = write_record::decode_ops(body_of(h.request(1)).at("ops").as_string());
        return fake_transport::response(200, shard_entity("hits_shard_1", 11, landed), {{"ETag", "W/\"b\""}});
    });
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 11);
    REQUIRE(h.sent() == 6);  // read, write x2, read, write, read: no third write
    CHECK(h.request(5).method() == http::verb::get);
}

// The first copy of a write may still be in flight when its re-send is
// refused for good (here a 400): nothing tells whether it landed or will.
// The next write, conditional on the same ETag as that copy, fences it:
// whichever lands first, the other loses its condition.
TEST_CASE("a re-sent write refused after an unknown outcome is fenced by the next write on the same ETag",
          "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.respond(400, azure_error_body("InvalidInput"), {{"x-ms-error-code", "InvalidInput"}});
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});  // not landed (yet)
    h.respond(204, "", {{"ETag", "W/\"b\""}});
    CHECK(test::run([&](auto&) { return h.incr("hits"); }) == 11);
    REQUIRE(h.sent() == 5);  // read, write x2, read, the fencing write
    CHECK(h.request(4).method() == http::verb::put);
    CHECK(header(h.request(4), "If-Match") == "W/\"a\"");
    // The fencing write carries the same op id as the copy it fences.
    const auto ops_of = [&](std::size_t i) {
        return write_record::decode_ops(std::string(body_of(h.request(i)).at("ops").as_string()));
    };
    REQUIRE_FALSE(ops_of(1).empty());
    CHECK(ops_of(4).back() == ops_of(1).back());
}

TEST_CASE("a re-sent write refused every time after an unknown outcome ends ambiguous, naming the refusal",
          "[azure]") {
    harness h;
    h.config.max_write_conflicts = 3;
    h.respond(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
    h.fake->fail(boost::asio::error::connection_reset, true);
    h.fake->answer_with([](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(200, shard_entity("hits_shard_1", 10), {{"ETag", "W/\"a\""}});
        return fake_transport::response(400, azure_error_body("InvalidInput"), {{"x-ms-error-code", "InvalidInput"}});
    });
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("re-sent write was refused (HTTP 400 InvalidInput)"));
    std::size_t writes = 0;
    for (const auto& r : h.fake->requests()) writes += r.method() == http::verb::put;
    CHECK(writes == 4);  // the first and its re-send, then two fencing writes: three rounds
}

TEST_CASE("an ETag with a control character is a protocol_error, never sent back in If-Match", "[azure]") {
    harness h;
    std::string entity = shard_entity("hits_shard_1", 10);
    entity.insert(1, R"("odata.etag":"W/\"1\"\r\nHost: evil.example.com",)");
    h.respond(200, entity);  // no ETag header: the body's odata.etag is the one
    CHECK(expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); }).condition() == errc::protocol_error);
    CHECK(h.sent() == 1);
}

TEST_CASE("an entity read without an ETag is a protocol_error, never written back unconditionally", "[azure]") {
    harness h;
    h.respond(200, shard_entity("hits_shard_1", 10));
    CHECK(expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); }).condition() == errc::protocol_error);
    CHECK(h.sent() == 1);
}

TEST_CASE("max_write_conflicts bounds the writes a counter update may lose", "[azure]") {
    harness h;
    h.config.max_write_conflicts = 3;
    h.fake->answer_with([&](const http_request& r) {
        if (r.method() == http::verb::get)
            return fake_transport::response(200, shard_entity("hits_shard_1", 1), {{"ETag", "W/\"x\""}});
        return fake_transport::response(412, azure_error_body("UpdateConditionNotSatisfied"),
                                        {{"x-ms-error-code", "UpdateConditionNotSatisfied"}});
    });
    const auto e = expect_error([&] { test::run([&](auto&) { return h.incr("hits"); }); });
    CHECK(e.condition() == errc::condition_failed);
    std::size_t writes = 0;
    for (const auto& r : h.fake->requests()) writes += r.method() == http::verb::put;
    CHECK(writes == 3);
}

TEST_CASE("with both a key and a SAS, the SAS authorizes and no Authorization is sent", "[azure]") {
    harness h;
    h.config.sas_token = "sv=2019-02-02&sig=abc";
    h.config.http.allow_plain_http = true;
    h.respond(204);
    test::run([&](auto&) { return h.db().put(table, "k", value{value::kind::text, "v"}, {}); });
    CHECK(header(h.request(0), "Authorization").empty());
    CHECK(std::string(h.request(0).target()).find("sig=abc") != std::string::npos);
}

TEST_CASE("a SAS over plain http is refused when the datastore is made, loopback included, unless allowed",
          "[azure]") {
    for (const bool with_key : {false, true}) {
        INFO("with the key too: " << with_key);
        harness h;
        if (!with_key) h.config.account_key.clear();
        h.config.sas_token = "sv=2019-02-02&sp=raud&sig=abc%3D";
        const auto e = expect_error([&] { h.engine_ptr(); });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(std::string(e.what()).find("a SAS is sent over https only, unless http.allow_plain_http is set; the "
                                         "endpoint is http://127.0.0.1:10002") != std::string::npos);
        CHECK(std::string(e.what()).find("sig=") == std::string::npos);
        CHECK(h.sent() == 0);
    }
    // Over https the same SAS is fine.
    harness tls;
    tls.fake = std::make_shared<fake_transport>("https://myaccount.table.core.windows.net");
    tls.config.account_name = "myaccount";
    tls.config.account_key.clear();
    tls.config.sas_token = "sv=2019-02-02&sp=raud&sig=abc%3D";
    tls.respond(204);
    test::run([&](auto&) { return tls.db().remove(table, "k", {}); });
    CHECK(std::string(tls.request(0).target()) == "/tbl(PartitionKey='k',RowKey='')?sv=2019-02-02&sp=raud&sig=abc%3D");
}

// ---------------------------------------------------------------- Entra ID tokens

namespace {

struct counting_token_source final : azure_token_credential {
    int fetched = 0;
    boost::asio::awaitable<azure_access_token> fetch() override {
        ++fetched;
        co_return azure_access_token{"eyJ.token" + std::to_string(fetched), std::chrono::system_clock::now() + 1h};
    }
    std::string name() const override { return "test tokens"; }
};

} // namespace

TEST_CASE("with a token credential and no key, requests carry Authorization: Bearer and one token serves them all",
          "[azure]") {
    auto source = std::make_shared<counting_token_source>();
    auto fake = std::make_shared<fake_transport>("https://127.0.0.1:10002/devstoreaccount1");
    auto config = quick_config();
    config.account_key.clear();
    config.token_credential = source;
    auto engine = make_azure_engine(std::shared_ptr<transport>(fake), config);
    for (int i = 0; i < 3; ++i) {
        fake->respond(404, azure_error_body("ResourceNotFound"), {{"x-ms-error-code", "ResourceNotFound"}});
        test::run([&](auto&) { return engine->get(table, "k", {}); });
    }
    REQUIRE(fake->requests().size() == 3u);
    for (const auto& r : fake->requests()) {
        CHECK(header(r, "Authorization") == "Bearer eyJ.token1");
        CHECK_FALSE(header(r, "x-ms-date").empty());
    }
    CHECK(source->fetched == 1);
}

TEST_CASE("a token credential with a plain http endpoint is refused before anything is sent", "[azure]") {
    auto fake = std::make_shared<fake_transport>("http://127.0.0.1:10002/devstoreaccount1");
    auto config = quick_config();
    config.account_key.clear();
    config.token_credential = std::make_shared<counting_token_source>();
    const auto e = expect_error([&] { make_azure_engine(std::shared_ptr<transport>(fake), config); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("https only") != std::string::npos);
    CHECK(fake->requests().empty());
}
