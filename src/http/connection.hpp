// One keep-alive HTTP/1.1 connection, plain or TLS.
#pragma once

#include "http/endpoint.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstddef>
#include <variant>

namespace sds::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

/// What one request/response exchange on a connection came to.
struct exchange_result {
    boost::system::error_code ec;  ///< empty when a whole response was read
    /// The whole request was written, so the server may have acted on it.
    bool request_written = false;
    /// Some of the response was read before the failure.
    bool response_started = false;
};

class connection {
public:
    /// `tls` is null for plain HTTP. Every operation of the connection runs on
    /// its own strand of `ex`, whatever executor the caller's coroutine has.
    connection(asio::any_io_executor ex, asio::ssl::context* tls);

    /// Resolves, connects and (for TLS) handshakes with SNI and host name
    /// verification, all within `timeout`.
    asio::awaitable<boost::system::error_code> connect(const endpoint& ep, std::chrono::milliseconds timeout);

    /// Writes `req` and reads the response into `res`, all within `timeout`.
    asio::awaitable<exchange_result> exchange(http_request& req, http_response& res, std::chrono::milliseconds timeout,
                                              std::size_t body_limit);

    /// True when the peer has closed the idle connection (or sent something
    /// unsolicited), so it must not be reused. Never blocks.
    bool peer_closed();

    /// Closes the socket; pending operations complete with operation_aborted.
    void close() noexcept;

    bool is_open() const;

    /// When the connection last finished an exchange.
    std::chrono::steady_clock::time_point last_used{};
    /// Completed exchanges on this connection.
    unsigned exchanges = 0;

private:
    asio::awaitable<boost::system::error_code> connect_on_strand(const endpoint& ep, std::chrono::milliseconds timeout);
    asio::awaitable<exchange_result> exchange_on_strand(http_request& req, http_response& res,
                                                        std::chrono::milliseconds timeout, std::size_t body_limit);
    beast::tcp_stream& tcp();
    asio::strand<asio::any_io_executor> strand_;
    std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream_;
    beast::flat_buffer buffer_;
};

} // namespace sds::detail
