// Credentials: the cache that refreshes them (one shared fetch, refresh ahead
// of expiry, backoff after failures), the shared files, and the parsing of
// what the metadata endpoints and STS answer.
#include <catch2/catch.hpp>

#include "credentials/aws_providers.hpp"
#include "credentials/refreshing_cache.hpp"
#include "credentials/shared_files.hpp"
#include "support/expect_error.hpp"
#include "support/run.hpp"

#include <sds/credentials.hpp>
#include <sds/error.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <memory>
#include <string>
#include <vector>

using namespace sds;
using namespace sds::detail;
using namespace std::chrono_literals;
using sds::test::expect_error;
namespace asio = boost::asio;
using cache_t = refreshing_cache<aws_credentials>;

namespace {

// A source whose fetches take `delay`, hand out keys numbered by fetch, live
// `lifetime`, and fail while `failing` is set.
struct fake_source {
    std::chrono::milliseconds delay{20};
    std::chrono::milliseconds lifetime{std::chrono::hours(1)};
    bool failing = false;
    int fetched = 0;

    cache_t::fetch_fn fn() {
        return [this]() -> asio::awaitable<aws_credentials> {
            const int n = ++fetched;
            asio::steady_timer t(co_await asio::this_coro::executor, delay);
            co_await t.async_wait(asio::use_awaitable);
            if (failing) throw error(errc::network_error, "fake source: unreachable");
            co_return aws_credentials{"AKID" + std::to_string(n), "secret", "token",
                                      std::chrono::system_clock::now() + lifetime};
        };
    }
};

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

TEST_CASE("1,000 concurrent callers without credentials share one fetch, on one thread", "[credentials]") {
    fake_source source;
    auto cache = cache_t::create(source.fn(), "fake source");
    asio::io_context io{1};
    std::vector<std::string> got;
    int failed = 0;
    for (int i = 0; i < 1000; ++i)
        asio::co_spawn(io, cache->get(std::nullopt), [&](std::exception_ptr e, aws_credentials c) {
            if (e) ++failed;
            else got.push_back(c.access_key_id);
        });
    io.run();
    CHECK(failed == 0);
    REQUIRE(got.size() == 1000u);
    CHECK(std::all_of(got.begin(), got.end(), [](const std::string& k) { return k == "AKID1"; }));
    CHECK(source.fetched == 1);
    CHECK(cache->fetches() == 1u);
}

TEST_CASE("credentials in their refresh window are handed out while one background fetch replaces them",
          "[credentials]") {
    fake_source source;
    source.lifetime = 2s;  // refresh window: the last second
    auto cache = cache_t::create(source.fn(), "fake source");
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID1");
    // Still valid, not yet in the window: no fetch.
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID1");
    CHECK(source.fetched == 1);
    test::run([&](auto&) { return sleep_for(1100ms); });
    // In the window: 100 callers get the old ones at once; one fetch starts.
    asio::io_context io{1};
    std::vector<std::string> got;
    for (int i = 0; i < 100; ++i)
        asio::co_spawn(io, cache->get(std::nullopt), [&](std::exception_ptr e, aws_credentials c) {
            REQUIRE_FALSE(e);
            got.push_back(c.access_key_id);
        });
    io.run();  // also runs the background fetch to its end
    CHECK(std::count(got.begin(), got.end(), "AKID1") == 100);
    CHECK(source.fetched == 2);
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID2");
}

TEST_CASE("a failed fetch reaches every waiter, is not repeated during its backoff, and is retried after",
          "[credentials]") {
    fake_source source;
    source.failing = true;
    auto cache = cache_t::create(source.fn(), "fake source");
    asio::io_context io{1};
    int failures = 0;
    for (int i = 0; i < 10; ++i)
        asio::co_spawn(io, cache->get(std::nullopt), [&](std::exception_ptr e, aws_credentials) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const sds::error& err) {
                CHECK(err.condition() == errc::network_error);
                ++failures;
            }
        });
    io.run();
    CHECK(failures == 10);
    CHECK(source.fetched == 1);
    // Within the backoff (1 s) the error comes back at once, without a fetch.
    source.failing = false;
    const auto again = expect_error([&] { test::run([&](auto&) { return cache->get(std::nullopt); }); });
    CHECK(again.condition() == errc::network_error);
    CHECK(source.fetched == 1);
    test::run([&](auto&) { return sleep_for(1100ms); });
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID2");
}

TEST_CASE("a failed refresh keeps the valid credentials in use and is retried with backoff", "[credentials]") {
    fake_source source;
    source.lifetime = 4s;  // refresh window: the last 2 s; usable until 0.4 s before expiry
    auto cache = cache_t::create(source.fn(), "fake source");
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID1");
    test::run([&](auto&) { return sleep_for(2100ms); });
    source.failing = true;
    asio::io_context io{1};
    asio::co_spawn(io, cache->get(std::nullopt), [&](std::exception_ptr e, aws_credentials c) {
        REQUIRE_FALSE(e);
        CHECK(c.access_key_id == "AKID1");
    });
    io.run();
    CHECK(source.fetched == 2);  // the refresh, failed
    // During its backoff no caller starts another.
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID1");
    CHECK(source.fetched == 2);
    source.failing = false;
    test::run([&](auto&) { return sleep_for(1100ms); });
    test::run([&](auto&) { return cache->get(std::nullopt); });  // starts the retry
    CHECK(source.fetched == 3);
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID3");
}

TEST_CASE("a waiter's deadline or cancellation ends only its own wait, and the shared fetch goes on", "[credentials]") {
    fake_source source;
    source.delay = 300ms;
    auto cache = cache_t::create(source.fn(), "fake source");
    asio::io_context io{1};
    std::optional<errc> timed_out, cancelled;
    std::optional<std::string> patient;
    asio::cancellation_signal signal;
    asio::co_spawn(io, cache->get(std::chrono::steady_clock::now() + 50ms), [&](std::exception_ptr e, aws_credentials) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const sds::error& err) {
            timed_out = err.condition();
        }
    });
    asio::co_spawn(io, cache->get(std::nullopt),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, aws_credentials) {
                       try {
                           if (e) std::rethrow_exception(e);
                       } catch (const sds::error& err) {
                           cancelled = err.condition();
                       }
                   }));
    asio::co_spawn(io, cache->get(std::nullopt), [&](std::exception_ptr e, aws_credentials c) {
        if (!e) patient = c.access_key_id;
    });
    asio::steady_timer cancel_at(io, 100ms);
    cancel_at.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
    io.run();
    CHECK(timed_out == errc::timeout);
    CHECK(cancelled == errc::cancelled);
    CHECK(patient == std::optional<std::string>("AKID1"));
    CHECK(source.fetched == 1);
}

TEST_CASE("credentials that have already expired when fetched are an auth_failed fetch", "[credentials]") {
    fake_source source;
    source.lifetime = -1s;
    auto cache = cache_t::create(source.fn(), "fake source");
    const auto e = expect_error([&] { test::run([&](auto&) { return cache->get(std::nullopt); }); });
    CHECK(e.condition() == errc::auth_failed);
    CHECK(std::string(e.what()).find("fake source") != std::string::npos);
    CHECK(source.fetched == 1);
}

TEST_CASE("credentials without an expiry are fetched once", "[credentials]") {
    int fetched = 0;
    auto cache = cache_t::create(
        [&]() -> asio::awaitable<aws_credentials> {
            ++fetched;
            co_return aws_credentials{"AKID", "secret", "", std::nullopt};
        },
        "fixed");
    for (int i = 0; i < 5; ++i) CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID");
    CHECK(fetched == 1);
}

// ---------------------------------------------------------------- shared files

TEST_CASE("the shared files: profiles of both files, the credentials file winning, comments, services", "[credentials]") {
    const auto files = shared_files::parse(
        "# keys\n"
        "[default]\n"
        "aws_access_key_id = AKIDDEFAULT\n"
        "aws_secret_access_key=secret/with+signs==\n"
        "\n"
        "[dev]\n"
        "; a comment\n"
        "aws_access_key_id = AKIDDEV\r\n"
        "aws_secret_access_key = devsecret\r\n"
        "aws_session_token = devtoken\r\n",
        "[default]\n"
        "region = eu-west-1\n"
        "[profile dev]\n"
        "region = us-west-2\n"
        "aws_access_key_id = AKIDFROMCONFIG\n"
        "services = local\n"
        "s3 =\n"
        "  max_concurrent_requests = 4\n"
        "[profile role]\n"
        "role_arn = arn:aws:iam::123456789012:role/r\n"
        "source_profile = dev\n"
        "[services local]\n"
        "dynamodb =\n"
        "  endpoint_url = http://127.0.0.1:8000\n"
        "[sso-session corp]\n"
        "sso_region = us-east-1\n");
    const auto def = files.profile("default");
    REQUIRE(def);
    CHECK(def->get("aws_access_key_id") == "AKIDDEFAULT");
    CHECK(def->get("aws_secret_access_key") == "secret/with+signs==");
    CHECK(def->get("region") == "eu-west-1");
    const auto dev = files.profile("dev");
    REQUIRE(dev);
    CHECK(dev->get("aws_access_key_id") == "AKIDDEV");  // the credentials file wins
    CHECK(dev->get("aws_session_token") == "devtoken");
    CHECK(dev->get("region") == "us-west-2");
    CHECK(dev->get("s3.max_concurrent_requests") == "4");
    CHECK(files.profile("role")->get("source_profile") == "dev");
    REQUIRE(files.services("local"));
    CHECK(files.services("local")->get("dynamodb.endpoint_url") == "http://127.0.0.1:8000");
    CHECK_FALSE(files.profile("corp"));
    CHECK_FALSE(files.profile("missing"));
}

// ---------------------------------------------------------------- parsing answers

TEST_CASE("ISO 8601 expirations as the endpoints write them", "[credentials]") {
    const auto t = parse_iso8601("2026-11-27T09:00:00Z");
    REQUIRE(t);
    CHECK(std::chrono::system_clock::to_time_t(*t) == 1795770000);
    CHECK(parse_iso8601("2026-11-27T09:00:00.123Z") == t);
    CHECK(parse_iso8601("2026-11-27T09:00:00+00:00") == t);
    CHECK_FALSE(parse_iso8601("tomorrow"));
    CHECK_FALSE(parse_iso8601("2026-13-27T09:00:00Z"));
    CHECK_FALSE(parse_iso8601("2026-11-27T09:00:00+02:00"));
}

TEST_CASE("credentials from the container and instance metadata JSON", "[credentials]") {
    const auto c = credentials_from_json(
        "src", R"({"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"s3cr3t","Token":"tok","Expiration":"2026-11-27T09:00:00Z"})",
        "Token");
    CHECK(c.access_key_id == "ASIA1");
    CHECK(c.secret_access_key == "s3cr3t");
    CHECK(c.session_token == "tok");
    CHECK(c.expiration == parse_iso8601("2026-11-27T09:00:00Z"));
    const auto refused = expect_error([] { credentials_from_json("src", R"({"Code":"Failure"})", "Token"); });
    CHECK(refused.condition() == errc::auth_failed);
    const auto garbage = expect_error([] { credentials_from_json("src", R"({"AccessKeyId": )", "Token"); });
    CHECK(garbage.condition() == errc::protocol_error);
    const auto no_date = expect_error([] {
        credentials_from_json("src", R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"})", "Token");
    });
    CHECK(no_date.condition() == errc::protocol_error);
}

TEST_CASE("credentials from STS's XML, and its errors without any secret", "[credentials]") {
    fetch_response ok;
    ok.status = 200;
    ok.body = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAXML</AccessKeyId>
      <SecretAccessKey>xmlsecret</SecretAccessKey>
      <SessionToken>xmltoken</SessionToken>
      <Expiration>2026-11-27T09:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";
    const auto c = credentials_from_sts("web identity", "AssumeRoleWithWebIdentity", ok);
    CHECK(c.access_key_id == "ASIAXML");
    CHECK(c.secret_access_key == "xmlsecret");
    CHECK(c.session_token == "xmltoken");
    CHECK(c.expiration == parse_iso8601("2026-11-27T09:00:00Z"));

    fetch_response denied;
    denied.status = 403;
    denied.body = R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error><RequestId>r</RequestId></ErrorResponse>)";
    const auto e = expect_error([&] { credentials_from_sts("web identity", "AssumeRoleWithWebIdentity", denied); });
    CHECK(e.condition() == errc::auth_failed);
    CHECK(std::string(e.what()).find("web identity: STS AssumeRoleWithWebIdentity answered HTTP 403 InvalidIdentityToken: "
                                     "Incorrect token audience") != std::string::npos);

    fetch_response broken;
    broken.status = 200;
    broken.body = "<AssumeRoleResponse><oops";
    CHECK(expect_error([&] { credentials_from_sts("p", "AssumeRole", broken); }).condition() == errc::protocol_error);
    fetch_response busy;
    busy.status = 503;
    CHECK(expect_error([&] { credentials_from_sts("p", "AssumeRole", busy); }).condition() == errc::service_error);
}

TEST_CASE("the STS endpoint: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else regional", "[credentials]") {
    const std::string saved_sts = std::getenv("AWS_ENDPOINT_URL_STS") ? std::getenv("AWS_ENDPOINT_URL_STS") : "";
    const std::string saved_all = std::getenv("AWS_ENDPOINT_URL") ? std::getenv("AWS_ENDPOINT_URL") : "";
    ::unsetenv("AWS_ENDPOINT_URL_STS");
    ::unsetenv("AWS_ENDPOINT_URL");
    CHECK(sts_endpoint("eu-central-1") == "https://sts.eu-central-1.amazonaws.com");
    CHECK(expect_error([] { sts_endpoint("eu central"); }).condition() == errc::invalid_argument);
    ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
    CHECK(sts_endpoint("eu-central-1") == "http://127.0.0.1:1");
    ::setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2", 1);
    CHECK(sts_endpoint("eu-central-1") == "http://127.0.0.1:2");
    if (saved_sts.empty()) ::unsetenv("AWS_ENDPOINT_URL_STS");
    else ::setenv("AWS_ENDPOINT_URL_STS", saved_sts.c_str(), 1);
    if (saved_all.empty()) ::unsetenv("AWS_ENDPOINT_URL");
    else ::setenv("AWS_ENDPOINT_URL", saved_all.c_str(), 1);
}

TEST_CASE("a container endpoint outside the allowed hosts is refused before anything is sent", "[credentials]") {
    ::setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.7/creds", 1);
    ::unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    auto provider = aws_container_credentials();
    const auto e = expect_error([&] { test::run([&](auto&) { return provider->fetch(); }); });
    ::unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https") !=
          std::string::npos);
}

TEST_CASE("instance metadata is off with AWS_EC2_METADATA_DISABLED, and the chain then says what to set",
          "[credentials]") {
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                          "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"})
        ::unsetenv(v);
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    ::setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    auto imds = aws_instance_metadata_credentials();
    const auto off = expect_error([&] { test::run([&](auto&) { return imds->fetch(); }); });
    CHECK(off.condition() == errc::invalid_argument);
    auto chain = aws_default_credentials_chain();
    const auto none = expect_error([&] { test::run([&](auto&) { return chain->fetch(); }); });
    CHECK(none.condition() == errc::invalid_argument);
    CHECK(std::string(none.what()).find("AWS_ACCESS_KEY_ID") != std::string::npos);
    ::unsetenv("AWS_EC2_METADATA_DISABLED");
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    ::unsetenv("AWS_CONFIG_FILE");
}

TEST_CASE("callers on 4 threads and their own strands share each fetch across expiries", "[credentials][stress]") {
    // Short-lived credentials, fetched on whichever thread asks first;
    // 4,000 callers over about a second, each on a strand of its own.
    std::atomic<int> fetched{0};
    auto cache = cache_t::create(
        [&]() -> asio::awaitable<aws_credentials> {
            const int n = ++fetched;
            asio::steady_timer t(co_await asio::this_coro::executor, 5ms);
            co_await t.async_wait(asio::use_awaitable);
            co_return aws_credentials{"AKID" + std::to_string(n), "secret", "token",
                                      std::chrono::system_clock::now() + 300ms};
        },
        "fake source");
    asio::io_context io{4};
    std::atomic<int> ok{0}, failed{0};
    for (int i = 0; i < 4000; ++i) {
        auto strand = asio::make_strand(io);
        asio::co_spawn(
            strand,
            [&, i]() -> asio::awaitable<void> {
                asio::steady_timer wait(co_await asio::this_coro::executor, std::chrono::microseconds(i * 250));
                co_await wait.async_wait(asio::use_awaitable);
                const auto c = co_await cache->get(std::chrono::steady_clock::now() + 5s);
                if (c.access_key_id.rfind("AKID", 0) == 0 && c.expiration > std::chrono::system_clock::now()) ++ok;
                else ++failed;
            },
            [&](std::exception_ptr e) {
                if (e) ++failed;
            });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(ok == 4000);
    // About one fetch per 150 ms (the refresh window is the last half of
    // 300 ms) over about 1 s: never one per caller.
    CHECK(fetched >= 2);
    CHECK(fetched <= 40);
    CHECK(cache->fetches() == static_cast<std::uint64_t>(fetched.load()));
}

// ---------------------------------------------------------------- what a review proved

TEST_CASE("a fetch that never ends fails at the fetch timeout and the next caller fetches again", "[credentials]") {
    int calls = 0;
    auto cache = cache_t::create(
        [&]() -> asio::awaitable<aws_credentials> {
            if (++calls == 1) {
                asio::steady_timer forever(co_await asio::this_coro::executor, std::chrono::hours(1));
                co_await forever.async_wait(asio::use_awaitable);
            }
            co_return aws_credentials{"AKID", "secret", "", std::nullopt};
        },
        "stuck source", 200ms);
    const auto e = expect_error([&] { test::run([&](auto&) { return cache->get(std::nullopt); }); });
    CHECK(e.condition() == errc::timeout);
    CHECK(std::string(e.what()).find("stuck source: no credentials within 200 ms") != std::string::npos);
    test::run([&](auto&) { return sleep_for(1100ms); });  // the backoff
    CHECK(test::run([&](auto&) { return cache->get(std::nullopt); }).access_key_id == "AKID");
    CHECK(calls == 2);
}

TEST_CASE("a source throwing something other than sds::error gives an sds::error naming it", "[credentials]") {
    auto cache = cache_t::create(
        []() -> asio::awaitable<aws_credentials> {
            throw std::runtime_error("boom");
            co_return aws_credentials{};
        },
        "odd source");
    const auto e = expect_error([&] { test::run([&](auto&) { return cache->get(std::nullopt); }); });
    CHECK(e.condition() == errc::auth_failed);
    CHECK(std::string(e.what()).find("odd source: boom") != std::string::npos);
}

TEST_CASE("expiries past what the clock holds are clamped, not wrapped", "[credentials]") {
    CHECK(parse_iso8601("9999-12-31T23:59:59Z") == std::chrono::system_clock::time_point::max());
    const auto c = credentials_from_json("src", R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"9999-12-31T23:59:59Z"})",
                                         "Token");
    CHECK(c.expiration > std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 100));
}

TEST_CASE("STS answers nested deep or too long are a protocol_error, parsed no further", "[credentials]") {
    fetch_response deep;
    deep.status = 403;
    for (int i = 0; i < 300000; ++i) deep.body += "<a>";
    CHECK(expect_error([&] { credentials_from_sts("p", "AssumeRole", deep); }).condition() == errc::auth_failed);
    deep.status = 200;
    CHECK(expect_error([&] { credentials_from_sts("p", "AssumeRole", deep); }).condition() == errc::protocol_error);
    fetch_response quoting;
    quoting.status = 400;
    quoting.body = "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>Token eyJ.secret.token is bad</Message>"
                   "</Error></ErrorResponse>";
    const auto e = expect_error([&] { credentials_from_sts("web identity", "AssumeRoleWithWebIdentity", quoting, "eyJ.secret.token"); });
    CHECK(std::string(e.what()).find("eyJ.secret.token") == std::string::npos);
    CHECK(std::string(e.what()).find("InvalidIdentityToken") != std::string::npos);
    // Quoted as the form carried it: withheld too.
    quoting.body = "<ErrorResponse><Error><Code>InvalidParameterValue</Code><Message>The request was: POST /; body: "
                   "Action=AssumeRoleWithWebIdentity&amp;WebIdentityToken=eyJ.se%2Bcret%2Ftoken%3D</Message></Error></ErrorResponse>";
    const auto encoded = expect_error([&] { credentials_from_sts("web identity", "AssumeRoleWithWebIdentity", quoting, "eyJ.se+cret/token="); });
    CHECK(std::string(encoded.what()).find("se%2Bcret") == std::string::npos);
    CHECK(std::string(encoded.what()).find("(message withheld: it quotes the request)") != std::string::npos);
}

TEST_CASE("a text quotes a secret as it is or percent-encoded in any way, whole or cut", "[credentials]") {
    CHECK(quotes("token eyJ.se+cret/token= is bad", "eyJ.se+cret/token="));
    CHECK(quotes("WebIdentityToken=eyJ.se%2Bcret%2Ftoken%3D&x=1", "eyJ.se+cret/token="));
    CHECK(quotes("WebIdentityToken=eyJ.se%2bcret%2ftoken%3d&x=1", "eyJ.se+cret/token="));
    CHECK(quotes("client_secret=a%20b", "a b"));
    CHECK_FALSE(quotes("WebIdentityToken=eyJ.se%2Bcret", "eyJ.se+cret/token="));
    CHECK_FALSE(quotes("EYJ.SE%2BCRET%2FTOKEN%3D", "eyJ.se+cret/token="));  // the secret's own letters keep their case
    // Re-encoded as other encoders write forms: '~' as %7E or %7e, '*' left
    // as is, mixed-case hex, '+' for a space.
    const std::string entra_like = "Xq48Q~vR2tLm.Kp9sWd_Zy3Nf-Hb7cJg1aEo5uTi";
    CHECK(quotes("client_secret=Xq48Q%7EvR2tLm.Kp9sWd_Zy3Nf-Hb7cJg1aEo5uTi", entra_like));
    CHECK(quotes("client_secret=Xq48Q%7evR2tLm.Kp9sWd_Zy3Nf-Hb7cJg1aEo5uTi", entra_like));
    CHECK(quotes("client_secret=ab*cdefghijklmn", "ab*cdefghijklmn"));
    CHECK(quotes("t=se%2bcret%2Ftoken%3d", "se+cret/token="));
    CHECK(quotes("secret=a+b+c+d+e+f+g", "a b c d e f g"));
    // Cut: any 12 characters of it in a row.
    CHECK(quotes("the client_secret 'Xq48Q~vR2tLm.Kp9sWd_Zy3N...' is not valid", entra_like));
    CHECK(quotes("...m.Kp9sWd_Zy3Nf", entra_like));
    CHECK_FALSE(quotes("Xq48Q~vR2tL", entra_like));  // 11
    CHECK_FALSE(quotes("anything", ""));
    CHECK_FALSE(quotes("", "secret"));
}

TEST_CASE("an endpoint URL with user info or a query is never quoted in a message", "[credentials]") {
    ::setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://user:S3CRET-PASSWORD@example.com/creds", 1);
    auto container = aws_container_credentials();
    const auto e = expect_error([&] { test::run([&](auto&) { return container->fetch(); }); });
    ::unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("S3CRET") == std::string::npos);
    CHECK(std::string(e.what()).find("container credentials") != std::string::npos);
    const auto token_file = std::filesystem::temp_directory_path() / ("sds-token-" + std::to_string(::getpid()));
    std::ofstream(token_file) << "token";
    ::setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.c_str(), 1);
    ::setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r", 1);
    ::setenv("AWS_ENDPOINT_URL_STS", "https://sts.example.com/?X-Amz-Security-Token=S3CRET-STS", 1);
    auto web = aws_web_identity_credentials();
    const auto sts = expect_error([&] { test::run([&](auto&) { return web->fetch(); }); });
    for (const char* v : {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL_STS"}) ::unsetenv(v);
    std::filesystem::remove(token_file);
    CHECK(sts.condition() == errc::invalid_argument);
    CHECK(std::string(sts.what()).find("S3CRET") == std::string::npos);
    CHECK(std::string(sts.what()).find("web identity") != std::string::npos);
}

TEST_CASE("the default chain passes over a profile that holds only settings", "[credentials]") {
    const auto dir = std::filesystem::temp_directory_path() / ("sds-chain-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config") << "[default]\nregion = eu-west-1\n";
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                          "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"})
        ::unsetenv(v);
    ::setenv("AWS_CONFIG_FILE", (dir / "config").c_str(), 1);
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir / "credentials").c_str(), 1);
    ::setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);  // closed: fails at once
    auto chain = aws_default_credentials_chain();
    const auto e = expect_error([&] { test::run([&](auto&) { return chain->fetch(); }); });
    for (const char* v : {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"})
        ::unsetenv(v);
    std::filesystem::remove_all(dir);
    INFO(e.what());
    CHECK(std::string(e.what()).find("container credentials: cannot reach http://127.0.0.1:1") != std::string::npos);
}
