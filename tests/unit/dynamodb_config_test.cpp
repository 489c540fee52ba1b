// dynamodb_config::from_env and what constructing a datastore does (nothing on the network).
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"

#include <sds/datastore.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
    {"AWS_ENDPOINT_URL", std::nullopt},         {"AWS_PROFILE", std::nullopt},
    {"AWS_CONFIG_FILE", "/nonexistent/sds/config"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sds/credentials"}};

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
    {
        // A named endpoint needs the region only to sign.
        auto vars = all_unset;
        vars["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:8000";
        scoped_env env(vars);
        CHECK(sds::dynamodb_config::from_env().region == "us-east-1");
    }
    scoped_env none(all_unset);
    const auto c = sds::dynamodb_config::from_env();
    CHECK(c.region.empty());  // the instance's, from instance metadata
    CHECK(c.endpoint.empty());
    CHECK(c.credentials.access_key_id.empty());
    CHECK(c.credentials_provider);
}

TEST_CASE("without a region, operations ask instance metadata for it, and when it is off they fail sending nothing",
          "[config]") {
    auto vars = all_unset;
    vars["AWS_EC2_METADATA_DISABLED"] = "true";
    scoped_env env(vars);
    for (const bool named_endpoint : {false, true}) {
        INFO("with an endpoint: " << named_endpoint);
        // Nothing listens at the endpoint; no connection may be tried.
        boost::asio::ip::tcp::acceptor listener(boost::asio::system_executor(), {boost::asio::ip::make_address("127.0.0.1"), 0});
        boost::asio::io_context io;
        sds::dynamodb_config c;
        c.region.clear();
        c.credentials = {"AKID", "secret", ""};
        if (named_endpoint) c.endpoint = "http://127.0.0.1:" + std::to_string(listener.local_endpoint().port());
        sds::datastore db(io.get_executor(), c);
        std::vector<std::string> errors;
        for (int i = 0; i < 3; ++i)
            boost::asio::co_spawn(io, db.get_data("table", "k"), [&](std::exception_ptr e, std::optional<std::string>) {
                try {
                    if (e) std::rethrow_exception(e);
                    errors.push_back("no error");
                } catch (const sds::error& err) {
                    CHECK(err.condition() == sds::errc::invalid_argument);
                    errors.push_back(err.what());
                }
            });
        io.run();
        REQUIRE(errors.size() == 3u);
        for (const auto& what : errors) {
            CHECK(what.find("no AWS region: set AWS_REGION, dynamodb_config.region or a profile's region") !=
                  std::string::npos);
            CHECK(what.find("AWS_EC2_METADATA_DISABLED") != std::string::npos);
        }
        listener.non_blocking(true);
        boost::system::error_code ec;
        listener.accept(ec);
        CHECK(ec == boost::asio::error::would_block);  // no connection came
    }
}

namespace {

// The error a get_data (with `options`) of a datastore without a region
// gives, when instance metadata is at `url` (also the endpoint, so nothing
// else is reached).
sds::error region_lookup_error(const std::string& url, sds::read_options options = {}) {
    auto vars = all_unset;
    vars["AWS_EC2_METADATA_DISABLED"] = std::nullopt;
    vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url;
    scoped_env env(vars);
    boost::asio::io_context io;
    sds::dynamodb_config c;
    c.region.clear();
    c.endpoint = url;
    c.credentials = {"AKID", "secret", ""};
    sds::datastore db(io.get_executor(), c);
    auto f = boost::asio::co_spawn(io, db.get_data("table", "k", options), boost::asio::use_future);
    io.run();
    return expect_error([&] { f.get(); });
}

} // namespace

TEST_CASE("without a region, an operation's deadline ends its wait for the region, and says so", "[config]") {
    // Instance metadata that takes connections (the kernel's backlog) and
    // never answers.
    boost::asio::ip::tcp::acceptor silent(boost::asio::system_executor(), {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto e = region_lookup_error("http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()),
                                       {.timeout = std::chrono::milliseconds(100)});
    CHECK(e.condition() == sds::errc::timeout);
    CHECK(std::string(e.what()).find("deadline expired while waiting for the region from instance metadata") !=
          std::string::npos);
}

TEST_CASE("without a region, an unreachable instance metadata endpoint is a network error naming the region",
          "[config]") {
    // A port nothing listens on.
    std::string url;
    {
        boost::asio::ip::tcp::acceptor closed(boost::asio::system_executor(), {boost::asio::ip::make_address("127.0.0.1"), 0});
        url = "http://127.0.0.1:" + std::to_string(closed.local_endpoint().port());
    }
    const auto e = region_lookup_error(url);
    CHECK(e.condition() == sds::errc::network_error);
    CHECK(std::string(e.what()).find("no AWS region") != std::string::npos);
    CHECK(std::string(e.what()).find("instance metadata") != std::string::npos);
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
