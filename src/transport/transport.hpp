// The seam between the engines and the network: one attempt of one request.
//
// The engines and the retry loop see only this interface, so their tests
// script responses and faults with a fake (tests/unit/support/fake_transport.hpp)
// while production uses pooled_transport.
#pragma once

#include "http/connection.hpp"
#include "http/endpoint.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>

namespace sds::detail {

/// How one attempt may be sent.
struct send_options {
    /// Safe to send twice. A request that is not idempotent is never re-sent
    /// by the transport once the server may have read it.
    bool idempotent = true;
    /// The operation's deadline: no connection is waited for, opened or
    /// written to past it.
    std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// The outcome of one attempt.
struct transport_result {
    /// Network, TLS, timeout (beast::error::timeout: the request timeout or
    /// the deadline) or cancellation (operation_aborted) failure; empty when
    /// `response` is valid.
    boost::system::error_code ec;
    http_response response;
    /// The whole request was handed to the server, so it may have acted on it
    /// even though no response came back.
    bool request_written = false;
};

class transport {
public:
    virtual ~transport() = default;

    /// Sends `req` once and reads the response. Never throws for network
    /// failures: they come back in the result. Honours Asio cancellation and
    /// `options.deadline`. Must be awaited on a strand.
    virtual boost::asio::awaitable<transport_result> send(http_request& req, send_options options = {}) = 0;

    /// The endpoint requests go to (Host header, path prefix).
    virtual const endpoint& target() const = 0;
};

} // namespace sds::detail
