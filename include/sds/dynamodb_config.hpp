// Configuration of the DynamoDB engine.
#pragma once

#include <sds/credentials.hpp>
#include <sds/http_options.hpp>
#include <sds/retry_options.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace sds {

struct dynamodb_config {
    /// AWS region, e.g. "us-east-1". Signs every request. Empty: the EC2
    /// instance's region from instance metadata (aws_instance_metadata_region()),
    /// fetched once by the first operation (every concurrent one waits on
    /// that fetch); until it is found, operations fail with its error, as
    /// aws_instance_metadata_region() gives it (errc::invalid_argument when
    /// instance metadata is off, errc::network_error or errc::timeout within
    /// a few seconds when it cannot be reached), and later operations ask
    /// again after a backoff of 1 s to 30 s.
    std::string region = "us-east-1";
    /// Endpoint URL. Empty: https://dynamodb.<region>.amazonaws.com.
    std::string endpoint;
    /// Fixed credentials. When they are set (an access key id), they are
    /// used and credentials_provider is not.
    aws_credentials credentials;
    /// Where credentials come from when `credentials` is empty (see
    /// <sds/credentials.hpp>): fetched on first use, cached, refreshed in the
    /// background ahead of their expiry by one fetch that every concurrent
    /// operation shares.
    std::shared_ptr<aws_credentials_provider> credentials_provider;
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

    /// The configuration the AWS tools would use. Credentials:
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN when
    /// set, else the default chain (aws_default_credentials_chain: shared
    /// files, web identity, container, instance metadata), which the first
    /// operation runs. Region: AWS_REGION, else AWS_DEFAULT_REGION, else the
    /// profile's `region` (AWS_PROFILE or "default", in ~/.aws/config),
    /// else us-east-1 when an endpoint is named (it only signs), else empty:
    /// the instance's region from instance metadata, which the first
    /// operation asks (a program that sets `endpoint` itself afterwards sets
    /// `region` too). Endpoint: AWS_ENDPOINT_URL_DYNAMODB, else
    /// AWS_ENDPOINT_URL, else the profile's services section
    /// (`dynamodb = ` / `endpoint_url = `) or `endpoint_url`. Reads the
    /// environment and the shared files only; opens no connection. Missing
    /// credentials are reported by the first operation, not here.
    static dynamodb_config from_env();
};

} // namespace sds
