// dynamodb_config::from_env and what constructing a datastore does (nothing on the network).
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"

#include <sds/datastore.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

using sds::test::expect_error;

namespace {

// Sets environment variables for the lifetime of the object and restores the
// previous values afterwards.
class scoped_env {
public:
    explicit scoped_env(std::map<std::string, std::optional<std::string>> vars) {
        for (const auto& [name, value] : vars) {
            const char* old = std::getenv(name.c_str());
            saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
            if (value) ::setenv(name.c_str(), value->c_str(), 1);
            else ::unsetenv(name.c_str());
        }
    }
    ~scoped_env() {
        for (const auto& [name, value] : saved_) {
            if (value) ::setenv(name.c_str(), value->c_str(), 1);
            else ::unsetenv(name.c_str());
        }
    }

private:
    std::map<std::string, std::optional<std::string>> saved_;
};

const std::map<std::string, std::optional<std::string>> all_unset{
    {"AWS_ACCESS_KEY_ID", std::nullopt},        {"AWS_SECRET_ACCESS_KEY", std::nullopt},
    {"AWS_SESSION_TOKEN", std::nullopt},        {"AWS_REGION", std::nullopt},
    {"AWS_DEFAULT_REGION", std::nullopt},       {"AWS_ENDPOINT_URL_DYNAMODB", std::nullopt},
    {"AWS_ENDPOINT_URL", std::nullopt}};

} // namespace

TEST_CASE("from_env reads the AWS variables the AWS tools read", "[config]") {
    auto vars = all_unset;
    vars["AWS_ACCESS_KEY_ID"] = "AKIDENV";
    vars["AWS_SECRET_ACCESS_KEY"] = "secret-from-env";
    vars["AWS_SESSION_TOKEN"] = "token-from-env";
    vars["AWS_REGION"] = "eu-west-1";
    vars["AWS_DEFAULT_REGION"] = "ap-south-1";
    vars["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:8000";
    vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9999";
    scoped_env env(vars);
    const auto c = sds::dynamodb_config::from_env();
    CHECK(c.credentials.access_key_id == "AKIDENV");
    CHECK(c.credentials.secret_access_key == "secret-from-env");
    CHECK(c.credentials.session_token == "token-from-env");
    CHECK(c.region == "eu-west-1");
    CHECK(c.endpoint == "http://127.0.0.1:8000");
}

TEST_CASE("from_env falls back to AWS_DEFAULT_REGION and AWS_ENDPOINT_URL, then to the defaults", "[config]") {
    {
        auto vars = all_unset;
        vars["AWS_DEFAULT_REGION"] = "ap-south-1";
        vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9999";
        scoped_env env(vars);
        const auto c = sds::dynamodb_config::from_env();
        CHECK(c.region == "ap-south-1");
        CHECK(c.endpoint == "http://127.0.0.1:9999");
    }
    scoped_env none(all_unset);
    const auto c = sds::dynamodb_config::from_env();
    CHECK(c.region == "us-east-1");
    CHECK(c.endpoint.empty());
    CHECK(c.credentials.access_key_id.empty());
}

TEST_CASE("constructing a datastore opens nothing, and a malformed endpoint is refused at once", "[config]") {
    boost::asio::io_context io;
    sds::dynamodb_config c;
    c.endpoint = "http://127.0.0.1:9";  // nothing listens there: construction must not notice
    CHECK_NOTHROW(sds::datastore(io.get_executor(), c));
    CHECK(io.poll() == 0);  // no work was queued

    c.endpoint = "ftp://127.0.0.1";
    CHECK(expect_error([&] { sds::datastore(io.get_executor(), c); }).condition() == sds::errc::invalid_argument);
    c.endpoint.clear();
    c.region = "bad region!";
    CHECK(expect_error([&] { sds::datastore(io.get_executor(), c); }).condition() == sds::errc::invalid_argument);
}

TEST_CASE("an operation started before the datastore is moved or destroyed still runs", "[config]") {
    boost::asio::io_context io;
    sds::dynamodb_config c;
    c.endpoint = "http://127.0.0.1:9";
    c.credentials = {"AKID", "secret", ""};
    std::optional<sds::datastore> db(std::in_place, io.get_executor(), c);
    // Operations are lazy: nothing runs until they are awaited.
    auto moved_from = db->get_data("ab", "k");
    auto destroyed = db->incr("ab", "c");
    sds::datastore other = std::move(*db);
    db.reset();
    std::vector<sds::errc> seen;
    boost::asio::co_spawn(io, std::move(moved_from), [&](std::exception_ptr e, std::optional<std::string>) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const sds::error& err) {
            seen.push_back(err.condition());
        }
    });
    boost::asio::co_spawn(io, std::move(destroyed), [&](std::exception_ptr e, std::int64_t) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const sds::error& err) {
            seen.push_back(err.condition());
        }
    });
    io.run();
    // Both reached the engine's checks ("ab" is too short a table name) instead of a dangling datastore.
    CHECK(seen == std::vector<sds::errc>{sds::errc::invalid_argument, sds::errc::invalid_argument});
}
