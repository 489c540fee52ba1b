// One keep-alive HTTP/1.1 connection, plain or TLS.
//
// A connection has no executor of its own to run on: connect() and
// exchange() run on the executor of the coroutine that awaits them, which
// must be a strand (every datastore operation runs on one, see
// src/async/operation_strand.hpp). The timer that cuts an exchange short at its
// deadline completes on that same strand, so it never meets the I/O it
// cancels on another thread. One operation at a time uses a connection (the
// pool's lease guarantees it).
#pragma once

#include "http/endpoint.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <variant>

namespace sds::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;
using steady_time = std::chrono::steady_clock::time_point;

/// What one request/response exchange on a connection came to.
struct exchange_result {
    /// Empty when a whole response was read; beast::error::timeout when the
    /// deadline cut the exchange short; operation_aborted when the awaiting
    /// coroutine was cancelled.
    boost::system::error_code ec;
    /// The whole request was written, so the server may have acted on it.
    bool request_written = false;
    /// Some of the response was read before the failure.
    bool response_started = false;
};

class connection {
public:
    /// `tls` is null for plain HTTP. `ex` is the executor the socket is
    /// registered with; handlers run on the awaiting coroutine's executor.
    connection(asio::any_io_executor ex, asio::ssl::context* tls);
    ~connection();

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Resolves, connects and (for TLS) handshakes with SNI and host name
    /// verification, giving up at `deadline` (beast::error::timeout).
    asio::awaitable<boost::system::error_code> connect(const endpoint& ep, steady_time deadline);

    /// Writes `req` and reads the response into `res`, giving up at
    /// `deadline`. A response head over 64 KiB or a body over `body_limit`
    /// fails with Beast's header_limit / body_limit.
    asio::awaitable<exchange_result> exchange(http_request& req, http_response& res, steady_time deadline,
                                              std::size_t body_limit);

    /// True when the peer has closed the idle connection (or sent something
    /// unsolicited), so it must not be reused. Never blocks; one system call.
    bool peer_closed();

    /// Open, with nothing unread buffered: what can be known without asking
    /// the kernel.
    bool open_and_drained() const;

    /// Closes the socket; pending operations complete with operation_aborted.
    void close() noexcept;

    bool is_open() const;

    /// When the connection last finished an exchange (or connected).
    steady_time last_used{};
    /// Completed exchanges on this connection.
    unsigned exchanges = 0;

private:
    struct cutoff;
    /// Until disarm(): at `deadline` (a timer whose handler runs on `ex`, the
    /// awaiting coroutine's strand) or when the coroutine is cancelled (a
    /// handler in `state`'s slot), the socket is closed.
    void arm(const asio::any_io_executor& ex, asio::cancellation_state state, steady_time deadline);
    /// Ends what arm() started; `ec` as the caller should see it:
    /// operation_aborted when cancelled, beast::error::timeout when the
    /// deadline cut the I/O short.
    boost::system::error_code disarm(boost::system::error_code ec);
    /// Before every I/O step while armed: false when the step must not start
    /// (cut short already); else (re)installs the cancellation handler.
    bool watch_cancellation();
    asio::ip::tcp::socket& socket();
    const asio::ip::tcp::socket& socket() const;

    std::variant<asio::ip::tcp::socket, beast::ssl_stream<asio::ip::tcp::socket>> stream_;
    beast::flat_buffer buffer_;
    std::string wire_;  // the request being written, reused
    asio::steady_timer timer_;
    // Shared with the timer's pending handler, which may run after the
    // connection is gone (with operation_aborted) and then touches nothing
    // else.
    std::shared_ptr<cutoff> cutoff_;
    asio::cancellation_state state_;  // the awaiting coroutine's, while armed
};

} // namespace sds::detail
