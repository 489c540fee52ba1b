// The DynamoDB engine reading whatever a server may answer: JSON bodies of
// every operation it sends (GetItem, UpdateItem, BatchGetItem,
// BatchWriteItem, ListTables, DescribeTable, ...), error bodies and headers,
// x-amz-crc32, Date (clock skew), Retry-After, and broken connections, through
// the retry loop. The input is an operation and a script of responses
// (support/scripted_transport.hpp, support/engine_driver.hpp); every outcome
// must be a result or an sds::error.
#include "dynamodb/dynamodb_engine.hpp"
#include "support/engine_driver.hpp"
#include "support/scripted_transport.hpp"

#include <sds/dynamodb_config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto parts = sds::fuzz::split_script(input);

    sds::dynamodb_config config;
    config.region = "us-east-1";
    config.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    // No waiting: backoffs and polls take no time, so a run is all decoding.
    config.retry.base_delay = 0ms;
    config.retry.throttle_base_delay = 0ms;
    config.retry.max_backoff = 0ms;
    config.table_poll_interval = 0ms;
    // A small limit, so that inputs can reach it.
    config.http.max_response_body = 4 * 1024;

    auto transport = std::make_shared<sds::fuzz::scripted_transport>(
        std::move(parts.steps), /*dynamodb=*/true, config.http.max_response_body, "http://127.0.0.1:8000");
    auto engine = sds::detail::make_dynamodb_engine(transport, config);
    sds::fuzz::run_operation(engine, parts.preamble, [&] { return transport->sends(); });
    return 0;
}
