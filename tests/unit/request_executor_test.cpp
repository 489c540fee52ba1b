// The retry loop over a scripted transport: what is retried, how often, how
// long it waits, when it gives up, and what it reports.
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"
#include "support/fake_transport.hpp"
#include "support/run.hpp"
#include "transport/request_executor.hpp"

#include <sds/sharedkey.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <vector>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::fake_transport;

using sds::test::expect_error;

namespace {

// Small delays keep the tests quick; the policy's shape is what is tested.
retry_options quick_retries(unsigned attempts = 4) {
    retry_options o;
    o.max_attempts = attempts;
    o.base_delay = 1ms;
    o.throttle_base_delay = 2ms;
    o.max_backoff = 5000ms;
    return o;
}

call_options get_item_call() {
    call_options c;
    c.service = service_kind::aws;
    c.operation = "GetItem";
    return c;
}

struct harness {
    fake_transport transport;
    retry_options retry = quick_retries();
    std::unique_ptr<endpoint_state> state = std::make_unique<endpoint_state>(retry);
    call_options call = get_item_call();
    std::vector<std::chrono::system_clock::time_point> signed_at;
    response_validator validate;

    void reset_state() { state = std::make_unique<endpoint_state>(retry); }

    call_result go() {
        http_request req{http::verb::post, "/", 11};
        req.body() = "{}";
        return test::run([&](auto&) {
            return execute(transport, *state, retry, call, req,
                           [this](http_request& r, std::chrono::system_clock::time_point now) {
                               signed_at.push_back(now);
                               r.set("Authorization", "signature-" + std::to_string(signed_at.size()));
                           },
                           validate);
        });
    }
};


const std::string throttled_body =
    R"({"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"})";

} // namespace

TEST_CASE("a first-try success is returned with one attempt and one signature", "[executor]") {
    harness h;
    h.transport.respond(200, R"({"Item":{}})", {{"x-amzn-RequestId", "req-1"}});
    const auto r = h.go();
    CHECK(r.response.result_int() == 200);
    CHECK(r.diag.attempts == 1);
    CHECK(r.diag.request_id == "req-1");
    CHECK(h.signed_at.size() == 1);
}

TEST_CASE("a burst of 503s is retried, each attempt signed afresh, until the service answers", "[executor]") {
    harness h;
    h.transport.respond(503).respond(503).respond(200, "{}");
    const auto r = h.go();
    CHECK(r.response.result_int() == 200);
    CHECK(r.diag.attempts == 3);
    REQUIRE(h.transport.requests().size() == 3);
    CHECK(h.transport.requests()[2]["Authorization"] == "signature-3");
}

TEST_CASE("503s beyond max_attempts give service_error with the diagnostics of the last answer", "[executor]") {
    harness h;
    for (int i = 0; i < 4; ++i)
        h.transport.respond(503, R"({"__type":"ServiceUnavailable","message":"try later"})", {{"x-amzn-RequestId", "r9"}});
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::service_error);
    CHECK(e.code() == make_error_code(errc::service_error));
    CHECK(e.diag().attempts == 4);
    CHECK(e.diag().http_status == 503);
    CHECK(e.diag().service_code == "ServiceUnavailable");
    CHECK(e.diag().request_id == "r9");
    CHECK(h.transport.remaining() == 0);
    CHECK(h.transport.unexpected() == 0);
}

TEST_CASE("throttling that never stops is reported as throttled after max_attempts", "[executor]") {
    harness h;
    for (int i = 0; i < 4; ++i) h.transport.respond(400, throttled_body);
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::throttled);
    CHECK(e.diag().service_code == "ProvisionedThroughputExceededException");
    CHECK(e.diag().attempts == 4);
}

TEST_CASE("a final error is returned for the engine to interpret, without a retry", "[executor]") {
    harness h;
    h.transport.respond(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"})");
    const auto r = h.go();
    CHECK(r.response.result_int() == 400);
    CHECK(r.error.code == "ResourceNotFoundException");
    CHECK(r.error.message == "no table");
    CHECK(r.diag.attempts == 1);
}

TEST_CASE("the wait honours x-ms-retry-after-ms and Retry-After when they ask for more than the backoff", "[executor]") {
    harness h;
    h.call.service = service_kind::azure;
    h.transport.respond(503, "", {{"x-ms-error-code", "ServerBusy"}, {"x-ms-retry-after-ms", "120"}})
        .respond(200, "{}");
    auto r = h.go();
    CHECK(r.diag.attempts == 2);
    // The jittered backoff is at most 2 ms; the server asked for 120.
    CHECK(r.diag.total_backoff == 120ms);

    harness aws;
    aws.transport.respond(503, "", {{"Retry-After", "1"}}).respond(200, "{}");
    r = aws.go();
    CHECK(r.diag.total_backoff == 1000ms);
}

TEST_CASE("when the retry quota runs out the loop stops retrying at once", "[executor]") {
    harness h;
    h.retry = quick_retries(10);
    h.retry.quota_capacity = 10;
    h.retry.retry_cost = 5;
    h.reset_state();
    for (int i = 0; i < 10; ++i) h.transport.respond(503);
    auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::service_error);
    CHECK(e.diag().attempts == 3);  // two retries paid 10 tokens; the third was refused
    CHECK_THAT(e.what(), Catch::Matchers::Contains("retry quota exhausted"));

    e = expect_error([&] { h.go(); });
    CHECK(e.diag().attempts == 1);  // an empty bucket: no retry at all
    CHECK(h.state->quota.available() == 0);
}

TEST_CASE("a non-idempotent request is not re-sent once it may have been applied", "[executor]") {
    SECTION("the connection broke after the whole request was written") {
        harness h;
        h.call.idempotent = false;
        h.transport.fail(boost::asio::error::connection_reset, true).respond(200, "{}");
        const auto e = expect_error([&] { h.go(); });
        CHECK(e.condition() == errc::ambiguous);
        CHECK(e.diag().attempts == 1);
        CHECK(h.transport.requests().size() == 1);
    }
    SECTION("the service answered 500") {
        harness h;
        h.call.idempotent = false;
        h.transport.respond(500, R"({"__type":"InternalServerError"})").respond(200, "{}");
        const auto e = expect_error([&] { h.go(); });
        CHECK(e.condition() == errc::ambiguous);
        CHECK(e.diag().http_status == 500);
    }
    SECTION("a response failed its integrity check") {
        harness h;
        h.call.idempotent = false;
        h.validate = [](const http_response&) { return false; };
        h.transport.respond(200, "{}");
        CHECK(expect_error([&] { h.go(); }).condition() == errc::ambiguous);
    }
}

TEST_CASE("a non-idempotent request is retried when it cannot have been applied or the caller opted in", "[executor]") {
    SECTION("connecting failed, nothing was sent") {
        harness h;
        h.call.idempotent = false;
        h.transport.fail(boost::asio::error::connection_refused, false).respond(200, "{}");
        CHECK(h.go().diag.attempts == 2);
    }
    SECTION("the service throttled it") {
        harness h;
        h.call.idempotent = false;
        h.transport.respond(400, throttled_body).respond(200, "{}");
        CHECK(h.go().diag.attempts == 2);
    }
    SECTION("the caller opted into retrying ambiguous failures") {
        harness h;
        h.call.idempotent = false;
        h.call.retry_ambiguous = true;
        h.transport.fail(boost::asio::error::connection_reset, true).respond(200, "{}");
        CHECK(h.go().diag.attempts == 2);
    }
}

TEST_CASE("network failures that persist are reported as network_error, timeouts as timeout", "[executor]") {
    harness h;
    for (int i = 0; i < 4; ++i) h.transport.fail(boost::asio::error::connection_refused, false);
    auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::network_error);
    CHECK(e.diag().attempts == 4);
    CHECK(e.diag().http_status == 0);

    harness t;
    for (int i = 0; i < 4; ++i) t.transport.fail(boost::beast::error::timeout, true);
    e = expect_error([&] { t.go(); });
    CHECK(e.condition() == errc::timeout);
}

TEST_CASE("a corrupt response is retried, and reported as protocol_error if it stays corrupt", "[executor]") {
    harness h;
    int calls = 0;
    h.validate = [&](const http_response&) { return ++calls > 1; };
    h.transport.respond(200, "{}").respond(200, "{}");
    CHECK(h.go().diag.attempts == 2);

    harness bad;
    bad.validate = [](const http_response&) { return false; };
    for (int i = 0; i < 4; ++i) bad.transport.respond(200, "{}");
    CHECK(expect_error([&] { bad.go(); }).condition() == errc::protocol_error);
}

TEST_CASE("the deadline covers every attempt and backoff", "[executor]") {
    harness h;
    h.call.deadline = std::chrono::steady_clock::now() + 150ms;
    for (int i = 0; i < 4; ++i) h.transport.respond(503, "", {}, 100ms);
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::timeout);
    CHECK(e.diag().attempts == 2);
    CHECK(h.transport.remaining() == 2);
}

TEST_CASE("a backoff that would outlast the deadline ends the call at once", "[executor]") {
    harness h;
    h.call.deadline = std::chrono::steady_clock::now() + 10s;
    h.transport.respond(503, "", {{"Retry-After", "30"}}).respond(200, "{}");
    h.retry.max_backoff = 60s;
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::timeout);
    CHECK(e.diag().attempts == 1);
    CHECK(e.diag().total_backoff == 0ms);
}

TEST_CASE("cancelling the awaiting coroutine ends the call with cancelled", "[executor]") {
    fake_transport transport;
    transport.respond(200, "{}", {}, 30s);
    const retry_options retry = quick_retries();
    endpoint_state state(retry);
    boost::asio::io_context io;
    boost::asio::cancellation_signal signal;
    std::exception_ptr error;
    bool finished = false;
    boost::asio::co_spawn(io,
                          execute(transport, state, retry, get_item_call(), http_request{http::verb::post, "/", 11},
                                  {}),
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, call_result) {
                              error = e;
                              finished = true;
                          }));
    boost::asio::steady_timer later(io, 20ms);
    later.async_wait([&](auto) { signal.emit(boost::asio::cancellation_type::terminal); });
    const auto started = std::chrono::steady_clock::now();
    io.run();
    REQUIRE(finished);
    REQUIRE(error);
    // Not a timing assertion: the scripted response would take 30 s.
    CHECK(std::chrono::steady_clock::now() - started < 30s);
    try {
        std::rethrow_exception(error);
    } catch (const sds::error& e) {
        CHECK(e.condition() == errc::cancelled);
    }
}

TEST_CASE("a clock skew error is retried once the server's Date corrected the clock, and signed with it", "[executor]") {
    harness h;
    const auto ahead = std::chrono::system_clock::now() + std::chrono::hours(1);
    const std::string date = sds::sharedkey::format_date(ahead);
    h.transport
        .respond(400, R"({"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired"})",
                 {{"Date", date}})
        .respond(200, "{}");
    const auto r = h.go();
    CHECK(r.diag.attempts == 2);
    REQUIRE(h.signed_at.size() == 2);
    CHECK(h.signed_at[1] - h.signed_at[0] > std::chrono::minutes(55));
}

TEST_CASE("Azure's ServerBusy is throttling and OperationTimeout is transient", "[executor]") {
    harness h;
    h.call.service = service_kind::azure;
    for (int i = 0; i < 4; ++i) h.transport.respond(503, "", {{"x-ms-error-code", "ServerBusy"}});
    CHECK(expect_error([&] { h.go(); }).condition() == errc::throttled);

    harness t;
    t.call.service = service_kind::azure;
    for (int i = 0; i < 4; ++i) t.transport.respond(500, "", {{"x-ms-error-code", "OperationTimeout"}});
    CHECK(expect_error([&] { t.go(); }).condition() == errc::service_error);
}

TEST_CASE("under a distant deadline, a call that fails for good reports its own error at once", "[executor]") {
    harness h;
    h.call.deadline = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; i < 4; ++i) h.transport.respond(400, throttled_body);
    const auto started = std::chrono::steady_clock::now();
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::throttled);
    CHECK(std::chrono::steady_clock::now() - started < 60s);  // not held until the deadline
}

TEST_CASE("a deadline that cuts a non-idempotent request short reports ambiguous, not timeout", "[executor]") {
    harness h;
    h.call.idempotent = false;
    h.call.deadline = std::chrono::steady_clock::now() + 50ms;
    h.transport.respond(200, "{}", {}, 30s);
    const auto e = expect_error([&] { h.go(); });
    CHECK(e.condition() == errc::ambiguous);
    CHECK(e.diag().attempts == 1);

    harness idempotent;
    idempotent.call.deadline = std::chrono::steady_clock::now() + 50ms;
    idempotent.transport.respond(200, "{}", {}, 30s);
    CHECK(expect_error([&] { idempotent.go(); }).condition() == errc::timeout);

    // Cut short before its request was written, it cannot have been applied.
    harness unsent;
    unsent.call.idempotent = false;
    unsent.call.deadline = std::chrono::steady_clock::now() + 50ms;
    unsent.transport.fail(boost::asio::error::connection_refused, false, 30s);
    CHECK(expect_error([&] { unsent.go(); }).condition() == errc::timeout);
}

TEST_CASE("a cancellation that arrives between operations is noticed before the next attempt", "[executor]") {
    fake_transport transport;
    for (int i = 0; i < 4; ++i) transport.respond(500);
    const retry_options retry = quick_retries();
    endpoint_state state(retry);
    boost::asio::io_context io;
    boost::asio::cancellation_signal signal;
    std::exception_ptr error;
    // The signer runs inside the loop, between operations: cancel from there.
    auto sign = [&](http_request&, std::chrono::system_clock::time_point) {
        signal.emit(boost::asio::cancellation_type::terminal);
    };
    boost::asio::co_spawn(io, execute(transport, state, retry, get_item_call(), http_request{http::verb::post, "/", 11}, sign),
                          boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, call_result) { error = e; }));
    io.run();
    REQUIRE(error);
    const auto e = expect_error([&] { std::rethrow_exception(error); });
    CHECK(e.condition() == errc::cancelled);
    CHECK(transport.requests().empty());  // cancelled while signing: nothing was sent
}

TEST_CASE("the transport is told whether a request may be re-sent", "[executor]") {
    harness h;
    h.call.idempotent = false;
    h.transport.respond(200, "{}");
    h.go();
    CHECK(h.transport.idempotent_flags() == std::vector<bool>{false});
}
