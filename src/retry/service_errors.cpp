#include "retry/service_errors.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace sds::detail {
namespace {

std::string_view trim(std::string_view s) {
    constexpr std::string_view space = " \t\r\n";
    const auto first = s.find_first_not_of(space);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(space) - first + 1);
}

// Parses `body` as JSON, or gives null for anything else (empty, XML, HTML,
// truncated). Never throws.
boost::json::value parse_json(std::string_view body) {
    boost::system::error_code ec;
    if (trim(body).empty()) return nullptr;
    try {
        boost::json::value v = boost::json::parse(body, ec);
        if (ec) return nullptr;
        return v;
    } catch (...) {
        // parse reports syntax errors through ec; only allocation can throw.
        return nullptr;
    }
}

// The string member `key` of `object`, or empty when it is absent or not a string.
std::string_view string_member(const boost::json::value& object, std::string_view key) {
    const auto* obj = object.if_object();
    if (!obj) return {};
    const auto* member = obj->if_contains(key);
    if (!member) return {};
    const auto* str = member->if_string();
    return str ? std::string_view{*str} : std::string_view{};
}

const boost::json::value* object_member(const boost::json::value& object, std::string_view key) {
    const auto* obj = object.if_object();
    if (!obj) return nullptr;
    const auto* member = obj->if_contains(key);
    return member && member->is_object() ? member : nullptr;
}

// Smithy's rule for AWS JSON error codes: "Foo:http://internal..." and
// "com.amazonaws.dynamodb.v20120810#Foo" both name the shape "Foo".
std::string_view sanitize_aws_code(std::string_view code) {
    code = trim(code);
    if (const auto colon = code.find(':'); colon != std::string_view::npos) code = code.substr(0, colon);
    if (const auto hash = code.find('#'); hash != std::string_view::npos) code = code.substr(hash + 1);
    return code;
}

std::string_view first_line(std::string_view text) {
    return trim(text.substr(0, text.find_first_of("\r\n")));
}

} // namespace

service_error_info parse_aws_error(std::string_view json_body, std::string_view x_amzn_requestid_header,
                                   std::string_view x_amzn_errortype_header) {
    service_error_info info;
    info.request_id = trim(x_amzn_requestid_header);
    const boost::json::value body = parse_json(json_body);

    std::string_view code = string_member(body, "__type");
    if (sanitize_aws_code(code).empty()) code = string_member(body, "code");
    if (sanitize_aws_code(code).empty()) code = x_amzn_errortype_header;
    info.code = sanitize_aws_code(code);

    std::string_view message = string_member(body, "message");
    if (message.empty()) message = string_member(body, "Message");
    info.message = message;
    return info;
}

service_error_info parse_azure_error(std::string_view body, std::string_view x_ms_error_code_header,
                                     std::string_view x_ms_request_id_header) {
    service_error_info info;
    info.request_id = trim(x_ms_request_id_header);
    info.code = trim(x_ms_error_code_header);

    const boost::json::value json = parse_json(body);
    // Table Storage (OData v3) says "odata.error"; OData v4 services say "error".
    const boost::json::value* error = object_member(json, "odata.error");
    if (!error) error = object_member(json, "error");
    if (!error) return info;

    if (info.code.empty()) info.code = trim(string_member(*error, "code"));
    // message is {"lang":..., "value":...} in OData v3 and a plain string in v4.
    std::string_view message = string_member(*error, "message");
    if (const auto* localized = object_member(*error, "message")) message = string_member(*localized, "value");
    info.message = first_line(message);
    return info;
}

} // namespace sds::detail
