// When requests an operation sends at once (get_count's concurrent reads,
// delete_counter's deletes, DynamoDB's batches of 100 keys) fail, the error
// the operation reports is the first failure, not the cancellation of the
// requests still in flight that this failure ended: errc::cancelled is for
// a caller that cancelled.
#include <catch2/catch.hpp>

#include "datastore_access.hpp"
#include "dynamodb/dynamodb_engine.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <optional>
#include <string>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using sds::errc;
using sds::test::fake_transport;

namespace {

template <class Config>
asio::awaitable<void> count_on(Config config, std::shared_ptr<fake_transport> fake, bool remove) {
    const auto ex = co_await asio::this_coro::executor;
    sds::datastore db = sds::detail::datastore_access::make(ex, std::move(config), fake);
    if (remove) {
        co_await db.delete_counter("tbl", "hits");
    } else {
        const auto n = co_await db.get_count("tbl", "hits");
        (void)n;
    }
}

template <class Config>
std::optional<sds::error> failure_of(Config config, std::shared_ptr<fake_transport> fake, bool remove = false) {
    try {
        sds::test::run([&](auto&) { return count_on(config, fake, remove); });
    } catch (const sds::error& e) {
        return e;
    }
    return std::nullopt;
}

fake_transport::step slow_ok(fake_transport::step s) {
    s.delay = 200ms;  // still in flight when the other request fails
    return s;
}

} // namespace

TEST_CASE("an Azure read that fails while another is in flight is what get_count and delete_counter report",
          "[fan_out]") {
    sds::azure_table_config config;
    config.account_name = "devstoreaccount1";
    config.account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    config.retry.max_attempts = 1;
    for (const bool remove : {false, true}) {
        INFO((remove ? "delete_counter" : "get_count"));
        auto fake = std::make_shared<fake_transport>("http://127.0.0.1:10002/devstoreaccount1");
        // The first request (the shard count, read first) is slow; the one
        // after it is refused at once.
        fake->answer_with([n = 0](const sds::detail::http_request& r) mutable {
            if (n++ == 0) {
                const bool entity = std::string(r.target()).find("hits_shards") != std::string::npos;
                return slow_ok(fake_transport::response(entity ? 404 : 204, entity ? R"({"odata.error":{"code":"ResourceNotFound"}})" : "",
                                                        {{"x-ms-error-code", entity ? "ResourceNotFound" : ""}}));
            }
            return fake_transport::response(403, R"({"odata.error":{"code":"AuthenticationFailed"}})",
                                            {{"x-ms-error-code", "AuthenticationFailed"}});
        });
        if (remove) {
            // delete_counter reads the shard count first, then deletes the
            // shards it knows of: make it know of two.
            fake->respond(200, R"({"PartitionKey":"hits_shards","RowKey":"","shards@odata.type":"Edm.Int64","shards":"2"})",
                          {{"ETag", "W/\"1\""}});
        }
        const auto e = failure_of(config, fake, remove);
        REQUIRE(e.has_value());
        INFO(e->what());
        CHECK(e->condition() == errc::auth_failed);
    }
}

TEST_CASE("a DynamoDB batch that fails while another is in flight is what get_count reports", "[fan_out]") {
    sds::dynamodb_config config;
    config.credentials = {"AKIDEXAMPLE", "secret", ""};
    config.retry.max_attempts = 1;
    auto fake = std::make_shared<fake_transport>();
    // The first round finds 250 shards recorded; the second reads shards 2
    // to 250 in three batches at once: the first is slow, the second refused.
    fake->answer_with([n = 0](const sds::detail::http_request&) mutable {
        ++n;
        if (n == 1) {
            const std::string body = R"({"Responses":{"tbl":[{"key":{"S":"hits_shards"},"shards":{"N":"250"}}]}})";
            return fake_transport::response(200, body,
                                            {{"x-amz-crc32", std::to_string(sds::detail::dynamodb_crc32(body))}});
        }
        if (n == 2) {
            const std::string body = R"({"Responses":{"tbl":[]}})";
            return slow_ok(fake_transport::response(
                200, body, {{"x-amz-crc32", std::to_string(sds::detail::dynamodb_crc32(body))}}));
        }
        return fake_transport::response(
            403, R"({"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"bad key"})");
    });
    const auto e = failure_of(config, fake);
    REQUIRE(e.has_value());
    INFO(e->what());
    CHECK(e->condition() == errc::auth_failed);
    CHECK(fake->requests().size() == 4);
}
