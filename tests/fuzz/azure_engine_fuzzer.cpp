// The Azure Table engine reading whatever a server may answer: OData JSON
// entities and table lists (Edm.Int64, Edm.Binary, write records, ETags,
// continuation headers), error bodies and x-ms-error-code, Date (clock
// skew), retry-after headers, and broken connections, through the retry
// loop and the counter code. The input is an operation and a script of
// responses (support/scripted_transport.hpp, support/engine_driver.hpp);
// every outcome must be a result or an sds::error.
#include "azure/azure_engine.hpp"
#include "support/engine_driver.hpp"
#include "support/scripted_transport.hpp"

#include <sds/azure_table_config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto parts = sds::fuzz::split_script(input);

    sds::azure_table_config config;
    config.account_name = "devstoreaccount1";
    // Azurite's well-known development key (public, documented by Microsoft).
    config.account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    // No waiting: backoffs and polls take no time, so a run is all decoding.
    config.retry.base_delay = 0ms;
    config.retry.throttle_base_delay = 0ms;
    config.retry.max_backoff = 0ms;
    config.table_poll_interval = 0ms;
    config.max_write_conflicts = 8;
    config.max_concurrent_reads = 4;
    // A small limit, so that inputs can reach it.
    config.http.max_response_body = 4 * 1024;

    auto transport = std::make_shared<sds::fuzz::scripted_transport>(
        std::move(parts.steps), /*dynamodb=*/false, config.http.max_response_body,
        "http://127.0.0.1:10002/devstoreaccount1");
    auto engine = sds::detail::make_azure_engine(transport, config);
    sds::fuzz::run_operation(engine, parts.preamble, [&] { return transport->sends(); });
    return 0;
}
