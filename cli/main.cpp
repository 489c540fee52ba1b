// sds: the datastore from the command line, for trying things out and for
// scripts. See `sds --help` and the README; the exit statuses are in commands.hpp.
#include "command_line.hpp"
#include "commands.hpp"

#include <sds/datastore.hpp>
#include <sds/azure_table_config.hpp>
#include <sds/dynamodb_config.hpp>
#include <sds/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

namespace asio = boost::asio;
namespace cli = sds::cli;

int exit_status_for(sds::errc e) {
    switch (e) {
    case sds::errc::invalid_argument: return cli::exit_status::usage;
    case sds::errc::table_not_found: return cli::exit_status::not_found;
    default: return cli::exit_status::service_error;
    }
}

// All of standard input, byte for byte.
std::string read_standard_input() {
    std::string all;
    char buffer[64 * 1024];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, stdin)) all.append(buffer, n);
    if (std::ferror(stdin)) throw std::runtime_error("cannot read standard input");
    return all;
}

// The engine --engine names, else SDS_ENGINE, else dynamodb.
std::string engine_name(const cli::command_line& cmd) {
    if (!cmd.engine.empty()) return cmd.engine;
    if (const char* env = std::getenv("SDS_ENGINE"); env && *env) return env;
    return "dynamodb";
}

// A datastore on the engine asked for, configured from the environment as
// the vendors' tools are; --endpoint overrides the endpoint.
sds::datastore make_datastore(asio::io_context& io, const std::string& engine, const cli::command_line& cmd) {
    if (engine == "azure") {
        sds::azure_table_config config = sds::azure_table_config::from_env();
        if (cmd.endpoint) config.endpoint = *cmd.endpoint;
        return {io.get_executor(), std::move(config)};
    }
    sds::dynamodb_config config = sds::dynamodb_config::from_env();
    if (cmd.endpoint) {
        config.endpoint = *cmd.endpoint;
        // As from_env does for an endpoint the environment names: with no
        // region named either, it only signs.
        if (config.region.empty()) config.region = "us-east-1";
    }
    return {io.get_executor(), std::move(config)};
}

int run(const cli::command_line& cmd, const std::string& engine) {
    asio::io_context io;
    sds::datastore db = make_datastore(io, engine, cmd);
    std::exception_ptr failure;
    int status = cli::exit_status::ok;
    asio::co_spawn(io, cli::run_command(db, cmd, std::cout), [&](std::exception_ptr e, int s) {
        failure = e;
        status = s;
        io.stop();  // idle pooled connections must not keep the program waiting
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return status;
}

} // namespace

int main(int argc, char* argv[]) {
    cli::command_line cmd;
    try {
        cmd = cli::parse({argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)});
    } catch (const cli::usage_error& e) {
        std::cerr << "sds: " << e.what() << "\n\n" << cli::usage;
        return cli::exit_status::usage;
    }
    if (cmd.help) {
        std::cout << cli::usage;
        return cli::exit_status::ok;
    }

    const std::string engine = engine_name(cmd);
    if (engine != "dynamodb" && engine != "azure") {
        std::cerr << "sds: unknown engine '" << engine << "' (dynamodb or azure)\n\n" << cli::usage;
        return cli::exit_status::usage;
    }

    try {
        if (cmd.what == cli::command::set && cmd.args[2] == "-") cmd.args[2] = read_standard_input();
        const int status = run(cmd, engine);
        if (!std::cout.flush()) {
            std::cerr << "sds: cannot write standard output\n";
            return cli::exit_status::service_error;
        }
        return status;
    } catch (const sds::error& e) {
        std::cout.flush();
        std::cerr << "sds: " << e.what() << "\n";  // "<errc>: <message>; diagnostics"
        return exit_status_for(e.condition());
    } catch (const std::exception& e) {
        std::cout.flush();
        std::cerr << "sds: " << e.what() << "\n";
        return cli::exit_status::service_error;
    }
}
