#include "transport/request_executor.hpp"

#include "async/pause.hpp"
#include "transport/redaction.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace sds::detail {
namespace {

using namespace std::chrono;

std::string_view header(const http_response& r, std::string_view name) {
    const auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
}

struct loop_state {
    diagnostics diag;
    std::string last_failure = "no attempt made";
    // An earlier attempt of a request that is not idempotent may have been
    // applied (only possible with retry_ambiguous): a later failure cannot
    // say "not applied".
    bool maybe_applied = false;
};

std::string name_of(const call_options& call) { return call.operation.empty() ? "request" : std::string(call.operation); }

[[noreturn]] void fail(errc code, const call_options& call, const std::string& why, const loop_state& st) {
    throw error(code, name_of(call) + ": " + why, st.diag);
}

// A failure that leaves nothing applied (cancelled, timeout) is ambiguous
// instead when an earlier attempt may have been applied.
[[noreturn]] void fail_unapplied(errc code, const call_options& call, const std::string& why, const loop_state& st) {
    if (st.maybe_applied && !call.idempotent)
        fail(errc::ambiguous, call, why + "; an earlier attempt may have been applied", st);
    fail(code, call, why, st);
}

asio::awaitable<bool> cancelled() {
    auto state = co_await asio::this_coro::cancellation_state;
    co_return state.cancelled() != asio::cancellation_type::none;
}

bool past(const std::optional<steady_clock::time_point>& deadline) {
    return deadline && steady_clock::now() >= *deadline;
}

// Beast's parser refusing a response (malformed, or over a limit): the same
// request would get the same answer. A connection that ends early is not that.
bool malformed_response(const boost::system::error_code& ec) {
    namespace bh = boost::beast::http;
    if (ec.category() != bh::make_error_code(bh::error::body_limit).category()) return false;
    return ec != bh::error::end_of_stream && ec != bh::error::partial_message && ec != bh::error::short_read &&
           ec != bh::error::need_more && ec != bh::error::need_buffer;
}

// A certificate chain or host name that failed verification stays failed.
bool certificate_refused(const boost::system::error_code& ec) {
    if (ec.category() != asio::error::get_ssl_category()) return false;
    const auto e = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
    return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

} // namespace

transport_failure classify_transport_error(const boost::system::error_code& ec) noexcept {
    if (ec == boost::beast::error::timeout) return {errc::timeout, true};
    if (malformed_response(ec)) return {errc::protocol_error, false};
    if (certificate_refused(ec)) return {errc::tls_error, false};
    if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
        return {errc::tls_error, true};
    return {errc::network_error, true};
}

asio::awaitable<call_result> execute(transport& t, endpoint_state& state, const retry_options& retry,
                                     call_options call, http_request req, request_signer sign,
                                     response_validator validate) {
    // Cancellation is reported as sds::error, not as Asio's operation_aborted
    // thrown from the next co_await.
    co_await asio::this_coro::throw_if_cancelled(false);
    const unsigned max_attempts = retry.max_attempts == 0 ? 1 : retry.max_attempts;
    loop_state st;
    st.diag.client_request_id = call.client_request_id;
    std::optional<failure_kind> acquired;
    for (;;) {
        // A cancellation that arrived while this coroutine was running (or
        // queued to resume) cancelled no operation: look for it here too.
        if (co_await cancelled()) fail_unapplied(errc::cancelled, call, "cancelled", st);
        if (past(call.deadline))
            fail_unapplied(errc::timeout, call, "deadline expired after " + std::to_string(st.diag.attempts) +
                                                    " attempt(s); last: " + st.last_failure, st);
        ++st.diag.attempts;
        if (sign) sign(req, state.skew.now());
        if (co_await cancelled()) fail_unapplied(errc::cancelled, call, "cancelled", st);
        transport_result r = co_await t.send(req, {call.idempotent, call.deadline});

        attempt_outcome outcome;
        bool maybe_applied = false;
        bool corrupt = false;
        call_result result;
        errc exhausted_code = errc::service_error;
        if (r.ec) {
            st.diag.http_status = 0;
            st.diag.service_code.clear();
            st.diag.service_message.clear();
            st.last_failure = r.ec.message();
            // The request may have been applied once it was wholly written.
            const bool unknown = r.request_written && !call.idempotent;
            if (r.ec == asio::error::operation_aborted && co_await cancelled()) {
                if (unknown) fail(errc::ambiguous, call, "cancelled after the request was sent; it may have been applied", st);
                fail_unapplied(errc::cancelled, call, "cancelled", st);
            }
            if (past(call.deadline) && (r.ec == boost::beast::error::timeout || r.ec == asio::error::operation_aborted)) {
                if (unknown)
                    fail(errc::ambiguous, call, "deadline expired while the request was in flight; it may have been applied",
                         st);
                fail_unapplied(errc::timeout, call, "deadline expired after " + std::to_string(st.diag.attempts) +
                                                        " attempt(s); last: " + st.last_failure, st);
            }
            const transport_failure failure = classify_transport_error(r.ec);
            if (!failure.retryable) {
                if (unknown) fail(errc::ambiguous, call, "outcome unknown after " + st.last_failure, st);
                fail_unapplied(failure.code, call, st.last_failure, st);
            }
            outcome.network_failure = true;
            outcome.timed_out = r.ec == boost::beast::error::timeout;
            maybe_applied = r.request_written;
            exhausted_code = failure.code;
        } else {
            const unsigned status = r.response.result_int();
            outcome.http_status = status;
            outcome.skew_corrected = state.skew.observe(header(r.response, "Date"), system_clock::now());
            result.response = std::move(r.response);
            if (status >= 300) {
                result.error = call.service == service_kind::aws
                                   ? parse_aws_error(result.response.body(), header(result.response, "x-amzn-RequestId"),
                                                     header(result.response, "x-amzn-ErrorType"))
                                   : parse_azure_error(result.response.body(), header(result.response, "x-ms-error-code"),
                                                       header(result.response, "x-ms-request-id"));
            } else {
                result.error.request_id = std::string(header(
                    result.response, call.service == service_kind::aws ? "x-amzn-RequestId" : "x-ms-request-id"));
                corrupt = validate && !validate(result.response);
            }
            // What the server said goes into errors: never with what the
            // request carried that it may quote back.
            const auto secrets = secrets_in(req);
            redact(result.error.code, secrets);
            redact(result.error.message, secrets);
            redact(result.error.request_id, secrets);
            outcome.service_code = result.error.code;
            st.diag.http_status = status;
            st.diag.service_code = result.error.code;
            st.diag.service_message = result.error.message;
            st.diag.request_id = result.error.request_id;
            st.last_failure = "HTTP " + std::to_string(status) + (result.error.code.empty() ? "" : " " + result.error.code);
        }

        failure_kind kind = classify(call.service, outcome);
        if (corrupt) {
            // A 2xx whose body does not match its checksum: the service did
            // the work, the answer was damaged on the way.
            kind = failure_kind::transient;
            maybe_applied = true;
            exhausted_code = errc::protocol_error;
            st.last_failure = "response failed its integrity check";
        }
        if (kind == failure_kind::success) {
            state.quota.on_success(acquired);
            result.diag = std::move(st.diag);
            co_return result;
        }
        if (kind == failure_kind::final) {
            // A 5xx the retry policy does not retry (501, 505, a gateway's
            // 524...) still says nothing of whether the service applied it.
            if (!call.idempotent && outcome.http_status >= 500)
                fail(errc::ambiguous, call, "outcome unknown after " + st.last_failure, st);
            result.diag = std::move(st.diag);
            co_return result;
        }
        if (kind == failure_kind::throttling) exhausted_code = errc::throttled;
        if (kind == failure_kind::transient && outcome.http_status >= 500) maybe_applied = true;
        st.maybe_applied = st.maybe_applied || maybe_applied;

        if (!call.idempotent && maybe_applied && !call.retry_ambiguous)
            fail(errc::ambiguous, call,
                 "outcome unknown after " + st.last_failure + "; not re-sent because the request is not idempotent",
                 st);
        if (st.diag.attempts >= max_attempts)
            fail_unapplied(exhausted_code, call, "gave up after " + st.last_failure, st);
        if (!state.quota.try_acquire(kind))
            fail_unapplied(exhausted_code, call, "retry quota exhausted after " + st.last_failure, st);
        acquired = kind;

        const auto asked =
            r.ec ? std::nullopt
                 : server_retry_after(header(result.response, "x-ms-retry-after-ms"),
                                      header(result.response, "retry-after-ms"), header(result.response, "Retry-After"),
                                      system_clock::now());
        const milliseconds delay = retry_delay(retry, backoff(retry, kind, st.diag.attempts), asked);
        if (call.deadline && steady_clock::now() + delay >= *call.deadline)
            fail_unapplied(errc::timeout, call, "deadline would expire during the backoff after " + st.last_failure, st);
        // (GCC 12 miscompiles `if (!co_await ...)`: the result is named first.)
        const bool waited = co_await pause(delay);
        if (!waited) fail_unapplied(errc::cancelled, call, "cancelled during backoff", st);
        st.diag.total_backoff += delay;
    }
}

} // namespace sds::detail
