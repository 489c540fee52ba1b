// SharedKey behaviour beyond the vectors: keys, dates, bad input.
#include <catch2/catch.hpp>

#include <sds/sharedkey.hpp>

using namespace sds;
using Catch::Matchers::Contains;

namespace {
// The Azurite development key: public, documented by Microsoft.
constexpr std::string_view dev_key =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const sharedkey::header good_headers[] = {{"x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"},
                                          {"Content-Type", "application/json"}};
} // namespace

TEST_CASE("a malformed or empty base64 account key is refused with a clear error", "[sharedkey]") {
    CHECK_THROWS_WITH(sharedkey::account_key::from_base64(""), Contains("empty"));
    CHECK_THROWS_WITH(sharedkey::account_key::from_base64("not base64!"), Contains("not valid base64"));
    CHECK_THROWS_WITH(sharedkey::account_key::from_base64("a"), Contains("not valid base64"));
    CHECK_NOTHROW(sharedkey::account_key::from_base64(dev_key));
}

TEST_CASE("an empty or malformed account name is refused", "[sharedkey]") {
    const sharedkey::request_view req{"GET", "/devstoreaccount1/Tables", "", good_headers};
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key, req, ""), Contains("account name is empty"));
    CHECK_THROWS_AS(sharedkey::string_to_sign(sharedkey::scheme::shared_key, req, "Dev/Account"),
                    sharedkey::signing_error);
}

TEST_CASE("a key-less credential is refused rather than signed with nothing", "[sharedkey]") {
    const sharedkey::request_view req{"GET", "/devstoreaccount1/Tables", "", good_headers};
    CHECK_THROWS_WITH(sharedkey::sign(sharedkey::scheme::shared_key, req, {"devstoreaccount1", {}}), Contains("key is empty"));
}

TEST_CASE("control characters in headers and a relative path are refused", "[sharedkey]") {
    const auto key = sharedkey::account_key::from_base64(dev_key);
    const sharedkey::header crlf[] = {{"x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Evil: 1"}};
    CHECK_THROWS_WITH(sharedkey::sign(sharedkey::scheme::shared_key, {"GET", "/a", "", crlf}, {"devstoreaccount1", key}),
                      Contains("control character"));
    CHECK_THROWS_WITH(sharedkey::sign(sharedkey::scheme::shared_key, {"GET", "Tables", "", good_headers},
                                      {"devstoreaccount1", key}),
                      Contains("absolute"));
    CHECK_THROWS_AS(sharedkey::sign(sharedkey::scheme::shared_key, {"GET", "/a b", "", good_headers},
                                    {"devstoreaccount1", key}),
                    sharedkey::signing_error);
}

TEST_CASE("a request with no date header is refused", "[sharedkey]") {
    const sharedkey::header no_date[] = {{"Content-Type", "application/json"}};
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key_lite, {"GET", "/a", "", no_date}, "acct"),
                      Contains("neither an x-ms-date nor a Date"));
}

TEST_CASE("x-ms-date fills the Date line, and Date stands in when x-ms-date is absent", "[sharedkey]") {
    const sharedkey::header ms[] = {{"X-MS-Date", "Mon, 01 Jan 2024 00:00:00 GMT"}};
    const sharedkey::header plain[] = {{"Date", "Tue, 02 Jan 2024 00:00:00 GMT"}};
    const sharedkey::header same[] = {{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"}, {"x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"}};
    CHECK(sharedkey::string_to_sign(sharedkey::scheme::shared_key_lite, {"GET", "/t", "", ms}, "acct") ==
          "Mon, 01 Jan 2024 00:00:00 GMT\n/acct/t");
    CHECK(sharedkey::string_to_sign(sharedkey::scheme::shared_key_lite, {"GET", "/t", "", plain}, "acct") ==
          "Tue, 02 Jan 2024 00:00:00 GMT\n/acct/t");
    CHECK(sharedkey::string_to_sign(sharedkey::scheme::shared_key_lite, {"GET", "/t", "", same}, "acct") ==
          "Mon, 01 Jan 2024 00:00:00 GMT\n/acct/t");
}

TEST_CASE("dates are formatted in RFC 1123 whatever the locale", "[sharedkey]") {
    CHECK(sharedkey::format_date(std::chrono::system_clock::from_time_t(1704067200)) == "Mon, 01 Jan 2024 00:00:00 GMT");
    CHECK(sharedkey::format_date(std::chrono::system_clock::from_time_t(1440938160)) == "Sun, 30 Aug 2015 12:36:00 GMT");
}

TEST_CASE("only the comp query parameter enters the canonicalized resource", "[sharedkey]") {
    CHECK(sharedkey::canonicalized_resource("a", "/t()", "$filter=x&$top=5") == "/a/t()");
    CHECK(sharedkey::canonicalized_resource("a", "/", "restype=service&comp=properties") == "/a/?comp=properties");
    CHECK(sharedkey::canonicalized_resource("a", "/t", "compx=1&comp=acl") == "/a/t?comp=acl");
}

TEST_CASE("a comp parameter that servers could read differently is refused", "[sharedkey]") {
    CHECK_THROWS_WITH(sharedkey::canonicalized_resource("a", "/t", "comp=a&comp=b"), Contains("more than one comp"));
    CHECK_THROWS_WITH(sharedkey::canonicalized_resource("a", "/t", "comp="), Contains("empty comp"));
    CHECK_THROWS_WITH(sharedkey::canonicalized_resource("a", "/t", "COMP=acl"), Contains("spells comp"));
    CHECK_THROWS_WITH(sharedkey::canonicalized_resource("a", "/t", "%63omp=acl"), Contains("spells comp"));
    CHECK(sharedkey::canonicalized_resource("a", "/t", "%24filter=x&comp=acl") == "/a/t?comp=acl");
}

TEST_CASE("signed header values are trimmed as the service trims them, and a repeated one is refused", "[sharedkey]") {
    const sharedkey::header padded[] = {{"x-ms-date", " Mon, 01 Jan 2024 00:00:00 GMT\t"}, {"Content-Type", " application/json "}};
    CHECK(sharedkey::string_to_sign(sharedkey::scheme::shared_key, {"PUT", "/t", "", padded}, "acct") ==
          "PUT\n\napplication/json\nMon, 01 Jan 2024 00:00:00 GMT\n/acct/t");
    const sharedkey::header twice[] = {{"x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"}, {"Content-Type", "a"},
                                       {"content-type", "b"}};
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key, {"PUT", "/t", "", twice}, "acct"),
                      Contains("more than once"));
    const sharedkey::header empty_date[] = {{"x-ms-date", "  "}};
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key_lite, {"GET", "/t", "", empty_date}, "acct"),
                      Contains("empty"));
}

TEST_CASE("a lowercase method and raw non-ASCII path bytes are refused", "[sharedkey]") {
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key, {"get", "/t", "", good_headers}, "acct"),
                      Contains("uppercase"));
    CHECK_THROWS_WITH(sharedkey::string_to_sign(sharedkey::scheme::shared_key, {"GET", "/t\xc3\xa4", "", good_headers}, "acct"),
                      Contains("percent-encoded"));
}
