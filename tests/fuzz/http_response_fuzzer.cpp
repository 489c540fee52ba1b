// The bytes a server sends, read as an sds connection reads them
// (src/http/response_reader.hpp: Beast's parser, 64 KiB head limit, the body
// limit, interim 1xx answers skipped, 101 refused), arriving in pieces of
// any size, then handed to what reads a response's head: the Date header
// (clock skew), Retry-After and its millisecond cousins, DynamoDB's
// x-amz-crc32 and both services' error bodies.
//
// Input: one byte for the size of the pieces the stream hands out (0: all
// at once), one byte choosing the body limit (bit 0: 1 KiB instead of the
// default 32 MiB), then the server's bytes. Up to four responses are read in
// turn while the connection stays reusable.
#include "dynamodb/dynamodb_engine.hpp"
#include "http/response_reader.hpp"
#include "retry/clock_skew.hpp"
#include "retry/retry_policy.hpp"
#include "retry/service_errors.hpp"
#include "support/finding.hpp"

#include <sds/http_options.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace sds::detail;

std::string_view header(const http_response& r, std::string_view name) {
    const auto it = r.find(beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
}

// What the retry loop and the engines read from a response, as they read it.
void read_head_and_body(const http_response& r) {
    const auto now = std::chrono::system_clock::now();
    clock_skew skew;
    skew.observe(header(r, "Date"), now);
    (void)skew.now();
    (void)server_retry_after(header(r, "x-ms-retry-after-ms"), header(r, "retry-after-ms"), header(r, "Retry-After"), now);
    (void)dynamodb_crc32(r.body());
    (void)parse_aws_error(r.body(), header(r, "x-amzn-RequestId"), header(r, "x-amzn-ErrorType"));
    (void)parse_azure_error(r.body(), header(r, "x-ms-error-code"), header(r, "x-ms-request-id"));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t piece = data[0];
    const std::size_t body_limit = (data[1] & 1) ? 1024 : sds::http_options{}.max_response_body;
    const std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);

    asio::io_context io;
    beast::test::stream server(io);
    server.append(bytes);
    server.close_remote();
    if (piece > 0) server.read_size(piece);

    bool done = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        for (int n = 0; n < 4; ++n) {
            http_response res;
            const read_result r = co_await read_response(server, buffer, res, body_limit, [] { return true; });
            if (r.ec) break;
            const unsigned status = res.result_int();
            if (status >= 100 && status < 200) sds::fuzz::finding("an interim response was returned as the answer");
            if (res.body().size() > body_limit) sds::fuzz::finding("a body over the limit was accepted");
            read_head_and_body(res);
            // A connection is reused only after a response that keeps it alive.
            if (!res.keep_alive()) break;
        }
    }, [&](std::exception_ptr e) {
        done = true;
        if (e) sds::fuzz::finding("reading a response threw " + sds::fuzz::describe(e));
    });
    io.run();
    if (!done) sds::fuzz::finding("reading the response never completed");
    return 0;
}
