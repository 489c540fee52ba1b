// AWS credentials and where they come from.
//
// A provider fetches credentials afresh each time it is asked; the DynamoDB
// engine caches what it returns, refreshes it in the background ahead of
// its expiry, lets every concurrent caller share one fetch in flight, and
// retries a failed fetch with backoff while the credentials it holds are
// still valid. No thread blocks on a fetch: every network source is
// asynchronous, on the caller's executor, through sds's own transport.
//
//   dynamodb_config c = dynamodb_config::from_env();   // the default chain
//   c.credentials_provider = sds::aws_web_identity_credentials();  // or one source
//
// Errors: a source that is not configured, or configured wrongly (a missing
// file, a profile without keys), is errc::invalid_argument; a source that
// answers with a refusal is errc::auth_failed; one that cannot be reached,
// answers 5xx or garbage, or is too slow is errc::network_error,
// errc::timeout or errc::protocol_error. Every message names the source and
// never holds a secret or a token.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace sds {

/// AWS credentials. The secret and the token never appear in errors or logs.
struct aws_credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  ///< empty: none
    /// When they stop working; none for long-term keys.
    std::optional<std::chrono::system_clock::time_point> expiration;
};

/// A source of AWS credentials.
class aws_credentials_provider {
public:
    virtual ~aws_credentials_provider() = default;
    /// Fetches credentials from the source, afresh (callers cache). Runs on
    /// the awaiting coroutine's executor; honours its cancellation. Throws
    /// sds::error (see the top of this header).
    virtual boost::asio::awaitable<aws_credentials> fetch() = 0;
    /// The source's name, for messages: "environment", "profile 'dev'", ...
    virtual std::string name() const = 0;
};

/// Fixed credentials.
std::shared_ptr<aws_credentials_provider> aws_static_credentials(aws_credentials credentials);

/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read at
/// each fetch.
std::shared_ptr<aws_credentials_provider> aws_environment_credentials();

/// A profile of the shared files: ~/.aws/credentials and ~/.aws/config
/// (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), read at each fetch.
/// `profile` empty: AWS_PROFILE, else "default". The profile gives keys
/// (aws_access_key_id, aws_secret_access_key, aws_session_token), or
/// role_arn with source_profile (STS AssumeRole, signed with the source
/// profile's credentials) or with web_identity_token_file (STS
/// AssumeRoleWithWebIdentity); role_session_name and the profile's region
/// (for the STS endpoint) are honoured.
std::shared_ptr<aws_credentials_provider> aws_profile_credentials(std::string profile = {});

/// Web identity (EKS IRSA and the like): STS AssumeRoleWithWebIdentity, not
/// signed, with the token in AWS_WEB_IDENTITY_TOKEN_FILE (read again at each
/// fetch), AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME (default: a random name).
/// The endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the
/// regional https://sts.<AWS_REGION>.amazonaws.com.
std::shared_ptr<aws_credentials_provider> aws_web_identity_credentials();

/// Container credentials (ECS, Fargate, EKS Pod Identity):
/// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
/// AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback
/// address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23 only), with the
/// Authorization token of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read again
/// at each fetch) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
std::shared_ptr<aws_credentials_provider> aws_container_credentials();

/// EC2 instance metadata (IMDSv2: a session token by PUT, then the role,
/// then its credentials), falling back to IMDSv1 when the token request is
/// refused unless AWS_EC2_METADATA_V1_DISABLED is true. The endpoint:
/// AWS_EC2_METADATA_SERVICE_ENDPOINT, else by
/// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv4: http://169.254.169.254,
/// IPv6: http://[fd00:ec2::254]). Off when AWS_EC2_METADATA_DISABLED is
/// true. Timeouts are short (1 s per request) so that a machine without
/// instance metadata fails fast.
std::shared_ptr<aws_credentials_provider> aws_instance_metadata_credentials();

/// The region of the EC2 instance this runs on, from instance metadata
/// (IMDSv2 as above, /latest/meta-data/placement/region). A datastore whose
/// dynamodb_config::region is empty asks this itself at its first
/// operation; call it to know the region beforehand. Throws
/// errc::invalid_argument when instance metadata is off or names no region
/// (HTTP 404), errc::network_error or errc::timeout when it cannot be
/// reached, errc::auth_failed when it refuses the request, errc::service_error
/// for a 5xx answer, errc::protocol_error for an answer that is not a region
/// name.
boost::asio::awaitable<std::string> aws_instance_metadata_region();

/// The default chain, in the AWS SDKs' order: environment, shared files
/// (AWS_PROFILE or "default"), web identity, container, instance metadata.
/// The first source that is configured is used from then on; its errors are
/// reported as its own. When none is, the error says what to set.
std::shared_ptr<aws_credentials_provider> aws_default_credentials_chain();

// ---------------------------------------------------------------- Azure

/// A Microsoft Entra ID access token for Azure Storage (scope
/// https://storage.azure.com/.default), sent as `Authorization: Bearer`.
/// Never appears in errors or logs.
struct azure_access_token {
    std::string token;
    std::optional<std::chrono::system_clock::time_point> expiration;
};

/// A source of Entra ID access tokens. The Azure engine caches them as the
/// DynamoDB engine caches AWS credentials (refresh ahead of expiry, one
/// shared fetch, backoff) and sends them over HTTPS only.
class azure_token_credential {
public:
    virtual ~azure_token_credential() = default;
    /// Fetches a token afresh. Runs on the awaiting coroutine's executor.
    /// Throws sds::error (see the top of this header).
    virtual boost::asio::awaitable<azure_access_token> fetch() = 0;
    /// The source's name, for messages.
    virtual std::string name() const = 0;
};

/// A service principal's client secret: POST
/// <authority>/<tenant>/oauth2/v2.0/token (client credentials grant). The
/// authority: AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com.
std::shared_ptr<azure_token_credential> azure_client_secret_credential(std::string tenant_id, std::string client_id,
                                                                       std::string client_secret);

/// The client secret of AZURE_TENANT_ID, AZURE_CLIENT_ID and
/// AZURE_CLIENT_SECRET, read at each fetch.
std::shared_ptr<azure_token_credential> azure_environment_credential();

/// Workload identity (AKS): the federated token in AZURE_FEDERATED_TOKEN_FILE
/// (read again at each fetch) as the client assertion, for AZURE_TENANT_ID
/// and AZURE_CLIENT_ID.
std::shared_ptr<azure_token_credential> azure_workload_identity_credential();

/// Managed identity: App Service and Functions (IDENTITY_ENDPOINT with
/// IDENTITY_HEADER), else the VM's instance metadata endpoint
/// (http://169.254.169.254, or AZURE_POD_IDENTITY_AUTHORITY_HOST) with
/// `Metadata: true`. `client_id` (else AZURE_CLIENT_ID) picks a
/// user-assigned identity. Timeouts are short so that a machine without the
/// endpoint fails fast.
std::shared_ptr<azure_token_credential> azure_managed_identity_credential(std::string client_id = {});

/// The order DefaultAzureCredential tries: environment (client secret),
/// workload identity, managed identity. The first that is configured is
/// used from then on.
std::shared_ptr<azure_token_credential> azure_default_credential();

} // namespace sds
