// The parsers of what a service says when it refuses a request
// (src/retry/service_errors.hpp), which the retry loop runs on every error
// response: DynamoDB's {"__type":...,"message":...} with x-amzn-RequestId and
// x-amzn-ErrorType, Azure's {"odata.error":{...}} with x-ms-error-code and
// x-ms-request-id. They never throw, whatever the body (JSON, XML, HTML,
// truncated).
//
// Input: the first line is one header's value, the second line the other's,
// the rest is the body; both parsers read it.
#include "retry/service_errors.hpp"
#include "support/finding.hpp"
#include "support/lines.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

bool trimmed(std::string_view s) {
    constexpr std::string_view space = " \t\r\n";
    return s.empty() || (space.find(s.front()) == std::string_view::npos && space.find(s.back()) == std::string_view::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace sds::detail;
    using sds::fuzz::finding;
    std::string_view body = sds::fuzz::text_of(data, size);
    const std::string_view first = sds::fuzz::next_line(body);
    const std::string_view second = sds::fuzz::next_line(body);

    const service_error_info aws = parse_aws_error(body, first, second);
    if (aws.code.find(':') != std::string::npos) finding("an AWS error code kept its ':' suffix");
    if (!trimmed(aws.request_id)) finding("an AWS request id was not trimmed");

    const service_error_info azure = parse_azure_error(body, second, first);
    if (azure.message.find_first_of("\r\n") != std::string::npos) finding("an Azure message has more than one line");
    if (!trimmed(azure.code) || !trimmed(azure.request_id) || !trimmed(azure.message))
        finding("an Azure code, request id or message was not trimmed");
    return 0;
}
