// What a service said when it refused a request: its error code, its message
// and the request id to quote to its support. Parsing never throws: a body
// that is empty, truncated, XML or HTML simply yields less information.
#pragma once

#include <string>
#include <string_view>

namespace sds::detail {

/// A service's error, as far as its response tells.
struct service_error_info {
    std::string code;        ///< e.g. "ResourceNotFoundException", "TableNotFound"; empty if unknown
    std::string message;     ///< the service's own message; empty if unknown
    std::string request_id;  ///< x-amzn-RequestId / x-ms-request-id; empty if absent
};

/// Reads a DynamoDB (AWS JSON 1.0) error response:
/// {"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"..."}.
/// The code is the body's "__type" (or "code"), else the x-amzn-ErrorType
/// header, reduced to the shape name: anything from the first ':' on and
/// everything up to the first '#' are dropped. The message is "message" or
/// "Message". Pass an empty string for a missing header.
service_error_info parse_aws_error(std::string_view json_body, std::string_view x_amzn_requestid_header,
                                   std::string_view x_amzn_errortype_header);

/// Reads an Azure Table Storage error response:
/// {"odata.error":{"code":"TableNotFound","message":{"lang":"en-US","value":"..."}}}.
/// The x-ms-error-code header, when present, is the code; otherwise the
/// body's. The message is the first line of message.value (Azure appends
/// RequestId and Time lines). An empty or XML body gives the header's code
/// and no message. Pass an empty string for a missing header.
service_error_info parse_azure_error(std::string_view body, std::string_view x_ms_error_code_header,
                                     std::string_view x_ms_request_id_header);

} // namespace sds::detail
