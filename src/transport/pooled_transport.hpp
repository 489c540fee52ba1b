// The production transport: a connection pool per endpoint.
#pragma once

#include "http/connection_pool.hpp"
#include "transport/transport.hpp"

#include <memory>

namespace sds::detail {

class pooled_transport final : public transport {
public:
    pooled_transport(asio::any_io_executor ex, endpoint ep, http_options opts);

    /// One attempt. A request that meets a pooled connection the server
    /// closed while it sat idle (it fails before any response byte arrives)
    /// is re-sent once on a fresh connection; that is not a retry. A request
    /// that is not idempotent is re-sent so only if it was not wholly
    /// written: a server that read it may have acted on it. Each exchange
    /// ends at the request timeout or the deadline, whichever comes first.
    asio::awaitable<transport_result> send(http_request& req, send_options options = {}) override;

    const endpoint& target() const override { return pool_->target(); }

    connection_pool& pool() { return *pool_; }

private:
    std::shared_ptr<connection_pool> pool_;
};

} // namespace sds::detail
