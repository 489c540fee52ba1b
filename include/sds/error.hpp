// Errors reported by sds operations.
//
// Every failed operation throws `sds::error`, a `boost::system::system_error`
// whose code is an `sds::errc` in `sds::error_category()`, and which carries
// `sds::diagnostics`: the HTTP status, the service's own error code and
// message, its request id, how many attempts were made and how long was spent
// backing off. Secrets (keys, signatures, session tokens) never appear in an
// error or its diagnostics.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <string>
#include <type_traits>

namespace sds {

/// What went wrong, in terms a caller can act on.
enum class errc {
    invalid_argument = 1,  ///< bad input, refused before anything was sent
    table_not_found,       ///< the table does not exist
    already_exists,        ///< the table (or item) already exists
    condition_failed,      ///< a conditional write lost (ConditionalCheckFailed, 412)
    throttled,             ///< the service kept throttling until retries or the quota ran out
    auth_failed,           ///< credentials or signature refused (401/403)
    timeout,               ///< the operation's deadline or a request timeout expired (an incr: not applied)
    cancelled,             ///< the caller cancelled the operation (an incr: not applied)
    ambiguous,             ///< a non-idempotent request may or may not have been applied
    protocol_error,        ///< the response could not be understood (bad HTTP, JSON, CRC, over a size limit)
    network_error,         ///< connecting, sending or receiving failed
    tls_error,             ///< the TLS handshake or certificate verification failed
    service_error,         ///< any other error the service reported
};

/// The category of `errc` values ("sds").
const boost::system::error_category& error_category() noexcept;

/// Makes an error_code from an errc (found by argument-dependent lookup).
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// The errc's name as written in this header ("table_not_found").
const char* to_string(errc e) noexcept;

/// What the service and the retry loop said about a failure.
struct diagnostics {
    unsigned http_status = 0;             ///< 0 when no response was received
    std::string service_code;             ///< e.g. "ResourceNotFoundException", "ServerBusy"
    std::string service_message;          ///< the service's own message
    std::string request_id;               ///< x-amzn-RequestId / x-ms-request-id
    std::string client_request_id;        ///< x-ms-client-request-id sds sent (Azure), for the service's logs
    unsigned attempts = 0;                ///< requests sent, including the failed one
    std::chrono::milliseconds total_backoff{0};  ///< time spent waiting between attempts
};

/// The exception every sds operation throws.
class error : public boost::system::system_error {
public:
    /// `what` is a human-readable summary. what() reads
    /// "<errc name>: <summary>; HTTP <status>; <service code>: <message>; request id ...;
    /// client request id ...; N attempts, M ms backoff".
    error(errc code, const std::string& what, diagnostics diag = {});

    /// The errc this error carries.
    errc condition() const noexcept { return static_cast<errc>(code().value()); }

    /// What the service and the retry loop reported.
    const diagnostics& diag() const noexcept { return diag_; }

    /// The summary alone: what() without the errc name and the diagnostics.
    const std::string& summary() const noexcept { return summary_; }

    /// The errc name, the summary and the diagnostics (not system_error's
    /// "<summary>: <message> [sds:N]" form).
    const char* what() const noexcept override { return message_.c_str(); }

private:
    diagnostics diag_;
    std::string summary_;
    std::string message_;
};

} // namespace sds

template <>
struct boost::system::is_error_code_enum<sds::errc> : std::true_type {};
