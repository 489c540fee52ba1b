// Configuration of the DynamoDB engine.
#pragma once

#include <sds/http_options.hpp>
#include <sds/retry_options.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace sds {

/// AWS credentials. The secret and the token never appear in errors or logs.
struct aws_credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  ///< empty: none
};

struct dynamodb_config {
    /// AWS region, e.g. "us-east-1". Signs every request.
    std::string region = "us-east-1";
    /// Endpoint URL. Empty: https://dynamodb.<region>.amazonaws.com.
    std::string endpoint;
    aws_credentials credentials;
    /// Provisioned capacity create_table uses when the call names none.
    std::int64_t default_read = 5;
    std::int64_t default_write = 5;
    /// Strongly consistent reads unless a read says otherwise.
    bool consistent_reads = true;
    /// How often create_table and delete_table poll DescribeTable while they
    /// wait for the table to become ACTIVE or to disappear, and for how long.
    std::chrono::milliseconds table_poll_interval{250};
    std::chrono::milliseconds table_wait_timeout{std::chrono::minutes(5)};
    http_options http;
    retry_options retry;

    /// The configuration the AWS tools would use: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else
    /// AWS_DEFAULT_REGION, else us-east-1), AWS_ENDPOINT_URL_DYNAMODB (else
    /// AWS_ENDPOINT_URL). Reads the environment only; opens nothing. Missing
    /// credentials are reported by the first operation, not here.
    static dynamodb_config from_env();
};

} // namespace sds
