// The retry loop: sends one logical request through a transport until it
// succeeds, fails for good, runs out of attempts, quota or time.
//
// Every attempt is signed afresh (the signing time moves, and a clock skew
// learnt from the server's Date header is applied). Waits are Asio timers.
// The optional deadline covers every attempt and every backoff: it is handed
// to the transport, which waits for no connection and writes nothing past
// it, so the call ends at the deadline, and an attempt that completed is
// never thrown away. Cancelling the awaiting coroutine (Asio per-operation
// cancellation, terminal) ends the call promptly.
//
// What a failed call reports, for a request that is not idempotent:
// errc::timeout and errc::cancelled mean it was not applied (nothing that
// could apply it reached the server); anything that may have been applied is
// errc::ambiguous. A request that may have been applied is never re-sent,
// unless the caller opted in (retry_ambiguous).
//
// Must be awaited on a strand (see src/async/operation_strand.hpp).
#pragma once

#include "retry/clock_skew.hpp"
#include "retry/retry_policy.hpp"
#include "retry/service_errors.hpp"
#include "transport/transport.hpp"

#include <sds/error.hpp>
#include <sds/retry_options.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>

namespace sds::detail {

/// What all requests to one endpoint share: the retry quota and the clock skew.
struct endpoint_state {
    explicit endpoint_state(const retry_options& options) : quota(options) {}
    retry_quota quota;
    clock_skew skew;
};

/// How one logical request may be retried.
struct call_options {
    service_kind service = service_kind::aws;
    std::string_view operation;  ///< "GetItem", "Upsert": names the call in errors (must outlive the call)
    /// Safe to send twice (reads, puts, deletes). False for increments.
    bool idempotent = true;
    /// Re-send a non-idempotent request even when it may have been applied.
    bool retry_ambiguous = false;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    /// The x-ms-client-request-id the request carries, for the diagnostics.
    std::string_view client_request_id;
};
// GCC 12 destroys a braced temporary twice when it shares a full-expression
// with co_await (`co_await execute(t, state, retry, {}, req, sign)`): harmless
// only while the options hold nothing to destroy.
static_assert(std::is_trivially_destructible_v<call_options>);

/// Signs `req` for an attempt at `now` (the skew-corrected time).
using request_signer = std::function<void(http_request& req, std::chrono::system_clock::time_point now)>;

/// Checks a 2xx response's integrity (DynamoDB's x-amz-crc32). False: the
/// response is corrupt; the call is retried like a transient error.
using response_validator = std::function<bool(const http_response&)>;

/// A response the caller must interpret: a success, or a final service error.
struct call_result {
    http_response response;
    service_error_info error;  ///< parsed from an error response (status >= 300)
    diagnostics diag;
};

/// Runs the loop. Throws sds::error for: cancellation (cancelled), the
/// deadline (timeout), retries or quota exhausted (throttled, timeout,
/// network_error, tls_error, service_error, protocol_error), and an
/// unknown outcome of a non-idempotent request (ambiguous).
///
/// Coroutine parameters outlive the first suspension only when they are
/// values: `call`, `sign` and `validate` are copied into the coroutine; `t`,
/// `state` and `retry` must outlive the call (the engine owns them), and so
/// must the text `call.operation` views.
boost::asio::awaitable<call_result> execute(transport& t, endpoint_state& state, const retry_options& retry,
                                            call_options call, http_request req, request_signer sign,
                                            response_validator validate = {});

/// What a transport-level failure means for the call.
struct transport_failure {
    errc code;        ///< timeout, tls_error, protocol_error or network_error
    bool retryable;   ///< false: retrying cannot help (a malformed or oversized
                      ///< response, a certificate that fails verification)
};
transport_failure classify_transport_error(const boost::system::error_code& ec) noexcept;

} // namespace sds::detail
