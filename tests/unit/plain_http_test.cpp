// Plain HTTP is refused for a host that is not loopback unless the
// configuration allows it: requests and their signatures would otherwise
// cross the network in clear. The datastore refuses at construction, so
// nothing is ever sent.
#include <catch2/catch.hpp>

#include "http/endpoint.hpp"
#include "support/expect_error.hpp"

#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/io_context.hpp>

#include <string>

using namespace sds;
using sds::test::expect_error;

TEST_CASE("loopback hosts are 127.0.0.0/8, ::1 and localhost, nothing else", "[security]") {
    for (const char* url : {"http://127.0.0.1:8000", "http://127.1.2.3", "http://[::1]:8000", "http://localhost:10002/acct"})
        CHECK(detail::endpoint::parse(url).is_loopback());
    for (const char* url : {"http://10.0.0.1", "http://dynamodb.local:8000", "http://[::2]", "http://128.0.0.1",
                            "http://localhost.example.com", "http://0.0.0.0"})
        CHECK_FALSE(detail::endpoint::parse(url).is_loopback());
}

TEST_CASE("plain http to a host that is not loopback is refused by both engines unless allowed", "[security]") {
    boost::asio::io_context io;
    dynamodb_config d;
    d.region = "us-east-1";
    d.credentials = {"AKIDEXAMPLE", "secret", ""};
    d.endpoint = "http://dynamodb.example.com:8000";
    const auto e = expect_error([&] { datastore db(io.get_executor(), d); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("http://dynamodb.example.com:8000") != std::string::npos);
    CHECK(std::string(e.what()).find("allow_plain_http") != std::string::npos);

    azure_table_config a;
    a.account_name = "devstoreaccount1";
    a.account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    a.endpoint = "http://10.1.2.3:10002/devstoreaccount1";
    CHECK(expect_error([&] { datastore db(io.get_executor(), a); }).condition() == errc::invalid_argument);

    // Allowed on purpose, or over https, or on loopback: constructed.
    d.http.allow_plain_http = true;
    CHECK_NOTHROW(datastore(io.get_executor(), d));
    a.http.allow_plain_http = true;
    CHECK_NOTHROW(datastore(io.get_executor(), a));
    d.http.allow_plain_http = false;
    d.endpoint = "https://dynamodb.example.com";
    CHECK_NOTHROW(datastore(io.get_executor(), d));
    d.endpoint = "http://127.0.0.1:8000";
    CHECK_NOTHROW(datastore(io.get_executor(), d));
}
