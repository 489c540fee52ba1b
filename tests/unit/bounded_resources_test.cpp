// Bounded resources against servers that misbehave on purpose: a header
// block larger than any real answer, a body that never ends, and 10,000
// operations at once on one datastore. Each ends in a clean error or
// success, in bounded memory, without the pool growing past its limit.
#include <catch2/catch.hpp>

#include "support/test_server.hpp"
#include "transport/pooled_transport.hpp"
#include "transport/request_executor.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <string>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::server_action;
using sds::test::test_server;

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SDS_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SDS_UNDER_SANITIZER 1
#endif

namespace {

#ifdef SDS_UNDER_SANITIZER
constexpr bool under_sanitizer = true;
#else
constexpr bool under_sanitizer = false;
#endif

std::string url_of(const test_server& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

retry_options quick_retries() {
    retry_options o;
    o.max_attempts = 3;
    o.base_delay = 1ms;
    o.throttle_base_delay = 1ms;
    return o;
}

long peak_rss_kib() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// The errc one GET through the retry loop ends with (nothing on success).
std::optional<errc> outcome_of_get(const test_server& server, const http_options& opts) {
    asio::io_context io;
    std::optional<errc> outcome;
    asio::co_spawn(io,
                   [&]() -> asio::awaitable<void> {
                       pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
                       const retry_options retry = quick_retries();
                       endpoint_state state(retry);
                       http_request req{http::verb::get, "/", 11};
                       try {
                           co_await execute(t, state, retry, {}, std::move(req), {});
                       } catch (const sds::error& e) {
                           outcome = e.condition();
                       }
                   },
                   asio::detached);
    io.run_for(30s);
    return outcome;
}

} // namespace

TEST_CASE("a header block past 64 KiB is a protocol_error at once, not retried", "[transport][bounded]") {
    test_server server([](const auto&, std::size_t) {
        server_action a;
        for (int i = 0; i < 100; ++i) a.headers.emplace_back("x-filler-" + std::to_string(i), std::string(1000, 'h'));
        a.body = "ok";
        return a;
    });
    const auto outcome = outcome_of_get(server, {});
    REQUIRE(outcome);
    CHECK(*outcome == errc::protocol_error);
    CHECK(server.requests() == 1);
}

TEST_CASE("an endless body is cut off at max_response_body long before the request timeout", "[transport][bounded]") {
    test_server server([](const auto&, std::size_t) {
        server_action a;
        a.what = server_action::kind::trickle_body;
        return a;
    });
    http_options opts;
    opts.max_response_body = 4 * 1024;
    opts.request_timeout = 60s;  // the limit, not the timeout, must end it
    const long before = peak_rss_kib();
    const auto outcome = outcome_of_get(server, opts);
    REQUIRE(outcome);
    CHECK(*outcome == errc::protocol_error);
    CHECK(server.requests() == 1);
    WARN("peak RSS grew by " << (peak_rss_kib() - before) << " KiB while refusing the endless body");
}

TEST_CASE("10,000 concurrent operations on one datastore queue for max_connections connections, in bounded memory",
          "[transport][bounded]") {
    test_server server([](const http::request<http::string_body>&, std::size_t) {
        server_action a;
        a.body = R"({"Item":{"key":{"S":"k"},"data":{"S":"v"}}})";
        return a;
    });
    dynamodb_config config;
    config.region = "us-east-1";
    config.credentials = {"AKIDEXAMPLE", "bounded-test-secret", ""};
    config.endpoint = url_of(server);
    config.http.max_connections = 32;
    const long before = peak_rss_kib();
    asio::io_context io;
    datastore db(io.get_executor(), config);
    int ok = 0, failed = 0;
    for (int i = 0; i < 10'000; ++i)
        asio::co_spawn(io, db.get_data("tbl", "k"), [&](std::exception_ptr e, std::optional<std::string> v) {
            if (!e && v == "v") ++ok;
            else ++failed;
        });
    io.run();
    const long grown = peak_rss_kib() - before;
    WARN("10,000 concurrent get_data: " << server.accepts() << " connections, peak RSS grew by " << grown << " KiB");
    CHECK(ok == 10'000);
    CHECK(failed == 0);
    CHECK(server.accepts() <= 32);
    CHECK(server.requests() == 10'000);
    // 10,000 suspended operations, each a coroutine frame and a request:
    // far below what 10,000 sockets with their buffers would take. Under a
    // sanitizer the RSS is mostly the sanitizer's (shadow memory, redzones,
    // ASan's quarantine of freed blocks), so the bound is checked only in
    // builds without one (the test command's main stage).
    if (!under_sanitizer) CHECK(grown < 256 * 1024);
}
