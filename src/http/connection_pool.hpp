// A bounded pool of keep-alive connections to one endpoint.
//
// At most `max_connections` connections exist at once; a request that finds
// them all busy waits (cancellably, and at most until its deadline) for one.
// A connection goes back to the pool after every complete response, 4xx and
// 5xx included, and is dropped after a failure, a `Connection: close`, or
// `idle_timeout` without use. Idle connections past `idle_timeout` are closed
// whenever the pool is next used, so a connection the server closed does not
// linger (in CLOSE_WAIT) longer than that while the pool is in use.
// Thread safe: any number of coroutines on any threads may share one pool;
// acquire() must be awaited on a strand (see connection.hpp).
#pragma once

#include "async/permit_queue.hpp"
#include "http/connection.hpp"
#include "http/endpoint.hpp"

#include <sds/http_options.hpp>

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <mutex>
#include <vector>

namespace sds::detail {

class connection_pool : public std::enable_shared_from_this<connection_pool> {
public:
    /// Builds the TLS context for https endpoints (throws sds::error(invalid_argument)
    /// when the CA file cannot be loaded). Opens nothing.
    static std::shared_ptr<connection_pool> create(asio::any_io_executor ex, endpoint ep, http_options opts);

    /// Exclusive use of one connection; gives it back (or drops it) on destruction.
    class lease {
    public:
        lease() = default;
        lease(lease&&) noexcept = default;
        lease& operator=(lease&&) noexcept;
        ~lease();

        connection& conn() const { return *conn_; }
        /// True when the connection had served an earlier exchange.
        bool reused() const { return reused_; }
        /// Return the connection to the pool for reuse when the lease ends.
        void keep() { keep_ = true; }

    private:
        friend class connection_pool;
        void release() noexcept;
        std::shared_ptr<connection_pool> pool_;
        std::unique_ptr<connection> conn_;
        bool reused_ = false;
        bool keep_ = false;
    };

    /// A connected connection: an idle one when `allow_reuse` and one is
    /// usable, else a new one. Waits while all connections are busy.
    /// Errors come back in `ec`: connect and TLS failures, operation_aborted
    /// when the awaiting coroutine is cancelled, beast::error::timeout when
    /// `deadline` passes first. A cancellation or a deadline that arrives in
    /// the same turn as a connection is honoured: nothing is handed out.
    ///
    /// An idle connection is checked for a close (or unsolicited bytes) from
    /// the server before it is handed out, which costs a system call. With
    /// `resendable` (the request may go again on a fresh connection if this
    /// one turns out closed) the check is skipped for a connection used in
    /// the last `unchecked_reuse_window`: no server closes a keep-alive
    /// connection that soon without saying so in its last response.
    asio::awaitable<lease> acquire(bool allow_reuse, std::optional<steady_time> deadline,
                                   boost::system::error_code& ec, bool resendable = false);

    static constexpr std::chrono::milliseconds unchecked_reuse_window{1000};

    const endpoint& target() const { return endpoint_; }
    const http_options& options() const { return options_; }

    /// Connections opened so far (for tests and statistics).
    std::uint64_t connections_opened() const { return opened_.load(); }
    /// Connections idle in the pool right now.
    std::size_t idle_count() const;

    /// Closes all idle connections.
    void close_idle();

private:
    connection_pool(asio::any_io_executor ex, endpoint ep, http_options opts);
    void give_back(std::unique_ptr<connection> c, bool keep) noexcept;
    /// Closes idle connections unused for idle_timeout.
    void close_expired(steady_time now);

    asio::any_io_executor executor_;
    endpoint endpoint_;
    http_options options_;
    std::unique_ptr<asio::ssl::context> tls_;
    // Permits to hold a connection, max_connections of them.
    permit_queue permits_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<connection>> idle_;
    std::atomic<std::uint64_t> opened_{0};
};

} // namespace sds::detail
