// A datastore whose endpoint is a port nothing listens on, so that only the
// facade's own checks can refuse an operation (and anything that passes them
// ends in network_error or timeout, quickly).
#pragma once

#include "support/expect_error.hpp"
#include "support/run.hpp"

#include <sds/datastore.hpp>

#include <boost/asio/this_coro.hpp>

namespace sds::test {

inline dynamodb_config closed_port_config() {
    dynamodb_config c;
    c.endpoint = "http://127.0.0.1:9";
    c.credentials = {"AKIDEXAMPLE", "secret", ""};
    c.retry.max_attempts = 1;
    c.http.connect_timeout = std::chrono::milliseconds(1000);
    c.http.request_timeout = std::chrono::milliseconds(2000);
    return c;
}

/// The same on Azure Table Storage (the emulator's public development key).
inline azure_table_config azure_closed_port_config() {
    azure_table_config c;
    c.account_name = "devstoreaccount1";
    c.account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    c.endpoint = "http://127.0.0.1:9/devstoreaccount1";
    c.retry.max_attempts = 1;
    c.http.connect_timeout = std::chrono::milliseconds(1000);
    c.http.request_timeout = std::chrono::milliseconds(2000);
    return c;
}

template <class Config, class Op>
boost::asio::awaitable<void> on_datastore(Config config, Op op) {
    sds::datastore db{co_await boost::asio::this_coro::executor, std::move(config)};
    co_await op(db);
}

/// Runs `op(datastore&)` on a datastore at the closed port; returns the error it throws.
template <class Op>
sds::error datastore_error(Op op) {
    return expect_error([&] { run([&](auto&) { return on_datastore(closed_port_config(), op); }); });
}

/// The same on Azure Table Storage.
template <class Op>
sds::error azure_datastore_error(Op op) {
    return expect_error([&] { run([&](auto&) { return on_datastore(azure_closed_port_config(), op); }); });
}

} // namespace sds::test
