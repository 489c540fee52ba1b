// The services the integration tests run against, all started by the CTest
// fixture `emulators` (scripts/emulators.sh), and how to reach each: one
// type per target, so that a scenario is written once and run on each
// (Catch's TEMPLATE_TEST_CASE).
#pragma once

#include <sds/datastore.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <future>
#include <string>
#include <unistd.h>

namespace sds::test {

inline std::string required_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run under the emulators fixture");
    return v;
}

/// DynamoDB: dynalite behind the SigV4-verifying gateway.
struct dynamodb_target {
    static constexpr const char* engine = "dynamodb";
    static sds::datastore make(boost::asio::any_io_executor ex) { return {std::move(ex), dynamodb_config::from_env()}; }
    /// A table name unique to this run, so that runs never see each other's data.
    static std::string table(const std::string& what) { return "it_" + what + "_" + std::to_string(::getpid()); }
};

/// Azure Table Storage: Azurite over HTTP, configured as the Azure CLI is
/// (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, SDS_AZURE_TABLE_ENDPOINT).
struct azure_target {
    static constexpr const char* engine = "azure";
    static azure_table_config config() { return azure_table_config::from_env(); }
    static sds::datastore make(boost::asio::any_io_executor ex) { return {std::move(ex), config()}; }
    /// Azure table names are letters and digits only.
    static std::string table(const std::string& what) {
        std::string name = "it";
        for (char c : what)
            if (std::isalnum(static_cast<unsigned char>(c))) name.push_back(c);
        return name + std::to_string(::getpid());
    }
};

/// Azurite over HTTPS, with a certificate from a CA made when the fixture
/// started; sds trusts that CA through http_options.tls.ca_file.
struct azure_tls_target : azure_target {
    static azure_table_config config() {
        auto c = azure_table_config::from_env();
        c.endpoint = required_env("SDS_AZURITE_TLS_URL");
        c.http.tls.ca_file = required_env("SDS_AZURITE_CA_FILE");
        return c;
    }
    static sds::datastore make(boost::asio::any_io_executor ex) { return {std::move(ex), config()}; }
};

/// Runs a shell command (an interop peer) and returns its standard output
/// without trailing newlines; fails the test unless it exits 0.
inline std::string command_output(const std::string& cmd) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
    REQUIRE(pipe);
    std::string out;
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get())) out.append(buf.data(), n);
    const int status = ::pclose(pipe.release());
    INFO("command: " << cmd << "\noutput: " << out);
    REQUIRE(status == 0);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

/// `s` in single quotes, for a shell command line.
inline std::string quote(const std::string& s) { return "'" + s + "'"; }

/// Runs `a` on `io` (restarted) until it is done; its value, or its exception.
template <class T>
T await_on(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
    auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
}

/// Runs `make(db)`'s awaitable on a fresh io_context with a datastore of
/// `Target`, and returns its value.
template <class Target, class F>
auto run_on(F make) {
    boost::asio::io_context io;
    sds::datastore db = Target::make(io.get_executor());
    using result_t = typename decltype(make(db))::value_type;
    std::future<result_t> f = boost::asio::co_spawn(io, make(db), boost::asio::use_future);
    io.run();
    return f.get();
}

} // namespace sds::test
