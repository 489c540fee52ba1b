// The pooled HTTP transport and the retry loop against a real local server
// (tests/unit/support/test_server.hpp) on 127.0.0.1: connection reuse, idle
// and stale connections, resets, stalls, retries, cancellation, TLS and
// concurrency.
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"
#include "support/run.hpp"
#include "support/test_certs.hpp"
#include "support/test_server.hpp"
#include "transport/pooled_transport.hpp"
#include "transport/request_executor.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <stdexcept>
#include <thread>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::server_action;
using sds::test::test_server;

using sds::test::expect_error;

namespace {

std::string url_of(const test_server& s, std::string host = "127.0.0.1") {
    return (host == "localhost" ? "https://" : "http://") + host + ":" + std::to_string(s.port());
}

http_request get(std::string target = "/") {
    http_request r{http::verb::get, target, 11};
    return r;
}

server_action ok(std::string body = "ok") {
    server_action a;
    a.body = std::move(body);
    return a;
}

server_action status(unsigned code, std::vector<std::pair<std::string, std::string>> headers = {}) {
    server_action a;
    a.status = code;
    a.headers = std::move(headers);
    a.body = "status " + std::to_string(code);
    return a;
}

// A server whose first answer comes after `delay`; every later one at once.
sds::test::server_handler stall_first(std::chrono::milliseconds delay) {
    return [delay](const auto&, std::size_t i) {
        server_action a = ok();
        if (i == 0) a.delay = delay;
        return a;
    };
}

retry_options quick_retries(unsigned attempts = 4) {
    retry_options o;
    o.max_attempts = attempts;
    o.base_delay = 1ms;
    o.throttle_base_delay = 2ms;
    return o;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// The sds::error a call through the retry loop must end with.
asio::awaitable<sds::error> call_error(pooled_transport& t, endpoint_state& state, const retry_options& retry,
                                       call_options call = {}) {
    try {
        co_await execute(t, state, retry, call, get(), {});
    } catch (const sds::error& e) {
        co_return e;
    }
    FAIL("expected an sds::error");
    throw std::logic_error("unreachable");
}

// A completion handler for a co_spawned execute(): keeps the errc it threw
// (nothing when it succeeded).
auto keep_errc(std::optional<errc>& out) {
    return [&out](std::exception_ptr e, call_result) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const sds::error& x) {
            out = x.condition();
        }
    };
}

// Catch's macros must not contain co_await: GCC evaluates the operand twice.
asio::awaitable<void> send_ok(pooled_transport& t) {
    auto req = get();
    const auto r = co_await t.send(req);
    REQUIRE_FALSE(r.ec);
}

asio::awaitable<void> send_ok(pooled_transport& t, http_request& req) {
    const auto r = co_await t.send(req);
    REQUIRE_FALSE(r.ec);
}


} // namespace

// What a signer signed for one host must never reach another: the pool
// sends only requests whose Host is its own endpoint's.
TEST_CASE("a request whose Host names another host is refused before anything is sent", "[transport][security]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    const std::string own = "127.0.0.1:" + std::to_string(server.port());
    for (const char* other : {"evil.example.com", "127.0.0.1", "127.0.0.2:1", "127.0.0.1:1"}) {
        INFO(other);
        const auto e = expect_error([&] {
            test::run([&](asio::io_context& io) -> asio::awaitable<void> {
                pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
                auto req = get();
                req.set(http::field::host, other);
                co_await t.send(req);
            });
        });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(std::string(e.what()).find(other) != std::string::npos);
    }
    CHECK(server.accepts() == 0);

    // Its own host goes; a request without a Host gets it.
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        auto named = get();
        named.set(http::field::host, own);
        co_await send_ok(t, named);
        auto unnamed = get();
        co_await send_ok(t, unnamed);
    });
    const auto received = server.received();
    REQUIRE(received.size() == 2);
    for (const auto& r : received) CHECK(std::string(r[http::field::host]) == own);
}

// Nor can a request reach another host around the Host check: by a second
// Host header, by a target in absolute form, or by a line break in a header
// or the target that would put lines of its own on the wire.
TEST_CASE("a second Host, an absolute target or a line break in a header is refused before anything is sent",
          "[transport][security]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    const std::string own = "127.0.0.1:" + std::to_string(server.port());
    const std::vector<std::pair<std::string, std::function<void(http_request&)>>> cases{
        {"more than one Host header",
         [&](http_request& r) {
             r.set(http::field::host, own);
             r.insert(http::field::host, "evil.example.com");
         }},
        {"target does not start with '/'", [](http_request& r) { r.target("http://evil.example.com/steal"); }},
        {"target does not start with '/'", [](http_request& r) { r.target("*"); }},
        {"target holds a line break", [](http_request& r) { r.target("/x HTTP/1.1\r\nHost: evil.example.com\r\n\r\nGET /"); }},
        {"header 'X-Extra' holds a line break", [](http_request& r) { r.set("X-Extra", "a\r\nHost: evil.example.com"); }},
        {"header 'If-Match' holds a line break", [](http_request& r) { r.set(http::field::if_match, "W/\"1\"\nHost: evil"); }},
        {"header 'X-Nul' holds a line break or NUL", [](http_request& r) { r.set("X-Nul", std::string("a\0b", 3)); }},
    };
    for (const auto& [why, edit] : cases) {
        INFO(why);
        const auto e = expect_error([&, &edit = edit] {
            test::run([&](asio::io_context& io) -> asio::awaitable<void> {
                pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
                auto req = get();
                edit(req);
                co_await t.send(req);
            });
        });
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(std::string(e.what()).find(why) != std::string::npos);
        CHECK(std::string(e.what()).find("evil") == std::string::npos);
    }
    CHECK(server.accepts() == 0);
}

TEST_CASE("many requests in a row travel over one kept-alive connection", "[transport]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    const auto opened = test::run([&](asio::io_context& io) -> asio::awaitable<std::uint64_t> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        for (int i = 0; i < 20; ++i) {
            auto req = get();
            const auto r = co_await t.send(req);
            REQUIRE_FALSE(r.ec);
            CHECK(r.response.body() == "ok");
        }
        co_return t.pool().connections_opened();
    });
    CHECK(opened == 1);
    CHECK(server.accepts() == 1);
    CHECK(server.requests() == 20);
}

TEST_CASE("4xx and 5xx answers leave the connection in the pool", "[transport]") {
    test_server server([](const auto&, std::size_t i) {
        const unsigned codes[] = {404, 500, 200, 400, 503, 200};
        return status(codes[i % 6]);
    });
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        for (int i = 0; i < 6; ++i) {
            auto req = get();
            const auto r = co_await t.send(req);
            REQUIRE_FALSE(r.ec);
            CHECK(r.response.body() == "status " + std::to_string(r.response.result_int()));
        }
    });
    CHECK(server.accepts() == 1);
}

TEST_CASE("a connection the server closed while idle is replaced without failing the request", "[transport]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        auto req = get();
        co_await send_ok(t);
        server.close_idle_connections();
        co_await sleep_for(20ms);  // let the FIN arrive
        const auto r = co_await t.send(req);
        REQUIRE_FALSE(r.ec);
        CHECK(r.response.body() == "ok");
    });
    CHECK(server.accepts() == 2);
}

TEST_CASE("a non-idempotent request is never written on a recently used connection the server closed", "[transport]") {
    // An idempotent request may skip the check of a connection used a moment
    // ago (a closed one only costs a re-send); one that must not go twice
    // never does: it would come back ambiguous.
    test_server server([](const auto&, std::size_t) { return ok(); });
    const retry_options retry = quick_retries();
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        co_await send_ok(t);
        server.close_idle_connections();
        co_await sleep_for(20ms);  // let the FIN arrive, well within the window
        call_options call;
        call.idempotent = false;
        const call_result r = co_await execute(t, state, retry, call, get(), {});
        CHECK(r.response.body() == "ok");
        CHECK(r.diag.attempts == 1);
    });
    CHECK(server.accepts() == 2);
    CHECK(server.requests() == 2);
}

TEST_CASE("a request that meets a pooled connection closing under it is re-sent on a fresh one", "[transport]") {
    // The second request arrives on the reused connection and the server
    // closes it without answering: the race of a server's idle timeout.
    test_server server([](const auto&, std::size_t i) {
        server_action a = ok("answer " + std::to_string(i));
        if (i == 1) a.what = server_action::kind::close_without_response;
        return a;
    });
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        auto req = get();
        co_await send_ok(t);
        const auto r = co_await t.send(req);
        REQUIRE_FALSE(r.ec);
        CHECK(r.response.body() == "answer 2");
    });
    CHECK(server.accepts() == 2);
    CHECK(server.requests() == 3);
}

TEST_CASE("a fresh connection closed without an answer is a failure, not a silent re-send", "[transport]") {
    test_server server([](const auto&, std::size_t) {
        server_action a;
        a.what = server_action::kind::close_without_response;
        return a;
    });
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        auto req = get();
        const auto r = co_await t.send(req);
        CHECK(r.ec);
        CHECK(r.request_written);
    });
    CHECK(server.requests() == 1);
}

TEST_CASE("a reset in the middle of a response is a network failure that the retry loop recovers from", "[transport]") {
    test_server server([](const auto&, std::size_t i) {
        server_action a = ok("whole");
        if (i == 0) a.what = server_action::kind::reset_mid_response;
        return a;
    });
    const retry_options retry = quick_retries();
    const auto result = test::run([&](asio::io_context& io) -> asio::awaitable<call_result> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        auto req = get();
        const auto first = co_await t.send(req);
        CHECK(first.ec);
        CHECK(first.request_written);
        co_return co_await execute(t, state, retry, {}, get(), {});
    });
    CHECK(result.response.body() == "whole");
    CHECK(result.diag.attempts == 1);
    CHECK(server.accepts() == 2);
}

TEST_CASE("a server that stalls past the request timeout gives timeout, and the pool stays usable", "[transport]") {
    test_server server(stall_first(3s));
    http_options opts;
    opts.request_timeout = 100ms;
    opts.max_connections = 1;
    const retry_options retry = quick_retries(1);
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
        endpoint_state state(retry);
        try {
            co_await execute(t, state, retry, {}, get(), {});
            FAIL("expected a timeout");
        } catch (const sds::error& e) {
            CHECK(e.condition() == errc::timeout);
            CHECK(e.diag().attempts == 1);
        }
        const auto r = co_await execute(t, state, retry, {}, get(), {});
        CHECK(r.response.result_int() == 200);
    });
}

TEST_CASE("a burst of 503s is retried on the same connection until the server recovers", "[transport]") {
    test_server server([](const auto&, std::size_t i) { return i < 3 ? status(503) : ok("recovered"); });
    const retry_options retry = quick_retries();
    const auto r = test::run([&](asio::io_context& io) -> asio::awaitable<call_result> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        co_return co_await execute(t, state, retry, {}, get(), {});
    });
    CHECK(r.response.body() == "recovered");
    CHECK(r.diag.attempts == 4);
    CHECK(server.requests() == 4);
    CHECK(server.accepts() == 1);
}

TEST_CASE("Retry-After from the server sets the wait", "[transport]") {
    test_server server([](const auto&, std::size_t i) { return i == 0 ? status(503, {{"Retry-After", "1"}}) : ok(); });
    const retry_options retry = quick_retries();
    const auto r = test::run([&](asio::io_context& io) -> asio::awaitable<call_result> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        co_return co_await execute(t, state, retry, {}, get(), {});
    });
    CHECK(r.diag.attempts == 2);
    CHECK(r.diag.total_backoff == 1000ms);
}

TEST_CASE("once the endpoint's retry quota runs out, failures are not retried", "[transport]") {
    test_server server([](const auto&, std::size_t) { return status(500); });
    retry_options retry = quick_retries(10);
    retry.quota_capacity = 10;
    retry.retry_cost = 5;
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        for (unsigned expected_attempts : {3u, 1u, 1u}) {
            try {
                co_await execute(t, state, retry, {}, get(), {});
                FAIL("expected service_error");
            } catch (const sds::error& e) {
                CHECK(e.condition() == errc::service_error);
                CHECK(e.diag().attempts == expected_attempts);
                CHECK(e.diag().http_status == 500);
            }
        }
    });
    CHECK(server.requests() == 5);
}

TEST_CASE("cancelling a request waiting on a stalled server returns at once and frees its connection", "[transport]") {
    test_server server(stall_first(20s));
    http_options opts;
    opts.max_connections = 1;
    const retry_options retry = quick_retries();
    asio::io_context io;
    pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
    endpoint_state state(retry);
    asio::cancellation_signal signal;
    std::exception_ptr first_error;
    asio::co_spawn(io, execute(t, state, retry, {}, get(), {}),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, call_result) { first_error = e; }));
    asio::steady_timer later(io, 100ms);
    later.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
    // The only connection must come back to the pool for this one to run.
    std::optional<call_result> second;
    asio::co_spawn(io,
                   [&]() -> asio::awaitable<void> {
                       co_await sleep_for(150ms);
                       second = co_await execute(t, state, retry, {}, get(), {});
                   },
                   asio::detached);
    const auto started = std::chrono::steady_clock::now();
    io.run();
    CHECK(std::chrono::steady_clock::now() - started < 20s);  // not waiting for the stalled answer
    REQUIRE(first_error);
    const auto e = expect_error([&] { std::rethrow_exception(first_error); });
    CHECK(e.condition() == errc::cancelled);
    REQUIRE(second);
    CHECK(second->response.body() == "ok");
}

TEST_CASE("a deadline ends a stalled call with timeout and leaves the pool usable", "[transport]") {
    test_server server(stall_first(20s));
    http_options opts;
    opts.max_connections = 1;
    const retry_options retry = quick_retries();
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
        endpoint_state state(retry);
        call_options call;
        call.deadline = std::chrono::steady_clock::now() + 100ms;
        try {
            co_await execute(t, state, retry, call, get(), {});
            FAIL("expected timeout");
        } catch (const sds::error& e) {
            CHECK(e.condition() == errc::timeout);
        }
        const auto r = co_await execute(t, state, retry, {}, get(), {});
        CHECK(r.response.body() == "ok");
    });
}

TEST_CASE("waiters beyond max_connections queue for a connection instead of opening more", "[transport]") {
    test_server server([](const auto&, std::size_t) {
        server_action a = ok();
        a.delay = 20ms;
        return a;
    });
    http_options opts;
    opts.max_connections = 2;
    std::atomic<int> succeeded{0};
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        auto t = std::make_shared<pooled_transport>(io.get_executor(), endpoint::parse(url_of(server)), opts);
        for (int i = 0; i < 10; ++i)
            asio::co_spawn(io,
                           [t, &succeeded]() -> asio::awaitable<void> {
                               auto req = get();
                               const auto r = co_await t->send(req);
                               if (!r.ec) ++succeeded;
                           },
                           asio::detached);
        co_return;
    });
    CHECK(succeeded == 10);
    CHECK(server.accepts() == 2);
}

TEST_CASE("a connection idle longer than idle_timeout is not reused", "[transport]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    http_options opts;
    opts.idle_timeout = 50ms;
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
        auto req = get();
        co_await send_ok(t);
        co_await sleep_for(120ms);
        co_await send_ok(t);
    });
    CHECK(server.accepts() == 2);
}

TEST_CASE("a response with Connection: close is honoured and the next request opens a new connection", "[transport]") {
    test_server server([](const auto&, std::size_t i) {
        server_action a = ok();
        a.close_after = i == 0;
        return a;
    });
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        auto req = get();
        co_await send_ok(t);
        co_await send_ok(t);
    });
    CHECK(server.accepts() == 2);
}

TEST_CASE("connecting to a port nobody listens on is a network_error after retries", "[transport]") {
    unsigned short dead_port;
    {
        test_server gone([](const auto&, std::size_t) { return ok(); });
        dead_port = gone.port();
    }
    const retry_options retry = quick_retries(2);
    const auto e = expect_error([&] {
        test::run([&](asio::io_context& io) -> asio::awaitable<void> {
            pooled_transport t(io.get_executor(), endpoint::parse("http://127.0.0.1:" + std::to_string(dead_port)), {});
            endpoint_state state(retry);
            co_await execute(t, state, retry, {}, get(), {});
        });
    });
    CHECK(e.condition() == errc::network_error);
    CHECK(e.diag().attempts == 2);
}

TEST_CASE("many coroutines on a multi-threaded io_context share one pool and every request succeeds", "[transport]") {
    test_server server([](const auto& req, std::size_t) { return ok(std::string(req.target())); });
    http_options opts;
    opts.max_connections = 8;
    const retry_options retry = quick_retries();
    asio::thread_pool threads(4);
    pooled_transport t(threads.get_executor(), endpoint::parse(url_of(server)), opts);
    endpoint_state state(retry);
    std::atomic<int> right{0}, wrong{0};
    constexpr int coroutines = 100, per_coroutine = 5;
    std::vector<std::future<void>> done;
    for (int c = 0; c < coroutines; ++c)
        // Like every sds operation, a call of the retry loop runs on a strand.
        done.push_back(asio::co_spawn(
            asio::make_strand(threads),
            [&, c]() -> asio::awaitable<void> {
                for (int i = 0; i < per_coroutine; ++i) {
                    const std::string target = "/c" + std::to_string(c) + "/" + std::to_string(i);
                    const auto r = co_await execute(t, state, retry, {}, get(target), {});
                    (r.response.body() == target ? right : wrong)++;
                }
            },
            asio::use_future));
    for (auto& f : done) f.get();
    threads.join();
    CHECK(right == coroutines * per_coroutine);
    CHECK(wrong == 0);
    CHECK(server.requests() == coroutines * per_coroutine);
    CHECK(server.accepts() <= 8);
    CHECK(t.pool().connections_opened() <= 8);
}

TEST_CASE("TLS verifies the server against the configured CA and its host name", "[transport][tls]") {
    const auto pki = test::make_test_pki();
    test_server server([](const auto&, std::size_t) { return ok("secure"); }, *pki);
    const retry_options retry = quick_retries(1);
    const std::string port = std::to_string(server.port());

    auto call = [&](const std::string& url, const std::string& ca_file) {
        http_options opts;
        opts.tls.ca_file = ca_file;
        return test::run([&](asio::io_context& io) -> asio::awaitable<call_result> {
            pooled_transport t(io.get_executor(), endpoint::parse(url), opts);
            endpoint_state state(retry);
            co_return co_await execute(t, state, retry, {}, get(), {});
        });
    };

    SECTION("the right CA and host name: the handshake succeeds") {
        CHECK(call("https://localhost:" + port, pki->ca_cert.string()).response.body() == "secure");
    }
    SECTION("without the CA (system store only) the handshake fails") {
        CHECK(expect_error([&] { call("https://localhost:" + port, ""); }).condition() == errc::tls_error);
        CHECK(sds::test::eventually([&] { return server.handshake_failures() >= 1; }));  // counted after the client moved on
    }
    SECTION("another CA is not trusted") {
        CHECK(expect_error([&] { call("https://localhost:" + port, pki->other_ca_cert.string()); }).condition() ==
              errc::tls_error);
    }
    SECTION("a host name the certificate does not name is refused") {
        CHECK(expect_error([&] { call("https://127.0.0.1:" + port, pki->ca_cert.string()); }).condition() ==
              errc::tls_error);
    }
    SECTION("an unreadable CA file is an invalid_argument before anything is sent") {
        CHECK(expect_error([&] { call("https://localhost:" + port, "/nonexistent/ca.pem"); }).condition() ==
              errc::invalid_argument);
        CHECK(server.accepts() == 0);
    }
}

TEST_CASE("TLS connections are kept alive and reused like plain ones", "[transport][tls]") {
    const auto pki = test::make_test_pki();
    test_server server([](const auto&, std::size_t) { return ok(); }, *pki);
    http_options opts;
    opts.tls.ca_file = pki->ca_cert.string();
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse("https://localhost:" + std::to_string(server.port())), opts);
        for (int i = 0; i < 5; ++i) {
            auto req = get();
            co_await send_ok(t);
        }
    });
    CHECK(server.accepts() == 1);
}

TEST_CASE("endpoints are parsed with their scheme, port, Host header and path prefix", "[transport]") {
    auto e = endpoint::parse("http://127.0.0.1:10002/devstoreaccount1/");
    CHECK_FALSE(e.tls);
    CHECK(e.port == 10002);
    CHECK(e.host_header == "127.0.0.1:10002");
    CHECK(e.path_prefix == "/devstoreaccount1");
    e = endpoint::parse("https://dynamodb.us-east-1.amazonaws.com");
    CHECK(e.tls);
    CHECK(e.port == 443);
    CHECK(e.host_header == "dynamodb.us-east-1.amazonaws.com");
    e = endpoint::parse("https://localhost:443/");
    CHECK(e.host_header == "localhost");
    e = endpoint::parse("http://[::1]:8000");
    CHECK(e.host == "::1");
    CHECK(e.host_header == "[::1]:8000");
    for (const char* bad : {"ftp://x", "localhost:8000", "http://user:pw@h/", "http://h/?q=1", "http://h:0", "http://h:99999", "http://"})
        CHECK_THROWS_AS(endpoint::parse(bad), sds::error);
}

TEST_CASE("a non-idempotent request the server read before closing is not re-sent but reported ambiguous", "[transport]") {
    test_server server([](const auto&, std::size_t i) {
        server_action a = ok("answer " + std::to_string(i));
        if (i == 1) a.what = server_action::kind::close_without_response;
        return a;
    });
    const retry_options retry = quick_retries();
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        co_await send_ok(t);
        call_options call;
        call.idempotent = false;
        try {
            co_await execute(t, state, retry, call, get(), {});
            FAIL("expected ambiguous");
        } catch (const sds::error& e) {
            CHECK(e.condition() == errc::ambiguous);
        }
    });
    CHECK(server.requests() == 2);  // the second request was read once, and not sent again
}

// The race of a request that waits for the pool's only connection: its
// deadline passes in the same turn as the connection comes back. Blocking the
// io_context's thread past both makes them arrive together.
TEST_CASE("a request whose deadline passes while it waits for a connection is not sent, even when the connection frees up in the same turn",
          "[transport]") {
    test_server server([](const auto& req, std::size_t) {
        server_action a = ok(std::string(req.target()));
        a.delay = req.target() == "/first" ? 50ms : 3s;
        return a;
    });
    http_options opts;
    opts.max_connections = 1;
    const retry_options retry = quick_retries();
    asio::io_context io;
    pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
    endpoint_state state(retry);

    std::optional<call_result> first;
    asio::co_spawn(io, execute(t, state, retry, {}, get("/first"), {}),
                   [&](std::exception_ptr e, call_result r) {
                       if (!e) first = std::move(r);
                   });
    call_options call;
    call.idempotent = false;
    call.deadline = std::chrono::steady_clock::now() + 60ms;
    std::exception_ptr second_error;
    bool second_done = false;
    std::chrono::steady_clock::time_point second_finished;
    asio::co_spawn(io, execute(t, state, retry, call, get("/second"), {}),
                   [&](std::exception_ptr e, call_result) {
                       second_error = e;
                       second_done = true;
                       second_finished = std::chrono::steady_clock::now();
                   });
    asio::steady_timer blocker(io, 20ms);
    blocker.async_wait([](auto) { std::this_thread::sleep_for(150ms); });
    io.run();

    REQUIRE(first);
    CHECK(first->response.body() == "/first");
    REQUIRE(second_done);
    REQUIRE(second_error);
    const auto e = expect_error([&] { std::rethrow_exception(second_error); });
    CHECK(e.condition() == errc::timeout);
    CHECK(server.requests() == 1);  // the second request never went out
    const auto overrun = std::chrono::duration_cast<std::chrono::milliseconds>(second_finished - *call.deadline);
    std::printf("deadline overrun of the queued request (the thread was blocked for 150 ms of it): %lld ms\n",
                static_cast<long long>(overrun.count()));
}

TEST_CASE("a response over max_response_body is a protocol_error at once: no retry, no quota spent", "[transport]") {
    test_server server([](const auto&, std::size_t) { return ok(std::string(4096, 'x')); });
    http_options opts;
    opts.max_response_body = 1024;
    const retry_options retry = quick_retries(4);
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
        endpoint_state state(retry);
        const unsigned full = state.quota.available();
        const sds::error e = co_await call_error(t, state, retry);
        CHECK(e.condition() == errc::protocol_error);
        CHECK(e.diag().attempts == 1);
        CHECK(state.quota.available() == full);

        // For a request that is not idempotent, the server acted on it.
        call_options call;
        call.idempotent = false;
        const sds::error increment = co_await call_error(t, state, retry, call);
        CHECK(increment.condition() == errc::ambiguous);
        CHECK(increment.diag().attempts == 1);
    });
    CHECK(server.requests() == 2);
}

TEST_CASE("a certificate that fails verification is a tls_error at once: no retry, no quota spent", "[transport][tls]") {
    const auto pki = test::make_test_pki();
    test_server server([](const auto&, std::size_t) { return ok("secure"); }, *pki);
    http_options opts;
    opts.tls.ca_file = pki->other_ca_cert.string();
    const retry_options retry = quick_retries(4);
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        pooled_transport t(io.get_executor(), endpoint::parse("https://localhost:" + std::to_string(server.port())), opts);
        endpoint_state state(retry);
        const unsigned full = state.quota.available();
        const sds::error e = co_await call_error(t, state, retry);
        CHECK(e.condition() == errc::tls_error);
        CHECK(e.diag().attempts == 1);
        CHECK(state.quota.available() == full);
    });
    // The server sees the client's refusal a moment after the client gave up.
    for (int i = 0; i < 200 && server.handshake_failures() == 0; ++i) std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(50ms);
    CHECK(server.handshake_failures() == 1);
    CHECK(server.accepts() == 1);
}

TEST_CASE("an endpoint with user info or a query is refused without echoing either", "[transport]") {
    for (const char* url : {"https://AKIDLEAKED:s3cr3t-leaked@dynamodb.us-east-1.amazonaws.com/",
                            "https://host.example/?X-Amz-Security-Token=s3cr3t-leaked",
                            "https://host.example/path#s3cr3t-leaked", "not a url s3cr3t-leaked"}) {
        const auto e = expect_error([&] { endpoint::parse(url); });
        const std::string what = e.what();
        CHECK(e.condition() == errc::invalid_argument);
        CHECK(what.find("s3cr3t-leaked") == std::string::npos);
        CHECK(what.find("AKIDLEAKED") == std::string::npos);
    }
}

namespace {

// Sockets of this process connected to `port` on 127.0.0.1 that the peer has
// closed and that we have not (TCP state CLOSE_WAIT), from /proc/net/tcp.
int close_wait_sockets_to(unsigned short port) {
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line);  // header
    char wanted[16];
    std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
    int n = 0;
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (remote == wanted && state == "08") ++n;
    }
    return n;
}

} // namespace

TEST_CASE("idle connections the server closed do not linger in CLOSE_WAIT past idle_timeout while the pool is in use",
          "[transport]") {
    test_server server([](const auto&, std::size_t i) {
        server_action a = ok();
        if (i < 4) a.delay = 30ms;  // four at once: four connections
        return a;
    });
    // The server closes connections idle for 50 ms, as servers with a
    // keep-alive timeout do.
    server.close_idle_after(50ms);
    http_options opts;
    opts.idle_timeout = 150ms;
    int lingering = -1;
    test::run([&](asio::io_context& io) -> asio::awaitable<void> {
        auto t = std::make_shared<pooled_transport>(io.get_executor(), endpoint::parse(url_of(server)), opts);
        std::atomic<int> done{0};
        for (int i = 0; i < 4; ++i)
            asio::co_spawn(io, [t, &done]() -> asio::awaitable<void> {
                co_await send_ok(*t);
                ++done;
            }, asio::detached);
        while (done < 4) co_await sleep_for(5ms);
        REQUIRE(t->pool().connections_opened() == 4);
        // One request every 20 ms keeps a single connection in use; the
        // server closes the other three.
        for (int i = 0; i < 20; ++i) {
            co_await send_ok(*t);
            co_await sleep_for(20ms);
        }
        lingering = close_wait_sockets_to(server.port());
    });
    CHECK(lingering == 0);
}

// Asio 1.81's concurrent_channel stops accepting sends when its last waiting
// receiver is cancelled, so a pool built on one lost every permit given back
// after a waiter gave up: the datastore then stalled for good.
TEST_CASE("a waiter for a connection that gives up, by deadline or cancellation, costs the pool no permit",
          "[transport]") {
    test_server server([](const auto& req, std::size_t) {
        server_action a = ok();
        if (req.target() == "/slow") a.delay = 200ms;
        return a;
    });
    http_options opts;
    opts.max_connections = 1;
    const retry_options retry = quick_retries(1);
    asio::io_context io;
    pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
    endpoint_state state(retry);
    asio::co_spawn(io, execute(t, state, retry, {}, get("/slow"), {}), asio::detached);
    // One waiter gives up at its deadline, one is cancelled.
    call_options short_deadline;
    short_deadline.deadline = std::chrono::steady_clock::now() + 50ms;
    std::optional<errc> deadline_outcome, cancel_outcome;
    asio::co_spawn(io, execute(t, state, retry, short_deadline, get("/a"), {}), keep_errc(deadline_outcome));
    asio::cancellation_signal signal;
    asio::co_spawn(io, execute(t, state, retry, {}, get("/b"), {}),
                   asio::bind_cancellation_slot(signal.slot(), keep_errc(cancel_outcome)));
    asio::steady_timer cancel(io, 80ms);
    cancel.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
    // Later, with the slow one done, requests must still get the connection.
    int later_ok = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await sleep_for(300ms);
        for (int i = 0; i < 3; ++i) {
            call_options bounded;
            bounded.deadline = std::chrono::steady_clock::now() + 2s;
            const auto r = co_await execute(t, state, retry, bounded, get("/later"), {});
            if (r.response.result_int() == 200) ++later_ok;
        }
    }, asio::detached);
    io.run();
    CHECK(deadline_outcome == errc::timeout);
    CHECK(cancel_outcome == errc::cancelled);
    CHECK(later_ok == 3);
}

TEST_CASE("a server trickling an endless body is cut off at the request timeout, on every attempt", "[transport]") {
    test_server server([](const auto&, std::size_t) {
        server_action a;
        a.what = server_action::kind::trickle_body;
        return a;
    });
    http_options opts;
    opts.request_timeout = 300ms;
    const retry_options retry = quick_retries(2);
    asio::io_context io;
    std::optional<errc> outcome;
    asio::co_spawn(io,
                   [&]() -> asio::awaitable<void> {
                       pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), opts);
                       endpoint_state state(retry);
                       try {
                           co_await execute(t, state, retry, {}, get(), {});
                       } catch (const sds::error& e) {
                           outcome = e.condition();
                       }
                   },
                   asio::detached);
    io.run_for(20s);  // two attempts of 300 ms each; a lost cutoff would run on
    REQUIRE(outcome);
    CHECK(*outcome == errc::timeout);
}

TEST_CASE("cancelling a request whose server trickles an endless body ends it promptly", "[transport]") {
    test_server server([](const auto&, std::size_t) {
        server_action a;
        a.what = server_action::kind::trickle_body;
        return a;
    });
    const retry_options retry = quick_retries(1);
    for (int round = 0; round < 5; ++round) {
        asio::io_context io;
        pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
        endpoint_state state(retry);
        asio::cancellation_signal signal;
        std::optional<errc> outcome;
        asio::co_spawn(io, execute(t, state, retry, {}, get(), {}),
                       asio::bind_cancellation_slot(signal.slot(), keep_errc(outcome)));
        asio::steady_timer cancel(io, 100ms);
        cancel.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
        io.run_for(10s);
        REQUIRE(outcome);
        CHECK(*outcome == errc::cancelled);
    }
}

// The connection completes after the deadline (the thread was busy): the
// request must not be written then.
TEST_CASE("a request whose deadline passes while it connects is not written", "[transport]") {
    test_server server([](const auto&, std::size_t) { return ok(); });
    const retry_options retry = quick_retries(1);
    asio::io_context io;
    pooled_transport t(io.get_executor(), endpoint::parse(url_of(server)), {});
    endpoint_state state(retry);
    call_options call;
    call.idempotent = false;
    call.deadline = std::chrono::steady_clock::now() + 20ms;
    std::optional<errc> outcome;
    asio::co_spawn(io, execute(t, state, retry, call, get(), {}), keep_errc(outcome));
    asio::post(io, [] { std::this_thread::sleep_for(60ms); });  // runs while the connect is pending
    io.run();
    REQUIRE(outcome);
    CHECK(*outcome == errc::timeout);
    std::this_thread::sleep_for(50ms);
    CHECK(server.requests() == 0);
}
