// The seam between the engines and the network: one attempt of one request.
//
// The engines and the retry loop see only this interface, so their tests
// script responses and faults with a fake (tests/unit/support/fake_transport.hpp)
// while production uses pooled_transport.
#pragma once

#include "http/connection.hpp"
#include "http/endpoint.hpp"

#include <boost/asio/awaitable.hpp>

namespace sds::detail {

/// The outcome of one attempt.
struct transport_result {
    /// Network, TLS, timeout or cancellation failure; empty when `response` is valid.
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
    /// failures: they come back in the result. Honours Asio cancellation.
    /// A request that is not `idempotent` is never re-sent by the transport
    /// once the server may have read it.
    virtual boost::asio::awaitable<transport_result> send(http_request& req, bool idempotent = true) = 0;

    /// The endpoint requests go to (Host header, path prefix).
    virtual const endpoint& target() const = 0;
};

} // namespace sds::detail
