// Every AWS credential source end to end: a credentials server the test
// starts (tests/integration/credentials_server.mjs: instance metadata, the
// container endpoint, STS) hands out short-lived credentials that the
// SigV4-verifying gateway in front of dynalite accepts with their session
// token (and refuses once expired), so each DynamoDB operation below proves
// that sds fetched, cached and signed with them.
#include "node_child.hpp"
#include "support/secret_search.hpp"
#include "targets.hpp"

#include <sds/credentials.hpp>
#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <catch2/catch.hpp>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using namespace std::chrono_literals;
using sds::test::await_on;

namespace {

constexpr const char* issuer_secret = "sds-test-issuer";  // scripts/emulators.sh's default
constexpr const char* static_key = "AKIDSDSTEST";
constexpr const char* static_secret = "sds-test-secret";
constexpr const char* role_arn = "arn:aws:iam::123456789012:role/sds-test-role";

// Sets environment variables for the test's duration and puts back what was there.
class scoped_env {
public:
    scoped_env& set(const std::string& name, const std::string& value) {
        remember(name);
        ::setenv(name.c_str(), value.c_str(), 1);
        return *this;
    }
    scoped_env& unset(const std::string& name) {
        remember(name);
        ::unsetenv(name.c_str());
        return *this;
    }
    ~scoped_env() {
        for (const auto& [name, value] : saved_)
            if (value) ::setenv(name.c_str(), value->c_str(), 1);
            else ::unsetenv(name.c_str());
    }

private:
    void remember(const std::string& name) {
        if (saved_.contains(name)) return;
        const char* v = std::getenv(name.c_str());
        saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
    }
    std::map<std::string, std::optional<std::string>> saved_;
};

// No credentials anywhere but where a test puts them.
scoped_env clean_env() {
    scoped_env e;
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                          "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
                          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                          "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                          "AWS_EC2_METADATA_V1_DISABLED", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"})
        e.unset(v);
    e.set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sds/credentials");
    e.set("AWS_CONFIG_FILE", "/nonexistent/sds/config");
    e.set("AWS_EC2_METADATA_DISABLED", "true");
    return e;
}

// The credentials server, with its control API.
class credentials_server {
public:
    explicit credentials_server(std::vector<std::string> extra = {})
        : child_(std::string(SDS_SOURCE_DIR) + "/tests/integration/credentials_server.mjs", args(std::move(extra)),
                 R"(listening on 127\.0\.0\.1:(\d+))") {}

    std::string url() const { return child_.url(); }

    /// One request to the control API; the JSON answer.
    json::value control(beast::http::verb verb, const std::string& path, const std::string& body = {}) const {
        asio::io_context io;
        beast::tcp_stream stream(io);
        stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                               static_cast<unsigned short>(std::stoi(child_.port()))));
        beast::http::request<beast::http::string_body> req{verb, path, 11};
        req.set(beast::http::field::host, "127.0.0.1:" + child_.port());
        req.set(beast::http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        beast::http::write(stream, req);
        beast::flat_buffer buffer;
        beast::http::response<beast::http::string_body> res;
        beast::http::read(stream, buffer, res);
        REQUIRE(res.result_int() == 200);
        return json::parse(res.body());
    }
    std::int64_t stat(const char* name) const {
        return control(beast::http::verb::get, "/__control/stats").at(name).as_int64();
    }
    json::object issue(int lifetime_s = 900) const {
        return control(beast::http::verb::post, "/__control/issue", R"({"lifetime_s":)" + std::to_string(lifetime_s) + "}")
            .as_object();
    }
    void configure(const std::string& json_body) const {
        control(beast::http::verb::post, "/__control/config", json_body);
    }

private:
    static std::vector<std::string> args(std::vector<std::string> extra) {
        std::vector<std::string> a{"--port", "0", "--issuer-secret", issuer_secret, "--static-access-key-id", static_key,
                                   "--static-secret-access-key", static_secret};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    sds::test::node_child child_;
};

std::string text_of(const json::value& v) { return std::string(v.as_string()); }

// A scratch directory for token and profile files.
struct scratch_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("sds-credentials-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    scratch_dir() { std::filesystem::create_directories(path); }
    ~scratch_dir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::ofstream(p) << text;
        return p.string();
    }
};


// A round trip with `config` (DynamoDB through the verifying gateway, or
// Azurite): a table, a value written and read back, a counter incremented.
template <class Config>
void round_trip(const Config& config, const std::string& what) {
    asio::io_context io;
    sds::datastore db(io.get_executor(), config);
    const std::string table = std::is_same_v<Config, sds::dynamodb_config>
                                  ? sds::test::dynamodb_target::table("cred_" + what)
                                  : sds::test::azure_target::table("tok" + what);
    await_on(io, db.create_table(table));
    const std::string value = "through " + what;
    await_on(io, db.set_data(table, "k", value));
    CHECK(await_on(io, db.get_data(table, "k")) == std::optional<std::string>(value));
    CHECK(await_on(io, db.incr(table, "c", {.amount = 3})) == 3);
    await_on(io, db.delete_table(table));
}

// The error `config`'s first operation gives.
template <class Config>
sds::error first_error(const Config& config) {
    asio::io_context io;
    sds::datastore db(io.get_executor(), config);
    try {
        await_on(io, db.get_data("itnothing", "k"));
    } catch (const sds::error& e) {
        return e;
    }
    FAIL("the operation succeeded");
    throw std::logic_error("unreachable");
}

void check_no_secret(const sds::error& e, const std::vector<std::string>& secrets) {
    const std::string what = e.what();
    for (const auto& s : secrets) {
        INFO("message: " << what);
        CHECK(what.find(s) == std::string::npos);
    }
}

} // namespace

TEST_CASE("credentials: environment keys with a session token", "[integration][credentials]") {
    credentials_server server;
    const auto creds = server.issue();
    auto env = clean_env();
    env.set("AWS_ACCESS_KEY_ID", text_of(creds.at("AccessKeyId")))
        .set("AWS_SECRET_ACCESS_KEY", text_of(creds.at("SecretAccessKey")))
        .set("AWS_SESSION_TOKEN", text_of(creds.at("SessionToken")));
    auto config = sds::dynamodb_config::from_env();
    CHECK(config.credentials.session_token == text_of(creds.at("SessionToken")));
    round_trip(config, "env");
    // The same through the source on its own.
    config.credentials = {};
    config.credentials_provider = sds::aws_environment_credentials();
    round_trip(config, "envsource");
}

TEST_CASE("credentials: a shared-files profile with keys, its region and services endpoint",
          "[integration][credentials]") {
    credentials_server server;
    const auto creds = server.issue();
    scratch_dir dir;
    auto env = clean_env();
    const std::string endpoint = std::getenv("AWS_ENDPOINT_URL_DYNAMODB");
    env.set("AWS_SHARED_CREDENTIALS_FILE",
            dir.write("credentials", "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n[dev]\n"
                                     "aws_access_key_id = " + text_of(creds.at("AccessKeyId")) +
                                         "\naws_secret_access_key = " + text_of(creds.at("SecretAccessKey")) +
                                         "\naws_session_token = " + text_of(creds.at("SessionToken")) + "\n"))
        .set("AWS_CONFIG_FILE", dir.write("config", "[profile dev]\nregion = us-east-1\nservices = local\n\n"
                                                    "[services local]\ndynamodb =\n  endpoint_url = " + endpoint + "\n"))
        .set("AWS_PROFILE", "dev")
        .unset("AWS_REGION")
        .unset("AWS_DEFAULT_REGION")
        .unset("AWS_ENDPOINT_URL_DYNAMODB");
    const auto config = sds::dynamodb_config::from_env();
    CHECK(config.endpoint == endpoint);  // from the services section
    CHECK(config.credentials.access_key_id.empty());
    REQUIRE(config.credentials_provider);
    round_trip(config, "profile");
    // The region comes from the profile too.
    env.set("AWS_CONFIG_FILE", dir.write("config2", "[profile dev]\nregion = eu-west-3\n"));
    CHECK(sds::dynamodb_config::from_env().region == "eu-west-3");
}

TEST_CASE("credentials: a profile's role_arn with source_profile is assumed by a signed AssumeRole",
          "[integration][credentials]") {
    credentials_server server({"--role-arn", role_arn});
    scratch_dir dir;
    auto env = clean_env();
    env.set("AWS_SHARED_CREDENTIALS_FILE", dir.write("credentials", std::string("[base]\naws_access_key_id = ") +
                                                                       static_key + "\naws_secret_access_key = " +
                                                                       static_secret + "\n"))
        .set("AWS_CONFIG_FILE", dir.write("config", std::string("[profile deploy]\nrole_arn = ") + role_arn +
                                                        "\nsource_profile = base\nrole_session_name = sds-it\n"
                                                        "region = us-east-1\n"))
        .set("AWS_PROFILE", "deploy")
        .set("AWS_ENDPOINT_URL_STS", server.url());
    round_trip(sds::dynamodb_config::from_env(), "assumerole");
    CHECK(server.stat("sts_assume_role") == 1);
    CHECK(text_of(server.control(beast::http::verb::get, "/__control/stats").at("last_session_name")) == "sds-it");
    // A role the source may not assume: auth_failed, naming the profile.
    env.set("AWS_CONFIG_FILE", dir.write("config2", "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/other\n"
                                                    "source_profile = base\n"));
    const auto e = first_error(sds::dynamodb_config::from_env());
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(std::string(e.what()).find("profile 'deploy': STS AssumeRole answered HTTP 403 AccessDenied") != std::string::npos);
    check_no_secret(e, {static_secret});
}

TEST_CASE("credentials: web identity from the environment, the token file read again at each refresh",
          "[integration][credentials]") {
    credentials_server server({"--role-arn", role_arn, "--web-identity-token", "token-one", "--lifetime-s", "3"});
    scratch_dir dir;
    auto env = clean_env();
    const std::string token_file = dir.write("token", "token-one\n");
    env.set("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
        .set("AWS_ROLE_ARN", role_arn)
        .set("AWS_ROLE_SESSION_NAME", "sds-web")
        .set("AWS_ENDPOINT_URL_STS", server.url());
    auto config = sds::dynamodb_config::from_env();
    asio::io_context io;
    sds::datastore db(io.get_executor(), config);
    const std::string table = sds::test::dynamodb_target::table("cred_web");
    await_on(io, db.create_table(table));
    CHECK(server.stat("sts_web_identity") == 1);
    // The token rotates (as a projected service account token does): the
    // next fetch must send the new one.
    dir.write("token", "token-two\n");
    server.configure(R"({"web_identity_token":"token-two"})");
    std::this_thread::sleep_for(3s);  // the first credentials expire
    await_on(io, db.set_data(table, "k", std::string("v")));
    CHECK(server.stat("sts_web_identity") == 2);
    await_on(io, db.delete_table(table));
    // A token STS refuses: auth_failed naming the source, without the token.
    dir.write("token", "token-three\n");
    config.credentials_provider = sds::aws_web_identity_credentials();
    const auto e = first_error(config);
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(std::string(e.what()).find("web identity: STS AssumeRoleWithWebIdentity answered HTTP 400 InvalidIdentityToken") !=
          std::string::npos);
    check_no_secret(e, {"token-three"});
}

TEST_CASE("credentials: a profile with web_identity_token_file", "[integration][credentials]") {
    credentials_server server({"--role-arn", role_arn, "--web-identity-token", "profile-token"});
    scratch_dir dir;
    auto env = clean_env();
    env.set("AWS_CONFIG_FILE", dir.write("config", std::string("[default]\nrole_arn = ") + role_arn +
                                                       "\nweb_identity_token_file = " +
                                                       dir.write("token", "profile-token") + "\n"))
        .set("AWS_ENDPOINT_URL_STS", server.url());
    round_trip(sds::dynamodb_config::from_env(), "profileweb");
    CHECK(server.stat("sts_web_identity") == 1);
}

TEST_CASE("credentials: the container endpoint with the token file, and a wrong token", "[integration][credentials]") {
    credentials_server server({"--container-token", "container-secret-token"});
    scratch_dir dir;
    auto env = clean_env();
    env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/ecs/credentials")
        .set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir.write("token", "container-secret-token\n"));
    round_trip(sds::dynamodb_config::from_env(), "container");
    CHECK(server.stat("ecs") == 1);
    dir.write("token", "not-the-token");
    auto config = sds::dynamodb_config::from_env();
    const auto e = first_error(config);
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(std::string(e.what()).find("container credentials: the endpoint refused the request (HTTP 401)") !=
          std::string::npos);
    check_no_secret(e, {"not-the-token", "container-secret-token"});
    // The token from the environment instead of a file.
    env.unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret-token");
    round_trip(sds::dynamodb_config::from_env(), "containerenv");
}

TEST_CASE("credentials: instance metadata, IMDSv2, and IMDSv1 only where allowed", "[integration][credentials]") {
    {
        credentials_server server;  // v2: tokenless requests are refused
        auto env = clean_env();
        env.unset("AWS_EC2_METADATA_DISABLED").set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
        round_trip(sds::dynamodb_config::from_env(), "imdsv2");
        CHECK(server.stat("imds_token") == 1);
        CHECK(server.stat("imds_credentials") == 1);
        // The instance's region, for a program without AWS_REGION.
        asio::io_context io;
        CHECK(await_on(io, sds::aws_instance_metadata_region()) == "us-east-1");
        CHECK(server.stat("imds_region") == 1);
    }
    {
        credentials_server server({"--imds", "v1only"});  // the token request is refused
        auto env = clean_env();
        env.unset("AWS_EC2_METADATA_DISABLED").set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
        round_trip(sds::dynamodb_config::from_env(), "imdsv1");
        CHECK(server.stat("imds_credentials") == 1);
        env.set("AWS_EC2_METADATA_V1_DISABLED", "true");
        const auto e = first_error(sds::dynamodb_config::from_env());
        CHECK(e.condition() == sds::errc::auth_failed);
        CHECK(std::string(e.what()).find("instance metadata: the token request was refused (HTTP 403) and IMDSv1 is off") !=
              std::string::npos);
    }
}

TEST_CASE("credentials: without a region, instance metadata names it, one fetch for concurrent operations",
          "[integration][credentials]") {
    const auto env_for = [](const credentials_server& server) {
        auto env = clean_env();
        env.unset("AWS_EC2_METADATA_DISABLED")
            .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url())
            .set("AWS_ACCESS_KEY_ID", static_key)
            .set("AWS_SECRET_ACCESS_KEY", static_secret)
            .unset("AWS_REGION")
            .unset("AWS_DEFAULT_REGION");
        return env;
    };
    {
        credentials_server server;
        auto env = env_for(server);
        auto config = sds::dynamodb_config::from_env();
        CHECK(config.region == "us-east-1");  // an endpoint is named (the gateway): the region only signs
        config.region.clear();                // as on EC2 without AWS_REGION
        asio::io_context io;
        const std::string table = sds::test::dynamodb_target::table("cred_imdsregion");
        {
            sds::datastore db(io.get_executor(), config);
            await_on(io, db.create_table(table));
        }
        CHECK(server.stat("imds_region") == 1);
        // A fresh datastore, 50 operations at once before it knows its region.
        sds::datastore db(io.get_executor(), config);
        int done = 0;
        std::vector<std::string> failures;
        for (int i = 0; i < 50; ++i)
            asio::co_spawn(io, db.set_data(table, "k" + std::to_string(i), std::string("v")), [&](std::exception_ptr e) {
                ++done;
                try {
                    if (e) std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    failures.push_back(x.what());
                }
            });
        io.restart();
        io.run();
        CHECK(done == 50);
        CHECK(failures.empty());
        CHECK(server.stat("imds_region") == 2);
        CHECK(server.stat("imds_token") == 2);
        await_on(io, db.delete_table(table));
    }
    {
        // The region the instance names is the one that signs: the gateway
        // (us-east-1) refuses eu-west-3's signatures.
        credentials_server server({"--imds-region", "eu-west-3"});
        auto env = env_for(server);
        auto config = sds::dynamodb_config::from_env();
        config.region.clear();
        const auto e = first_error(config);
        INFO("message: " << e.what());
        CHECK(e.condition() == sds::errc::auth_failed);
        CHECK(std::string(e.what()).find("'eu-west-3'") != std::string::npos);
        CHECK(server.stat("imds_region") == 1);
    }
    {
        // Instance metadata that is off: the region error says what to set.
        auto env = clean_env();
        env.set("AWS_ACCESS_KEY_ID", static_key).set("AWS_SECRET_ACCESS_KEY", static_secret);
        auto config = sds::dynamodb_config::from_env();
        config.region.clear();
        const auto e = first_error(config);
        CHECK(e.condition() == sds::errc::invalid_argument);
        CHECK(std::string(e.what()).find("no AWS region: set AWS_REGION") != std::string::npos);
    }
}

TEST_CASE("credentials: a metadata endpoint that hangs, fails or lies gives a clear error within its timeout",
          "[integration][credentials]") {
    struct fault_case {
        const char* fault;
        sds::errc expected;
        const char* says;
    };
    for (const auto& [fault, expected, says] :
         {fault_case{"hang:imds", sds::errc::timeout, "instance metadata: no answer from http://127.0.0.1:"},
          fault_case{"500:imds-creds", sds::errc::service_error, "instance metadata: answered HTTP 500"},
          fault_case{"malformed:imds-creds", sds::errc::protocol_error, "instance metadata: the answer is not a JSON object"},
          fault_case{"hang:ecs", sds::errc::timeout, "container credentials: no answer from http://127.0.0.1:"},
          fault_case{"malformed:sts", sds::errc::protocol_error, "web identity: STS AssumeRoleWithWebIdentity answered "
                                                                 "with malformed XML"}}) {
        INFO("fault " << fault);
        credentials_server server({"--fault", fault, "--role-arn", role_arn});
        scratch_dir dir;
        auto env = clean_env();
        const std::string target = std::string(fault).substr(std::string(fault).find(':') + 1);
        if (target.starts_with("imds"))
            env.unset("AWS_EC2_METADATA_DISABLED").set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
        else if (target == "ecs")
            env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/ecs/credentials");
        else
            env.set("AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("token", "t"))
                .set("AWS_ROLE_ARN", role_arn)
                .set("AWS_ENDPOINT_URL_STS", server.url());
        const auto started = std::chrono::steady_clock::now();
        const auto e = first_error(sds::dynamodb_config::from_env());
        const auto took = std::chrono::steady_clock::now() - started;
        INFO("message: " << e.what());
        CHECK(e.condition() == expected);
        CHECK(std::string(e.what()).find(says) != std::string::npos);
        // Bounded by the source's own timeout (1 s for instance metadata,
        // 2 s for the container endpoint), not by the operation's.
        CHECK(took < 10s);
    }
}

TEST_CASE("credentials: 1,000 concurrent operations across an expiry share one fetch on one thread, none fails",
          "[integration][credentials]") {
    credentials_server server({"--lifetime-s", "10"});
    auto env = clean_env();
    env.unset("AWS_EC2_METADATA_DISABLED").set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
    asio::io_context io{1};  // one thread: nothing may block it while credentials are fetched
    sds::datastore db(io.get_executor(), sds::dynamodb_config::from_env());
    const std::string table = sds::test::dynamodb_target::table("cred_refresh");
    await_on(io, db.create_table(table));
    await_on(io, db.set_data(table, "k", std::string("v")));
    CHECK(server.stat("imds_credentials") == 1);

    const auto burst = [&] {
        int ok = 0, failed = 0;
        std::string first_failure;
        for (int i = 0; i < 1000; ++i)
            asio::co_spawn(io, db.get_data(table, "k"), [&](std::exception_ptr e, std::optional<std::string> v) {
                if (!e && v == std::optional<std::string>("v")) {
                    ++ok;
                    return;
                }
                ++failed;
                try {
                    if (e) std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    if (first_failure.empty()) first_failure = x.what();
                }
            });
        io.restart();
        io.run();
        INFO("first failure: " << first_failure);
        CHECK(failed == 0);
        CHECK(ok == 1000);
    };
    // The credentials expire (10 s, none used meanwhile): the burst waits
    // for one fetch, and every operation signs with what it brought.
    std::this_thread::sleep_for(10500ms);
    const auto fetched = std::chrono::steady_clock::now();
    burst();
    CHECK(server.stat("imds_credentials") == 2);
    // In their refresh window (the last half of their lifetime, usable until
    // a tenth of it before they expire): the burst goes on with them while
    // one fetch replaces them in the background.
    std::this_thread::sleep_until(fetched + 6s);
    burst();
    CHECK(server.stat("imds_credentials") == 3);
    await_on(io, db.delete_table(table));
}

// ---------------------------------------------------------------- Azure: Entra ID tokens

namespace {

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client_id = "sds-test-client";
constexpr const char* client_secret = "sds-test-client-secret";

// Azurite over HTTPS (started with --oauth basic): an account without a key
// or SAS, so from_env takes the default Azure credential.
scoped_env azure_token_env() {
    auto e = clean_env();
    for (const char* v : {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
                          "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                          "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                          "AZURE_POD_IDENTITY_AUTHORITY_HOST"})
        e.unset(v);
    e.set("AZURE_STORAGE_ACCOUNT", "devstoreaccount1")
        .set("SDS_AZURE_TABLE_ENDPOINT", sds::test::required_env("SDS_AZURITE_TLS_URL"));
    return e;
}

sds::azure_table_config azure_token_config() {
    auto c = sds::azure_table_config::from_env();
    c.http.tls.ca_file = sds::test::required_env("SDS_AZURITE_CA_FILE");
    return c;
}

std::vector<std::string> entra_args() {
    return {"--entra-client-id", client_id, "--entra-client-secret", client_secret, "--entra-federated-token",
            "federated-token", "--identity-header", "app-service-header"};
}

} // namespace

TEST_CASE("credentials: Azure bearer tokens from a client secret in the environment", "[integration][credentials]") {
    credentials_server server(entra_args());
    auto env = azure_token_env();
    env.set("AZURE_TENANT_ID", tenant)
        .set("AZURE_CLIENT_ID", client_id)
        .set("AZURE_CLIENT_SECRET", client_secret)
        .set("AZURE_AUTHORITY_HOST", server.url());
    const auto config = azure_token_config();
    REQUIRE(config.token_credential);
    CHECK(config.account_key.empty());
    round_trip(config, "secret");
    CHECK(server.stat("entra_client_secret") == 1);
    // A wrong secret: auth_failed naming the source and Entra ID's error, never the secret.
    env.set("AZURE_CLIENT_SECRET", "not-the-secret");
    const auto e = first_error(azure_token_config());
    CHECK(e.condition() == sds::errc::auth_failed);
    CHECK(std::string(e.what()).find("environment credential: the token endpoint answered HTTP 401 invalid_client") !=
          std::string::npos);
    check_no_secret(e, {"not-the-secret", client_secret});
}

TEST_CASE("credentials: Azure workload identity and managed identity (VM and App Service)", "[integration][credentials]") {
    credentials_server server(entra_args());
    scratch_dir dir;
    {
        auto env = azure_token_env();
        env.set("AZURE_TENANT_ID", tenant)
            .set("AZURE_CLIENT_ID", client_id)
            .set("AZURE_FEDERATED_TOKEN_FILE", dir.write("federated", "federated-token\n"))
            .set("AZURE_AUTHORITY_HOST", server.url());
        round_trip(azure_token_config(), "workload");
        CHECK(server.stat("entra_client_assertion") == 1);
    }
    {
        auto env = azure_token_env();
        env.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url());
        round_trip(azure_token_config(), "vm");
        CHECK(server.stat("entra_imds") == 1);
    }
    {
        auto env = azure_token_env();
        env.set("IDENTITY_ENDPOINT", server.url() + "/msi/token").set("IDENTITY_HEADER", "app-service-header");
        round_trip(azure_token_config(), "appservice");
        CHECK(server.stat("entra_app_service") == 1);
        env.set("IDENTITY_HEADER", "wrong-header");
        const auto e = first_error(azure_token_config());
        CHECK(e.condition() == sds::errc::auth_failed);
        check_no_secret(e, {"wrong-header"});
    }
}

TEST_CASE("credentials: Azurite refuses an expired bearer token and a wrong audience as auth_failed",
          "[integration][credentials]") {
    for (const char* setting : {R"({"entra_jwt_expired":true})", R"({"entra_audience":"https://vault.azure.net"})"}) {
        INFO(setting);
        credentials_server server(entra_args());
        server.configure(setting);
        auto env = azure_token_env();
        env.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url());
        const auto e = first_error(azure_token_config());
        INFO("message: " << e.what());
        CHECK(e.condition() == sds::errc::auth_failed);
        CHECK(e.diag().http_status == 403u);
    }
}

// ---------------------------------------------------------------- no secret in any source's error

namespace {

// What each source is given, distinctive and long, with characters a form
// or a query carries percent-encoded ('+', '/', '='), so that a server
// quoting the request as sent and one quoting it decoded both show in the
// search. The server expects other values: a source that reaches its
// checks is refused.
const std::string web_token = "eyJsds.WebIdentity+Token/7Hq2Lx9Vb4Nz0Pw=";
const std::string container_token = "Bearer sds-Container+Token/5Kp8Rw3Jd6Fy=";
const std::string source_secret = "sdsSourceProfile/Secret+Key7Tm4Xw9Qz2LcV";
const std::string session_token = "IQoJsdsFakeStaticSession/Token+Never/Shown==";
const std::string entra_secret = "sds~Entra.Client_Secret+9Vb/3Xq=Wd8Lm";
const std::string federated_token = "eyJsds.Federated+Token/Kq8Zt4Wm1Rb=";
const std::string identity_header = "sds-Identity+Header/Rj5Tn8Vc2Hk=";

std::vector<sds::test::secret> given_secrets() {
    std::vector<sds::test::secret> out{{"the web identity token", web_token},
                                       {"the container authorization token", container_token},
                                       {"the source profile's secret access key", source_secret},
                                       {"the static session token", session_token},
                                       {"the Entra client secret", entra_secret},
                                       {"the federated token", federated_token},
                                       {"the identity header", identity_header}};
    // Their starts too: a message cut short may end inside one.
    const auto whole = out;
    for (const auto& s : whole) out.push_back({s.what + "'s first 16 characters", s.value.substr(0, 16)});
    return out;
}

// Whether `text` holds 64 hex digits in a row: a SigV4 signature.
bool holds_a_signature(const std::string& text) {
    int run = 0;
    for (const char c : text) {
        run = std::isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
        if (run >= 64) return true;
    }
    return false;
}

// One fault played on a source: "reject" is none (the server's own check
// refuses what the source sends); anything else is a --fault KIND:TARGET.
struct fault_case {
    std::string fault;
    sds::errc expected;
};

struct source_case {
    std::string name;        // for the report
    std::string source;      // how its errors name it ("<source>: ...")
    bool azure = false;
    bool signs = false;      // sends a SigV4 signature (AssumeRole)
    std::function<void(scoped_env&)> setup;
    std::vector<fault_case> faults;
};

} // namespace

TEST_CASE("credentials: no source's error shows a secret it was given, whatever the server answers (echo, 500, "
          "malformed, a refusal)",
          "[integration][credentials]") {
    using sds::errc;
    // The right values, which no source is given.
    credentials_server server({"--role-arn", role_arn, "--web-identity-token", "the-right-web-identity-token",
                               "--container-token", "the-right-container-token", "--entra-client-id", client_id,
                               "--entra-client-secret", "the-right-client-secret", "--entra-federated-token",
                               "the-right-federated-token", "--identity-header", "the-right-identity-header"});
    scratch_dir dir;
    const std::string web_token_file = dir.write("web-token", web_token + "\n");
    const std::string container_token_file = dir.write("container-token", container_token + "\n");
    const std::string federated_token_file = dir.write("federated-token", federated_token + "\n");
    const std::string sts = server.url();
    const std::string keys_with_token = dir.write("credentials", std::string("[base]\naws_access_key_id = ") + static_key +
                                                                     "\naws_secret_access_key = " + source_secret +
                                                                     "\naws_session_token = " + session_token + "\n");
    const std::string keys_only = dir.write("credentials-keys-only", std::string("[base]\naws_access_key_id = ") +
                                                                         static_key + "\naws_secret_access_key = " +
                                                                         source_secret + "\n");
    const std::string assume_config = dir.write("config-assume", std::string("[profile deploy]\nrole_arn = ") + role_arn +
                                                                      "\nsource_profile = base\n");
    const std::string web_config = dir.write("config-web", std::string("[default]\nrole_arn = ") + role_arn +
                                                               "\nweb_identity_token_file = " + web_token_file + "\n");

    // The faults of each target, and what they give. Hangs only where the
    // source's own timeout is 1 s (instance metadata, Azure IMDS): the others
    // wait 2 s (container), 3 s (App Service), 5 s (STS) or 10 s (Entra ID's
    // v2.0 endpoint) for nothing a hang could show, and the timeout message
    // (the origin and the limit) is the fault test's above.
    const auto common = [](const char* target, errc echo_gives) {
        return std::vector<fault_case>{{std::string("echo:") + target, echo_gives},
                                       {std::string("500:") + target, errc::service_error},
                                       {std::string("malformed:") + target, errc::protocol_error},
                                       {"reject", errc::auth_failed}};
    };
    const auto without_refusal = [](std::vector<fault_case> f) {
        f.pop_back();
        return f;
    };
    std::vector<fault_case> imds_faults = without_refusal(common("imds-creds", errc::protocol_error));
    imds_faults.push_back({"echo:imds", errc::protocol_error});
    imds_faults.push_back({"malformed:imds", errc::protocol_error});
    imds_faults.push_back({"hang:imds-creds", errc::timeout});
    std::vector<fault_case> azure_imds_faults = without_refusal(common("entra", errc::auth_failed));
    azure_imds_faults.push_back({"hang:entra", errc::timeout});

    const std::vector<source_case> sources{
        {"the container endpoint, AWS_CONTAINER_AUTHORIZATION_TOKEN", "container credentials", false, false,
         [&](scoped_env& e) {
             e.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/ecs/credentials")
                 .set("AWS_CONTAINER_AUTHORIZATION_TOKEN", container_token);
         },
         common("ecs", errc::protocol_error)},
        {"the container endpoint, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "container credentials", false, false,
         [&](scoped_env& e) {
             e.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/ecs/credentials")
                 .set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", container_token_file);
         },
         common("ecs", errc::protocol_error)},
        {"instance metadata (IMDSv2)", "instance metadata", false, false,
         [&](scoped_env& e) {
             e.unset("AWS_EC2_METADATA_DISABLED").set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
         },
         imds_faults},
        {"web identity from the environment", "web identity", false, false,
         [&](scoped_env& e) {
             e.set("AWS_WEB_IDENTITY_TOKEN_FILE", web_token_file)
                 .set("AWS_ROLE_ARN", role_arn)
                 .set("AWS_ENDPOINT_URL_STS", sts);
         },
         common("sts", errc::auth_failed)},
        {"a profile's role_arn with source_profile (keys and a session token)", "profile 'deploy'", false, true,
         [&](scoped_env& e) {
             e.set("AWS_SHARED_CREDENTIALS_FILE", keys_with_token)
                 .set("AWS_CONFIG_FILE", assume_config)
                 .set("AWS_PROFILE", "deploy")
                 .set("AWS_ENDPOINT_URL_STS", sts);
         },
         common("sts", errc::auth_failed)},
        {"a profile's role_arn with source_profile (keys only)", "profile 'deploy'", false, true,
         [&](scoped_env& e) {
             e.set("AWS_SHARED_CREDENTIALS_FILE", keys_only)
                 .set("AWS_CONFIG_FILE", assume_config)
                 .set("AWS_PROFILE", "deploy")
                 .set("AWS_ENDPOINT_URL_STS", sts);
         },
         common("sts", errc::auth_failed)},
        {"a profile with web_identity_token_file", "profile 'default'", false, false,
         [&](scoped_env& e) { e.set("AWS_CONFIG_FILE", web_config).set("AWS_ENDPOINT_URL_STS", sts); },
         common("sts", errc::auth_failed)},
        {"Azure: a client secret in the environment", "environment credential", true, false,
         [&](scoped_env& e) {
             e.set("AZURE_TENANT_ID", tenant)
                 .set("AZURE_CLIENT_ID", client_id)
                 .set("AZURE_CLIENT_SECRET", entra_secret)
                 .set("AZURE_AUTHORITY_HOST", server.url());
         },
         common("entra", errc::auth_failed)},
        {"Azure: workload identity", "workload identity", true, false,
         [&](scoped_env& e) {
             e.set("AZURE_TENANT_ID", tenant)
                 .set("AZURE_CLIENT_ID", client_id)
                 .set("AZURE_FEDERATED_TOKEN_FILE", federated_token_file)
                 .set("AZURE_AUTHORITY_HOST", server.url());
         },
         common("entra", errc::auth_failed)},
        {"Azure: managed identity through Azure IMDS", "managed identity", true, false,
         [&](scoped_env& e) { e.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url()); }, azure_imds_faults},
        {"Azure: App Service managed identity", "managed identity", true, false,
         [&](scoped_env& e) {
             e.set("IDENTITY_ENDPOINT", server.url() + "/msi/token").set("IDENTITY_HEADER", identity_header);
         },
         common("entra", errc::auth_failed)},
    };

    const auto secrets = given_secrets();
    int cases = 0;
    for (const auto& src : sources) {
        for (const auto& f : src.faults) {
            INFO(src.name << ", " << f.fault);
            const bool refusal = f.fault == "reject";
            server.configure(refusal ? std::string(R"({"faults":[]})") : R"({"faults":[")" + f.fault + R"("]})");
            server.control(beast::http::verb::post, "/__control/reset-stats");
            auto env = src.azure ? azure_token_env() : clean_env();
            src.setup(env);
            const sds::error e = src.azure ? first_error(azure_token_config())
                                           : first_error(sds::dynamodb_config::from_env());
            const std::string all = sds::test::everything_in(e);
            INFO("the error: " << all);
            // The server did play the case: a fault, or a refusal of what was sent.
            CHECK(server.stat(refusal ? "rejected" : "faulted") >= 1);
            CHECK(e.condition() == f.expected);
            CHECK(std::string(e.what()).find(src.source + ": ") != std::string::npos);
            sds::test::check_clean(all, secrets);
            if (src.signs) CHECK_FALSE(holds_a_signature(all));
            ++cases;
        }
    }
    CHECK(cases == 46);
}
