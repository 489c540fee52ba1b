#include <catch2/catch.hpp>

#include <sds/error.hpp>

#include <boost/system/errc.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

const std::vector<std::pair<sds::errc, std::string>> all_errcs{
    {sds::errc::invalid_argument, "invalid_argument"}, {sds::errc::table_not_found, "table_not_found"},
    {sds::errc::already_exists, "already_exists"},     {sds::errc::condition_failed, "condition_failed"},
    {sds::errc::throttled, "throttled"},               {sds::errc::auth_failed, "auth_failed"},
    {sds::errc::timeout, "timeout"},                   {sds::errc::cancelled, "cancelled"},
    {sds::errc::ambiguous, "ambiguous"},               {sds::errc::protocol_error, "protocol_error"},
    {sds::errc::network_error, "network_error"},       {sds::errc::tls_error, "tls_error"},
    {sds::errc::service_error, "service_error"},
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("every errc is named as written in the header", "[error]") {
    for (const auto& [code, name] : all_errcs) {
        CAPTURE(name);
        CHECK(std::string(sds::to_string(code)) == name);
        CHECK(sds::error_category().message(static_cast<int>(code)) == name);
    }
}

TEST_CASE("a value outside errc is named unknown rather than crashing", "[error]") {
    CHECK(std::string(sds::to_string(static_cast<sds::errc>(0))) == "unknown");
    CHECK(std::string(sds::to_string(static_cast<sds::errc>(999))) == "unknown");
    CHECK(sds::error_category().message(-1) == "unknown");
}

TEST_CASE("errc values form error codes of the sds category", "[error]") {
    CHECK(std::string(sds::error_category().name()) == "sds");
    CHECK(&sds::error_category() == &sds::error_category());

    const boost::system::error_code ec = sds::errc::throttled;  // implicit, via is_error_code_enum
    CHECK(ec.category() == sds::error_category());
    CHECK(ec.value() == static_cast<int>(sds::errc::throttled));
    CHECK(ec.message() == "throttled");
    CHECK(ec == sds::errc::throttled);
    CHECK(ec != sds::errc::timeout);
    CHECK(sds::make_error_code(sds::errc::timeout) == sds::errc::timeout);
    CHECK(ec.failed());
}

TEST_CASE("an sds error code is not equal to another category's code with the same value", "[error]") {
    const boost::system::error_code ours = sds::errc::table_not_found;  // value 2
    const boost::system::error_code generic =
        boost::system::errc::make_error_code(boost::system::errc::no_such_file_or_directory);  // also 2
    REQUIRE(ours.value() == generic.value());
    CHECK(ours != generic);
    CHECK_FALSE(ours == boost::system::errc::no_such_file_or_directory);
}

TEST_CASE("sds::error carries its errc as code and condition", "[error]") {
    const sds::error e(sds::errc::auth_failed, "signature refused");
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(e.code() == sds::errc::auth_failed);
    CHECK(e.code().category() == sds::error_category());
    CHECK(e.diag().http_status == 0);
    CHECK(contains(e.what(), "signature refused"));
    CHECK(contains(e.what(), "auth_failed"));
}

TEST_CASE("sds::error's what() includes every diagnostic that was given", "[error]") {
    sds::diagnostics d;
    d.http_status = 400;
    d.service_code = "ResourceNotFoundException";
    d.service_message = "Requested resource not found";
    d.request_id = "ABCDEF0123";
    d.attempts = 3;
    d.total_backoff = std::chrono::milliseconds{275};
    const sds::error e(sds::errc::table_not_found, "GetItem on table t", d);

    const std::string what = e.what();
    CHECK(contains(what, "GetItem on table t"));
    CHECK(contains(what, "HTTP 400"));
    CHECK(contains(what, "ResourceNotFoundException"));
    CHECK(contains(what, "Requested resource not found"));
    CHECK(contains(what, "ABCDEF0123"));
    CHECK(contains(what, "3 attempts"));
    CHECK(contains(what, "275 ms backoff"));
    CHECK(contains(what, "table_not_found"));

    CHECK(e.diag().http_status == 400);
    CHECK(e.diag().service_code == "ResourceNotFoundException");
    CHECK(e.diag().service_message == "Requested resource not found");
    CHECK(e.diag().request_id == "ABCDEF0123");
    CHECK(e.diag().attempts == 3);
    CHECK(e.diag().total_backoff == std::chrono::milliseconds{275});
}

TEST_CASE("sds::error's what() leaves out diagnostics that are missing", "[error]") {
    sds::diagnostics d;
    d.attempts = 1;
    const sds::error e(sds::errc::network_error, "connect to 127.0.0.1:1", d);
    const std::string what = e.what();
    CHECK(contains(what, "1 attempt"));
    CHECK_FALSE(contains(what, "1 attempts"));
    CHECK_FALSE(contains(what, "HTTP"));
    CHECK_FALSE(contains(what, "request id"));
    CHECK_FALSE(contains(what, "backoff"));
}

TEST_CASE("sds::error can be caught as system_error and as runtime_error", "[error]") {
    const auto thrower = [] { throw sds::error(sds::errc::condition_failed, "conditional write lost"); };

    try {
        thrower();
        FAIL("nothing was thrown");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == sds::errc::condition_failed);
    }
    CHECK_THROWS_AS(thrower(), std::runtime_error);
    CHECK_THROWS_WITH(thrower(), Catch::Contains("conditional write lost"));
}
