// azure_table_config from connection strings and from the environment: the
// forms Azure documents, the emulator's shorthand, and malformed strings
// refused by the field they get wrong, never echoing the key.
#include <catch2/catch.hpp>

#include "support/expect_error.hpp"

#include <sds/azure_table_config.hpp>
#include <sds/datastore.hpp>
#include <sds/error.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <string>

using namespace sds;
using sds::test::expect_error;

namespace {

constexpr const char* key = "c2VjcmV0LWFjY291bnQta2V5LWZvci10ZXN0cw==";  // base64 of a made-up key

// Sets (or, for nullptr, unsets) environment variables for one scope.
class scoped_env {
public:
    scoped_env(std::initializer_list<std::pair<const char*, const char*>> vars) {
        for (const auto& [name, value] : vars) {
            const char* old = std::getenv(name);
            saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
            if (value) ::setenv(name, value, 1);
            else ::unsetenv(name);
        }
    }
    ~scoped_env() {
        for (const auto& [name, value] : saved_) {
            if (value) ::setenv(name.c_str(), value->c_str(), 1);
            else ::unsetenv(name.c_str());
        }
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

void check_refused(std::string_view connection_string, std::string_view names) {
    INFO(connection_string);
    const auto e = expect_error([&] { azure_table_config::from_connection_string(connection_string); });
    CHECK(e.condition() == errc::invalid_argument);
    const std::string what = e.what();
    CHECK(what.find(names) != std::string::npos);
    CHECK(what.find(key) == std::string::npos);
    CHECK(what.find("c2VjcmV0") == std::string::npos);
}

} // namespace

TEST_CASE("UseDevelopmentStorage=true is Azurite's well-known account on 127.0.0.1:10002", "[azure][config]") {
    const auto c = azure_table_config::from_connection_string("UseDevelopmentStorage=true");
    CHECK(c.account_name == "devstoreaccount1");
    CHECK(c.endpoint == "http://127.0.0.1:10002/devstoreaccount1");
    CHECK(c.account_key.rfind("Eby8vdM02xNOcqFl", 0) == 0);
    CHECK(c.sas_token.empty());
    // Names are case-insensitive, blanks and empty parts are ignored.
    const auto d = azure_table_config::from_connection_string(" usedevelopmentstorage = TRUE ; ;");
    CHECK(d.endpoint == c.endpoint);
}

TEST_CASE("an account connection string gives the account's table endpoint", "[azure][config]") {
    const auto c = azure_table_config::from_connection_string(
        std::string("DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=") + key +
        ";EndpointSuffix=core.chinacloudapi.cn");
    CHECK(c.account_name == "myaccount");
    CHECK(c.account_key == key);
    CHECK(c.endpoint == "https://myaccount.table.core.chinacloudapi.cn");
    // Without a suffix: the public cloud; without a protocol: https.
    const auto d =
        azure_table_config::from_connection_string(std::string("AccountName=myaccount;AccountKey=") + key);
    CHECK(d.endpoint == "https://myaccount.table.core.windows.net");
    // An explicit TableEndpoint wins; other services' endpoints are ignored.
    const auto e = azure_table_config::from_connection_string(
        std::string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") + key +
        ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;TableEndpoint=http://127.0.0.1:18002/devstoreaccount1;");
    CHECK(e.endpoint == "http://127.0.0.1:18002/devstoreaccount1");
}

TEST_CASE("a SAS connection string carries the token and no key", "[azure][config]") {
    const auto c = azure_table_config::from_connection_string(
        "TableEndpoint=https://myaccount.table.core.windows.net;SharedAccessSignature=?sv=2019-02-02&sp=r&sig=a%3D");
    CHECK(c.sas_token == "sv=2019-02-02&sp=r&sig=a%3D");
    CHECK(c.account_key.empty());
    CHECK(c.endpoint == "https://myaccount.table.core.windows.net");
}

TEST_CASE("a malformed connection string is refused by the field it gets wrong, never echoing the key",
          "[azure][config]") {
    check_refused("AccountName=myaccount;c2VjcmV0LWFjY291bnQta2V5", "part 2");
    // A bare key holds '=' (padding): an unknown field, so no credentials.
    check_refused(std::string("AccountName=myaccount;") + key, "neither AccountKey nor SharedAccessSignature");
    check_refused("AccountName=myaccount;AccountKey=not*base64*c2VjcmV0", "AccountKey");
    check_refused(std::string("DefaultEndpointsProtocol=ftp;AccountName=myaccount;AccountKey=") + key,
                  "DefaultEndpointsProtocol");
    check_refused(std::string("AccountName=My_Account;AccountKey=") + key, "AccountName");
    check_refused("AccountName=myaccount", "neither AccountKey nor SharedAccessSignature");
    check_refused(std::string("AccountKey=") + key, "AccountKey needs an AccountName");
    check_refused(std::string("AccountName=a1b;AccountName=a2b;AccountKey=") + key, "AccountName is given twice");
    check_refused("UseDevelopmentStorage=false", "UseDevelopmentStorage");
    check_refused(std::string("UseDevelopmentStorage=true;AccountKey=") + key, "UseDevelopmentStorage");
    check_refused("TableEndpoint=https://x.table.core.windows.net;SharedAccessSignature=", "SharedAccessSignature");
}

TEST_CASE("from_env reads the connection string, else the account and key the Azure CLI reads", "[azure][config]") {
    {
        scoped_env env{{"AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true"},
                       {"SDS_AZURE_TABLE_ENDPOINT", nullptr}};
        CHECK(azure_table_config::from_env().endpoint == "http://127.0.0.1:10002/devstoreaccount1");
    }
    {
        scoped_env env{{"AZURE_STORAGE_CONNECTION_STRING", nullptr},
                       {"AZURE_STORAGE_ACCOUNT", "myaccount"},
                       {"AZURE_STORAGE_KEY", key},
                       {"AZURE_STORAGE_SAS_TOKEN", nullptr},
                       {"SDS_AZURE_TABLE_ENDPOINT", "http://127.0.0.1:18002/myaccount"}};
        const auto c = azure_table_config::from_env();
        CHECK(c.account_name == "myaccount");
        CHECK(c.account_key == key);
        CHECK(c.endpoint == "http://127.0.0.1:18002/myaccount");
    }
    {
        scoped_env env{{"AZURE_STORAGE_CONNECTION_STRING", nullptr},
                       {"AZURE_STORAGE_ACCOUNT", "myaccount"},
                       {"AZURE_STORAGE_KEY", nullptr},
                       {"AZURE_STORAGE_SAS_TOKEN", "?sv=2019-02-02&sig=x"},
                       {"SDS_AZURE_TABLE_ENDPOINT", nullptr}};
        const auto c = azure_table_config::from_env();
        CHECK(c.sas_token == "sv=2019-02-02&sig=x");
        CHECK(c.endpoint.empty());  // the datastore derives https://myaccount.table.core.windows.net
    }
}

TEST_CASE("an Azure datastore opens nothing when made, and refuses a malformed key at once", "[azure][config]") {
    boost::asio::io_context io;
    azure_table_config c;
    c.account_name = "myaccount";
    c.account_key = key;
    datastore ok(io.get_executor(), c);  // no endpoint: the public one, not contacted
    CHECK(io.poll() == 0);
    c.account_key = "c2VjcmV0*notbase64";
    const auto e = expect_error([&] { datastore bad(io.get_executor(), c); });
    CHECK(e.condition() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("c2VjcmV0") == std::string::npos);
}
