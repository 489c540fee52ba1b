// Pieces of the AWS credential sources that tests and the configuration use.
#pragma once

#include <sds/credentials.hpp>

#include "credentials/http_fetch.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sds::detail {

/// "2026-11-27T09:00:00Z" (fractional seconds and "+00:00" accepted).
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

/// Credentials from the JSON the container endpoint and instance metadata
/// give: AccessKeyId, SecretAccessKey, the token under `token_field`,
/// Expiration. A Code other than "Success" is errc::auth_failed; anything
/// malformed is errc::protocol_error.
aws_credentials credentials_from_json(const std::string& source, std::string_view body, std::string_view token_field);

/// Credentials from an STS answer to `action` (AssumeRole,
/// AssumeRoleWithWebIdentity): the XML result, or the error it holds
/// (auth_failed for 4xx, service_error for 5xx). An answer over 64 KiB or
/// nested deeper than 32 elements is a protocol_error unparsed. An error
/// message that quotes `withheld` (the token sent), as it is or as the form
/// carried it, is left out.
aws_credentials credentials_from_sts(const std::string& source, std::string_view action, const fetch_response& r,
                                     std::string_view withheld = {});

/// The STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the
/// regional endpoint of `region` (else AWS_REGION, AWS_DEFAULT_REGION,
/// us-east-1).
std::string sts_endpoint(const std::string& region);

struct web_identity_params {
    std::string role_arn;
    std::string session_name;  ///< empty: a generated one
    std::string token_file;    ///< read at each call
    std::string region;        ///< of the STS endpoint; empty: from the environment
};
boost::asio::awaitable<aws_credentials> assume_role_with_web_identity(std::string source, web_identity_params p);

struct assume_role_params {
    std::string role_arn;
    std::string session_name;
    std::string external_id;
    std::string region;
    int duration_seconds = 0;  ///< 0: STS's default
};
/// STS AssumeRole, signed with `with`.
boost::asio::awaitable<aws_credentials> assume_role(std::string source, aws_credentials with, assume_role_params p);

} // namespace sds::detail
