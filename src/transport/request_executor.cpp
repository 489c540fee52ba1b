#include "transport/request_executor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <memory>

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
    bool in_flight = false;  // an attempt has been handed to the transport and not returned
};

std::string name_of(const call_options& call) { return call.operation.empty() ? "request" : std::string(call.operation); }

[[noreturn]] void fail(errc code, const call_options& call, const std::string& why, const loop_state& st) {
    throw error(code, name_of(call) + ": " + why, st.diag);
}

asio::awaitable<bool> cancelled() {
    auto state = co_await asio::this_coro::cancellation_state;
    co_return state.cancelled() != asio::cancellation_type::none;
}

asio::awaitable<call_result> run_attempts(transport& t, endpoint_state& state, const retry_options& retry,
                                          const call_options& call, http_request req, const request_signer& sign,
                                          const response_validator& validate, std::shared_ptr<loop_state> st) {
    // Cancellation is reported as sds::error(cancelled), not as Asio's
    // operation_aborted thrown from the next co_await.
    co_await asio::this_coro::throw_if_cancelled(false);
    const unsigned max_attempts = retry.max_attempts == 0 ? 1 : retry.max_attempts;
    std::optional<failure_kind> acquired;
    for (;;) {
        // A cancellation that arrived while this coroutine was running (or
        // queued to resume) cancelled no operation: look for it here too.
        if (co_await cancelled()) fail(errc::cancelled, call, "cancelled", *st);
        ++st->diag.attempts;
        if (sign) sign(req, state.skew.now());
        if (co_await cancelled()) fail(errc::cancelled, call, "cancelled", *st);
        transport_result r;
        st->in_flight = true;
        try {
            r = co_await t.send(req, call.idempotent);
        } catch (const boost::system::system_error& e) {
            // A nested coroutine that throws on cancellation instead of returning it.
            if (e.code() != asio::error::operation_aborted) throw;
            r.ec = e.code();
            r.request_written = true;
        }
        // An attempt cut short by cancellation (the deadline's, or the
        // caller's) after its request was written stays in flight: its
        // outcome is unknown.
        st->in_flight = r.ec == asio::error::operation_aborted && r.request_written;

        attempt_outcome outcome;
        bool maybe_applied = false;
        bool corrupt = false;
        call_result result;
        errc exhausted_code = errc::service_error;
        if (r.ec) {
            if (r.ec == asio::error::operation_aborted && co_await cancelled())
                fail(errc::cancelled, call, "cancelled", *st);
            outcome.network_failure = true;
            outcome.timed_out = r.ec == boost::beast::error::timeout;
            maybe_applied = r.request_written;
            exhausted_code = classify_transport_error(r.ec);
            st->diag.http_status = 0;
            st->diag.service_code.clear();
            st->diag.service_message.clear();
            st->last_failure = r.ec.message();
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
            outcome.service_code = result.error.code;
            st->diag.http_status = status;
            st->diag.service_code = result.error.code;
            st->diag.service_message = result.error.message;
            st->diag.request_id = result.error.request_id;
            st->last_failure = "HTTP " + std::to_string(status) + (result.error.code.empty() ? "" : " " + result.error.code);
        }

        failure_kind kind = classify(call.service, outcome);
        if (corrupt) {
            // A 2xx whose body does not match its checksum: the service did
            // the work, the answer was damaged on the way.
            kind = failure_kind::transient;
            maybe_applied = true;
            exhausted_code = errc::protocol_error;
            st->last_failure = "response failed its integrity check";
        }
        if (kind == failure_kind::success) {
            state.quota.on_success(acquired);
            result.diag = st->diag;
            co_return result;
        }
        if (kind == failure_kind::final) {
            result.diag = st->diag;
            co_return result;
        }
        if (kind == failure_kind::throttling) exhausted_code = errc::throttled;
        if (kind == failure_kind::transient && outcome.http_status >= 500) maybe_applied = true;

        if (!call.idempotent && maybe_applied && !call.retry_ambiguous)
            fail(errc::ambiguous, call,
                 "outcome unknown after " + st->last_failure + "; not re-sent because the request is not idempotent",
                 *st);
        if (st->diag.attempts >= max_attempts)
            fail(exhausted_code, call, "gave up after " + st->last_failure, *st);
        if (!state.quota.try_acquire(kind))
            fail(exhausted_code, call, "retry quota exhausted after " + st->last_failure, *st);
        acquired = kind;

        const auto asked =
            r.ec ? std::nullopt
                 : server_retry_after(header(result.response, "x-ms-retry-after-ms"),
                                      header(result.response, "retry-after-ms"), header(result.response, "Retry-After"),
                                      system_clock::now());
        const milliseconds delay = retry_delay(retry, backoff(retry, kind, st->diag.attempts), asked);
        if (call.deadline && steady_clock::now() + delay >= *call.deadline)
            fail(errc::timeout, call, "deadline would expire during the backoff after " + st->last_failure, *st);
        if (co_await cancelled()) fail(errc::cancelled, call, "cancelled", *st);
        if (delay.count() > 0) {
            asio::steady_timer timer(co_await asio::this_coro::executor, delay);
            auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) fail(errc::cancelled, call, "cancelled during backoff", *st);
            st->diag.total_backoff += delay;
        }
    }
}

} // namespace

errc classify_transport_error(const boost::system::error_code& ec) noexcept {
    if (ec == boost::beast::error::timeout) return errc::timeout;
    if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
        return errc::tls_error;
    return errc::network_error;
}

asio::awaitable<call_result> execute(transport& t, endpoint_state& state, const retry_options& retry,
                                     call_options call, http_request req, request_signer sign,
                                     response_validator validate) {
    co_await asio::this_coro::throw_if_cancelled(false);
    auto st = std::make_shared<loop_state>();
    if (!call.deadline)
        co_return co_await run_attempts(t, state, retry, call, std::move(req), sign, validate, st);

    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, *call.deadline);
    // `||` ends the race when one side *succeeds*; a failure would wait for the
    // deadline. So the attempts always succeed here, carrying their exception.
    struct outcome {
        std::exception_ptr failure;
        call_result result;
    };
    auto attempts = [&]() -> asio::awaitable<outcome> {
        outcome o;
        try {
            o.result = co_await run_attempts(t, state, retry, call, std::move(req), sign, validate, st);
        } catch (...) {
            o.failure = std::current_exception();
        }
        co_return o;
    };
    auto first = co_await (attempts() || timer.async_wait(asio::use_awaitable));
    if (first.index() == 0) {
        outcome& o = std::get<0>(first);
        if (o.failure) std::rethrow_exception(o.failure);
        co_return std::move(o.result);
    }
    // The deadline cut an attempt short: for a request that is not
    // idempotent, it may have been applied.
    if (st->in_flight && !call.idempotent)
        fail(errc::ambiguous, call, "deadline expired while the request was in flight; it may have been applied", *st);
    fail(errc::timeout, call, "deadline expired after " + std::to_string(st->diag.attempts) + " attempt(s); last: " +
                                  st->last_failure, *st);
}

} // namespace sds::detail
