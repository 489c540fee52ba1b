#include <catch2/catch.hpp>

#include "retry/service_errors.hpp"

#include <string>
#include <vector>

using sds::detail::parse_aws_error;
using sds::detail::parse_azure_error;

namespace {

// Bodies that are not a usable error document, for both parsers.
const std::vector<std::string> malformed_bodies{
    "",
    " \r\n",
    "{",
    "{\"__type\":",
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\"",  // truncated
    "null",
    "42",
    "\"just a string\"",
    "[1,2,3]",
    "[{\"__type\":\"X#Y\"}]",
    "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>busy</Message></Error>",
    "{\"__type\":\"X#\xff\xfe\"}",  // invalid UTF-8
    std::string(10000, '['),           // nesting beyond any sane depth
    std::string("{\"__type\":\"A#B\"}\0garbage", 24),
    "{\"__type\":\"A#B\"} trailing",
};

} // namespace

// --- DynamoDB -----------------------------------------------------------------

TEST_CASE("a DynamoDB error body gives the shape name, message and request id", "[service_errors]") {
    const auto info = parse_aws_error(
        R"({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"})",
        "KJTQ6N5ML8VC8JG0AQLBOAH5C3VV4KQNSO5AEMVJF66Q9ASUAAJG", "");
    CHECK(info.code == "ResourceNotFoundException");
    CHECK(info.message == "Requested resource not found");
    CHECK(info.request_id == "KJTQ6N5ML8VC8JG0AQLBOAH5C3VV4KQNSO5AEMVJF66Q9ASUAAJG");
}

TEST_CASE("a DynamoDB error message may be spelled Message", "[service_errors]") {
    const auto info =
        parse_aws_error(R"({"__type":"com.amazon.coral.service#SerializationException","Message":"Start of structure"})",
                        "", "");
    CHECK(info.code == "SerializationException");
    CHECK(info.message == "Start of structure");
}

TEST_CASE("message is preferred to Message when both are present", "[service_errors]") {
    const auto info = parse_aws_error(R"({"__type":"A#B","Message":"second","message":"first"})", "", "");
    CHECK(info.message == "first");
}

TEST_CASE("AWS error codes lose their namespace and URL suffix", "[service_errors]") {
    CHECK(parse_aws_error(R"({"__type":"ConditionalCheckFailedException"})", "", "").code ==
          "ConditionalCheckFailedException");
    CHECK(parse_aws_error(R"({"__type":"com.amazon.coral.validate#ValidationException"})", "", "").code ==
          "ValidationException");
    CHECK(parse_aws_error(R"({"__type":"FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/"})",
                          "", "")
              .code == "FooError");
    CHECK(parse_aws_error(R"({"__type":"aws.protocoltests#FooError:http://internal.amazon.com/coral/x#y/"})", "", "")
              .code == "FooError");
    CHECK(parse_aws_error("", "", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/")
              .code == "ThrottlingException");
    CHECK(parse_aws_error("", "", "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException").code ==
          "ProvisionedThroughputExceededException");
}

TEST_CASE("a body code field is used when __type is missing", "[service_errors]") {
    const auto info = parse_aws_error(R"({"code":"InternalFailure","message":"oops"})", "", "");
    CHECK(info.code == "InternalFailure");
    CHECK(info.message == "oops");
}

TEST_CASE("the x-amzn-ErrorType header is the fallback when the body has no code", "[service_errors]") {
    for (const auto& body : malformed_bodies) {
        CAPTURE(body);
        const auto info = parse_aws_error(body, "REQ1", "ServiceUnavailable:http://internal.amazon.com/");
        CHECK(info.code == "ServiceUnavailable");
        CHECK(info.request_id == "REQ1");
    }
    CHECK(parse_aws_error(R"({"message":"no type here"})", "", "InternalServerError").code == "InternalServerError");
    CHECK(parse_aws_error(R"({"message":"no type here"})", "", "InternalServerError").message == "no type here");
    CHECK(parse_aws_error(R"({"__type":"","message":"x"})", "", "InternalServerError").code == "InternalServerError");
    CHECK(parse_aws_error(R"({"__type":17})", "", "InternalServerError").code == "InternalServerError");
}

TEST_CASE("the body's code wins over the x-amzn-ErrorType header", "[service_errors]") {
    CHECK(parse_aws_error(R"({"__type":"X#ThrottlingException"})", "", "SomethingElse").code ==
          "ThrottlingException");
}

TEST_CASE("an AWS error with neither body nor header is empty but for the request id", "[service_errors]") {
    const auto info = parse_aws_error("", "  REQ2 ", "");
    CHECK(info.code.empty());
    CHECK(info.message.empty());
    CHECK(info.request_id == "REQ2");
}

TEST_CASE("AWS fields of the wrong JSON type are ignored", "[service_errors]") {
    const auto info = parse_aws_error(R"({"__type":["A#B"],"message":{"text":"no"},"Message":null})", "", "");
    CHECK(info.code.empty());
    CHECK(info.message.empty());
}

TEST_CASE("JSON escapes in an AWS error are decoded", "[service_errors]") {
    const auto info = parse_aws_error(R"({"__type":"A#B","message":"bad \"key\" \u00e9"})", "", "");
    CHECK(info.message == "bad \"key\" \xc3\xa9");
}

TEST_CASE("parse_aws_error never throws, whatever the input", "[service_errors]") {
    for (const auto& body : malformed_bodies) {
        CAPTURE(body);
        CHECK_NOTHROW(parse_aws_error(body, "", ""));
        CHECK_NOTHROW(parse_aws_error(body, "\xff", "\xff#:"));
    }
    CHECK(parse_aws_error("", "", "#").code.empty());
    CHECK(parse_aws_error("", "", ":").code.empty());
}

// --- Azure Table Storage ------------------------------------------------------

TEST_CASE("an Azure Table error body gives the code and the first line of the message", "[service_errors]") {
    const auto info = parse_azure_error(
        R"({"odata.error":{"code":"TableNotFound","message":{"lang":"en-US","value":"The table specified does not exist.\nRequestId:3b5d9f2a-0002-0041-1a2b-3c4d5e000000\nTime:2024-06-11T10:00:00.0000000Z"}}})",
        "", "3b5d9f2a-0002-0041-1a2b-3c4d5e000000");
    CHECK(info.code == "TableNotFound");
    CHECK(info.message == "The table specified does not exist.");
    CHECK(info.request_id == "3b5d9f2a-0002-0041-1a2b-3c4d5e000000");
}

TEST_CASE("a CRLF-separated Azure message keeps only its first line", "[service_errors]") {
    const auto info = parse_azure_error(
        R"({"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"The server is busy.\r\nRequestId:x"}}})",
        "", "");
    CHECK(info.message == "The server is busy.");
}

TEST_CASE("the x-ms-error-code header wins over the body's code", "[service_errors]") {
    const auto info = parse_azure_error(
        R"({"odata.error":{"code":"TableNotFound","message":{"lang":"en-US","value":"Gone."}}})", "ResourceNotFound", "");
    CHECK(info.code == "ResourceNotFound");
    CHECK(info.message == "Gone.");
}

TEST_CASE("an empty or XML Azure body gives the header's code and no message", "[service_errors]") {
    const auto empty = parse_azure_error("", "ServerBusy", "RID");
    CHECK(empty.code == "ServerBusy");
    CHECK(empty.message.empty());
    CHECK(empty.request_id == "RID");

    const auto xml = parse_azure_error(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><error xmlns=\"http://schemas.microsoft.com/ado/2007/08/"
        "dataservices/metadata\"><code>TableAlreadyExists</code><message xml:lang=\"en-US\">The table specified "
        "already exists.</message></error>",
        "TableAlreadyExists", "RID");
    CHECK(xml.code == "TableAlreadyExists");
    CHECK(xml.message.empty());
}

TEST_CASE("an OData v4 style Azure error is read too", "[service_errors]") {
    const auto info = parse_azure_error(R"({"error":{"code":"InvalidInput","message":"One of the inputs is invalid.\nRequestId:z"}})",
                                        "", "");
    CHECK(info.code == "InvalidInput");
    CHECK(info.message == "One of the inputs is invalid.");
}

TEST_CASE("an Azure error with neither body nor header is empty but for the request id", "[service_errors]") {
    for (const auto& body : malformed_bodies) {
        CAPTURE(body);
        const auto info = parse_azure_error(body, "", "RID");
        CHECK(info.code.empty());
        CHECK(info.message.empty());
        CHECK(info.request_id == "RID");
    }
}

TEST_CASE("Azure error fields of the wrong JSON type are ignored", "[service_errors]") {
    CHECK(parse_azure_error(R"({"odata.error":"TableNotFound"})", "", "").code.empty());
    const auto info = parse_azure_error(R"({"odata.error":{"code":5,"message":{"lang":"en-US","value":[1]}}})", "", "");
    CHECK(info.code.empty());
    CHECK(info.message.empty());
    const auto no_message = parse_azure_error(R"({"odata.error":{"code":"EntityTooLarge"}})", "", "");
    CHECK(no_message.code == "EntityTooLarge");
    CHECK(no_message.message.empty());
}

TEST_CASE("parse_azure_error never throws, whatever the input", "[service_errors]") {
    for (const auto& body : malformed_bodies) {
        CAPTURE(body);
        CHECK_NOTHROW(parse_azure_error(body, "", ""));
        CHECK_NOTHROW(parse_azure_error(body, "\xff", "\xff"));
    }
    CHECK_NOTHROW(parse_azure_error(R"({"odata.error":{"message":{"value":""}}})", "", ""));
    CHECK_NOTHROW(parse_azure_error(R"({"odata.error":{"message":{"value":"\n\n"}}})", "", ""));
}
