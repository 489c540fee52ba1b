// Signs one request with each installed signer and checks the result's shape;
// exits non-zero if anything is off.
#include <sds/datastore.hpp>
#include <sds/sharedkey.hpp>
#include <sds/sigv4.hpp>
#include <sds/version.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <iostream>
#include <string>

int main(int argc, char* argv[]) {
    if (argc != 2 || sds::version() != argv[1]) {
        std::cerr << "version mismatch: linked " << sds::version() << "\n";
        return 1;
    }
    const sds::sigv4::header hs[] = {{"Host", "localhost"}};
    sds::sigv4::signing_params p;
    p.region = "us-east-1";
    p.service = "dynamodb";
    p.time = std::chrono::system_clock::now();
    sds::sigv4::signing_key_cache cache;
    const auto a = sds::sigv4::sign_headers({"POST", "/", "", hs, "{}"}, {"AKID", "secret", ""}, p, &cache);
    const auto b = sds::sigv4::sign_headers({"POST", "/", "", hs, "{}"}, {"AKID", "secret", ""}, p);
    if (a.signature.size() != 64 || a.signature != b.signature) {
        std::cerr << "sigv4 signature not reproducible\n";
        return 1;
    }
    const std::string date = sds::sharedkey::format_date(p.time);
    const sds::sharedkey::header ah[] = {{"x-ms-date", date}};
    const auto key = sds::sharedkey::account_key::from_base64("a2V5");
    const auto s = sds::sharedkey::sign(sds::sharedkey::scheme::shared_key, {"GET", "/acct/Tables", "", ah}, {"acct", key});
    if (s.authorization.rfind("SharedKey acct:", 0) != 0) {
        std::cerr << "sharedkey authorization malformed\n";
        return 1;
    }
    // The datastore from the installed headers and library: constructing one
    // opens nothing; an operation that cannot be valid is refused before I/O.
    boost::asio::io_context io;
    sds::dynamodb_config config;
    config.endpoint = "http://127.0.0.1:9";
    config.credentials = {"AKID", "secret", ""};
    sds::datastore db(io.get_executor(), config);
    bool refused = false;
    boost::asio::co_spawn(io, db.set_data("ab", "key", std::string("value")), [&](std::exception_ptr e) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const sds::error& err) {
            refused = err.condition() == sds::errc::invalid_argument;
        }
    });
    io.run();
    if (!refused) {
        std::cerr << "datastore did not refuse a two-letter table name\n";
        return 1;
    }
    std::cout << "consumer linked sds " << sds::version() << ": " << a.fields.back().value << "\n";
    return 0;
}
