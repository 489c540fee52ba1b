// SigV4 behaviour beyond the vectors: bad input, the key cache, flags.
#include <catch2/catch.hpp>

#include <sds/sigv4.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using namespace sds;
using Catch::Matchers::Contains;

namespace {

const sigv4::credentials good_creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

sigv4::signing_params params_at(std::chrono::system_clock::time_point t) {
    sigv4::signing_params p;
    p.region = "us-east-1";
    p.service = "dynamodb";
    p.time = t;
    return p;
}

const auto fixed_time = std::chrono::system_clock::from_time_t(1440938160);  // 2015-08-30T12:36:00Z

const sigv4::header get_item_headers[] = {
    {"Host", "dynamodb.us-east-1.amazonaws.com"},
    {"Content-Type", "application/x-amz-json-1.0"},
    {"X-Amz-Target", "DynamoDB_20120810.GetItem"},
};
const sigv4::request_view get_item{"POST", "/", "", get_item_headers, R"({"TableName":"t","Key":{"key":{"S":"k"}}})"};

} // namespace

TEST_CASE("the signing time is formatted the way SigV4 expects", "[sigv4]") {
    CHECK(sigv4::format_amz_date(fixed_time) == "20150830T123600Z");
}

TEST_CASE("empty credentials are refused before anything is signed", "[sigv4]") {
    const auto p = params_at(fixed_time);
    CHECK_THROWS_WITH(sigv4::sign_headers(get_item, {"", "secret", ""}, p), Contains("access key id is empty"));
    CHECK_THROWS_WITH(sigv4::sign_headers(get_item, {"AKID", "", ""}, p), Contains("secret access key is empty"));
    CHECK_THROWS_AS(sigv4::sign_headers(get_item, {"AKID/x", "secret", ""}, p), sigv4::signing_error);
    auto no_region = p;
    no_region.region = "";
    CHECK_THROWS_WITH(sigv4::sign_headers(get_item, good_creds, no_region), Contains("region is empty"));
}

TEST_CASE("a secret never appears in a signing error", "[sigv4]") {
    const std::string secret = "very-secret-key-material";
    const sigv4::header bad[] = {{"Host", "h"}, {"X-Bad", "a\r\nInjected: yes"}};
    try {
        sigv4::sign_headers({"POST", "/", "", bad, ""}, {"AKID", secret, "token-secret"}, params_at(fixed_time));
        FAIL("expected signing_error");
    } catch (const sigv4::signing_error& e) {
        CHECK_THAT(e.what(), !Contains(secret) && !Contains("token-secret"));
    }
}

TEST_CASE("header names and values with control characters are refused", "[sigv4]") {
    const auto p = params_at(fixed_time);
    const sigv4::header crlf_value[] = {{"Host", "h"}, {"X-Bad", "a\r\nInjected: yes"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"POST", "/", "", crlf_value, ""}, good_creds, p),
                      Contains("control character"));
    const sigv4::header nul_value[] = {{"Host", "h"}, {"X-Bad", std::string_view("a\0b", 3)}};
    CHECK_THROWS_AS(sigv4::sign_headers({"POST", "/", "", nul_value, ""}, good_creds, p), sigv4::signing_error);
    const sigv4::header bad_name[] = {{"Host", "h"}, {"X Bad", "v"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"POST", "/", "", bad_name, ""}, good_creds, p), Contains("header name"));
    const sigv4::header empty_name[] = {{"Host", "h"}, {"", "v"}};
    CHECK_THROWS_AS(sigv4::sign_headers({"POST", "/", "", empty_name, ""}, good_creds, p), sigv4::signing_error);
    // A tab inside a value is ordinary whitespace, not a control character to refuse.
    const sigv4::header tab_value[] = {{"Host", "h"}, {"X-Tab", "a\tb"}};
    CHECK_NOTHROW(sigv4::sign_headers({"POST", "/", "", tab_value, ""}, good_creds, p));
}

TEST_CASE("a path that is not absolute is refused", "[sigv4]") {
    const auto p = params_at(fixed_time);
    const sigv4::header hs[] = {{"Host", "h"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "relative/path", "", hs, ""}, good_creds, p), Contains("absolute"));
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "", "", hs, ""}, good_creds, p), Contains("absolute"));
}

TEST_CASE("a request without Host, or with a malformed query escape, is refused", "[sigv4]") {
    const auto p = params_at(fixed_time);
    const sigv4::header no_host[] = {{"Content-Type", "x"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "", no_host, ""}, good_creds, p), Contains("Host"));
    const sigv4::header hs[] = {{"Host", "h"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "a=%zz", hs, ""}, good_creds, p), Contains("percent escape"));
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "a=%4", hs, ""}, good_creds, p), Contains("percent escape"));
}

TEST_CASE("an X-Amz-Date that disagrees with the signing time is refused", "[sigv4]") {
    const sigv4::header hs[] = {{"Host", "h"}, {"X-Amz-Date", "20200101T000000Z"}};
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "", hs, ""}, good_creds, params_at(fixed_time)),
                      Contains("disagrees with the signing time"));
}

TEST_CASE("a presigned expiry outside 1 second to 7 days is refused", "[sigv4]") {
    auto p = params_at(fixed_time);
    const sigv4::header hs[] = {{"Host", "h"}};
    p.expires = std::chrono::seconds(0);
    CHECK_THROWS_AS(sigv4::presign({"GET", "/", "", hs, ""}, good_creds, p), sigv4::signing_error);
    p.expires = std::chrono::seconds(7 * 24 * 3600 + 1);
    CHECK_THROWS_AS(sigv4::presign({"GET", "/", "", hs, ""}, good_creds, p), sigv4::signing_error);
    p.expires = std::chrono::seconds(7 * 24 * 3600);
    CHECK_NOTHROW(sigv4::presign({"GET", "/", "", hs, ""}, good_creds, p));
}

TEST_CASE("the signing key cache derives once per day, region and service and signs identically", "[sigv4]") {
    sigv4::signing_key_cache cache;
    const auto p = params_at(fixed_time);
    const auto uncached = sigv4::sign_headers(get_item, good_creds, p);
    for (int i = 0; i < 5; ++i) CHECK(sigv4::sign_headers(get_item, good_creds, p, &cache).signature == uncached.signature);
    CHECK(cache.derivations() == 1);

    // The next day needs a new key; so do another region and another secret.
    const auto next_day = params_at(fixed_time + std::chrono::hours(24));
    CHECK(sigv4::sign_headers(get_item, good_creds, next_day, &cache).signature ==
          sigv4::sign_headers(get_item, good_creds, next_day).signature);
    auto other_region = p;
    other_region.region = "eu-west-1";
    sigv4::sign_headers(get_item, good_creds, other_region, &cache);
    sigv4::sign_headers(get_item, {"AKIDEXAMPLE", "another-secret", ""}, p, &cache);
    CHECK(cache.derivations() == 4);
    CHECK(sigv4::sign_headers(get_item, good_creds, p, &cache).signature == uncached.signature);
    CHECK(cache.derivations() == 4);
}

TEST_CASE("the signing key cache keeps the newest days when it fills up", "[sigv4]") {
    sigv4::signing_key_cache cache;
    for (int day = 0; day < 20; ++day) {
        auto p = params_at(fixed_time + std::chrono::hours(24 * day));
        sigv4::sign_headers(get_item, good_creds, p, &cache);
    }
    const auto derived = cache.derivations();
    CHECK(derived == 20);
    // The newest day is still cached, the oldest is not.
    sigv4::sign_headers(get_item, good_creds, params_at(fixed_time + std::chrono::hours(24 * 19)), &cache);
    CHECK(cache.derivations() == derived);
    sigv4::sign_headers(get_item, good_creds, params_at(fixed_time), &cache);
    CHECK(cache.derivations() == derived + 1);
}

TEST_CASE("one signing key cache serves many threads", "[sigv4]") {
    sigv4::signing_key_cache cache;
    const auto p = params_at(fixed_time);
    const std::string expected = sigv4::sign_headers(get_item, good_creds, p).signature;
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i)
                if (sigv4::sign_headers(get_item, good_creds, p, &cache).signature != expected) ++wrong[t];
        });
    for (auto& th : threads) th.join();
    CHECK(wrong == std::vector<int>(4, 0));
    CHECK(cache.derivations() == 1);
}

TEST_CASE("a session token is added and signed, or added unsigned when omitted", "[sigv4]") {
    const sigv4::credentials with_token{"AKID", "secret", "TOKEN"};
    auto p = params_at(fixed_time);
    const auto s = sigv4::sign_headers(get_item, with_token, p);
    REQUIRE(s.fields.size() == 3);
    CHECK(s.fields[0] == sigv4::field{"X-Amz-Security-Token", "TOKEN"});
    CHECK(s.signed_headers == "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");

    p.omit_session_token = true;
    const auto omitted = sigv4::sign_headers(get_item, with_token, p);
    CHECK(omitted.fields[0] == sigv4::field{"X-Amz-Security-Token", "TOKEN"});
    CHECK(omitted.signed_headers == "content-type;host;x-amz-date;x-amz-target");
    CHECK(omitted.signature == sigv4::sign_headers(get_item, {"AKID", "secret", ""}, params_at(fixed_time)).signature);
}

TEST_CASE("without path normalisation or double encoding the path is signed as sent", "[sigv4]") {
    CHECK(sigv4::canonical_path("/a//b/../c%2F", false, false) == "/a//b/../c%2F");
    CHECK(sigv4::canonical_path("/a//b/../c%2F", true, false) == "/a/c%2F");
    CHECK(sigv4::canonical_path("/a//b/../c%2F", true, true) == "/a/c%252F");
    CHECK(sigv4::canonical_path("/a/b/..", true, true) == "/a/");
}

TEST_CASE("a presigned request whose token is already a header gets no second, unsigned token parameter", "[sigv4]") {
    const sigv4::header hs[] = {{"Host", "h"}, {"X-Amz-Security-Token", "TOKEN"}};
    const auto s = sigv4::presign({"GET", "/", "", hs, ""}, {"AKID", "secret", "TOKEN"}, params_at(fixed_time));
    for (const auto& f : s.fields) CHECK(f.name != "X-Amz-Security-Token");
    CHECK(s.signed_headers == "host;x-amz-security-token");

    const sigv4::header host_only[] = {{"Host", "h"}};
    const auto q = sigv4::presign({"GET", "/", "", host_only, ""}, {"AKID", "secret", "TOKEN"}, params_at(fixed_time));
    CHECK(std::count_if(q.fields.begin(), q.fields.end(), [](const auto& f) { return f.name == "X-Amz-Security-Token"; }) == 1);
    CHECK_THAT(q.canonical_request, Contains("X-Amz-Security-Token=TOKEN"));
}

TEST_CASE("presigning a query that already carries X-Amz auth parameters is refused", "[sigv4]") {
    const sigv4::header hs[] = {{"Host", "h"}};
    CHECK_THROWS_WITH(sigv4::presign({"GET", "/", "X-Amz-Signature=abc", hs, ""}, good_creds, params_at(fixed_time)),
                      Contains("X-Amz-Signature"));
    CHECK_THROWS_AS(sigv4::presign({"GET", "/", "a=1&x-amz-date=1", hs, ""}, good_creds, params_at(fixed_time)),
                    sigv4::signing_error);
    CHECK_THROWS_AS(sigv4::presign({"GET", "/", "X%2DAmz%2DExpires=5", hs, ""}, good_creds, params_at(fixed_time)),
                    sigv4::signing_error);
}

TEST_CASE("a raw space or plus in the query is refused, and their escapes are signed", "[sigv4]") {
    const sigv4::header hs[] = {{"Host", "h"}};
    const auto p = params_at(fixed_time);
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "a=b c", hs, ""}, good_creds, p), Contains("%20"));
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/", "x=1+2", hs, ""}, good_creds, p), Contains("%2B"));
    const auto s = sigv4::sign_headers({"GET", "/", "x=1%2B2&a=b%20c", hs, ""}, good_creds, p);
    CHECK_THAT(s.canonical_request, Contains("\na=b%20c&x=1%2B2\n"));
}

TEST_CASE("a malformed percent escape in the path is refused", "[sigv4]") {
    const sigv4::header hs[] = {{"Host", "h"}};
    const auto p = params_at(fixed_time);
    CHECK_THROWS_WITH(sigv4::sign_headers({"GET", "/a/%zz", "", hs, ""}, good_creds, p), Contains("percent escape"));
    CHECK_THROWS_AS(sigv4::sign_headers({"GET", "/a%4", "", hs, ""}, good_creds, p), sigv4::signing_error);
    CHECK_NOTHROW(sigv4::sign_headers({"GET", "/a%2Fb", "", hs, ""}, good_creds, p));
}

TEST_CASE("headers the signature needs cannot be left unsigned", "[sigv4]") {
    auto p = params_at(fixed_time);
    for (std::string_view name : {"Host", "x-amz-date", "X-Amz-Security-Token", "x-amz-content-sha256"}) {
        const std::string_view list[] = {name};
        p.unsigned_headers = list;
        CHECK_THROWS_WITH(sigv4::sign_headers(get_item, good_creds, p), Contains("must be signed"));
    }
}

TEST_CASE("a session token with blanks is refused", "[sigv4]") {
    CHECK_THROWS_WITH(sigv4::sign_headers(get_item, {"AKID", "secret", " tok en"}, params_at(fixed_time)),
                      Contains("session token"));
}

TEST_CASE("signing times before 1970 are refused and fractions of a second round down", "[sigv4]") {
    CHECK(sigv4::format_amz_date(fixed_time + std::chrono::milliseconds(999)) == "20150830T123600Z");
    CHECK_THROWS_AS(sigv4::format_amz_date(std::chrono::system_clock::from_time_t(0) - std::chrono::milliseconds(500)),
                    sigv4::signing_error);
    // system_clock's far end (2262 with nanoseconds) is still a valid year.
    CHECK(sigv4::format_amz_date(std::chrono::system_clock::time_point::max()).substr(0, 4) == "2262");
    CHECK_THROWS_AS(sigv4::sign_headers(get_item, good_creds, params_at(std::chrono::system_clock::time_point::min())),
                    sigv4::signing_error);
}
