#include "http/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <cerrno>

namespace sds::detail {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A response head larger than this is not a DynamoDB or Azure answer.
constexpr std::uint32_t max_header_bytes = 64 * 1024;

auto make_stream(asio::any_io_executor ex, asio::ssl::context* tls)
    -> std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> {
    // Beast's timeouts close the socket from a timer handler, so every
    // operation of one connection runs on one strand, even on an io_context
    // served by several threads.
    auto strand = asio::make_strand(ex);
    if (tls) return std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>>(
                 std::in_place_index<1>, strand, *tls);
    return std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>>(std::in_place_index<0>, strand);
}

} // namespace

connection::connection(asio::any_io_executor ex, asio::ssl::context* tls) : stream_(make_stream(std::move(ex), tls)) {}

beast::tcp_stream& connection::tcp() {
    if (auto* s = std::get_if<0>(&stream_)) return *s;
    return std::get<1>(stream_).next_layer();
}

bool connection::is_open() const {
    if (auto* s = std::get_if<0>(&stream_)) return s->socket().is_open();
    return std::get<1>(stream_).next_layer().socket().is_open();
}

asio::awaitable<boost::system::error_code> connection::connect(const endpoint& ep, std::chrono::milliseconds timeout) {
    auto& sock = tcp();
    sock.expires_after(timeout);
    boost::system::error_code ec, not_an_address;
    const auto literal = asio::ip::make_address(ep.host, not_an_address);
    const bool is_address = !not_an_address;
    if (is_address) {
        auto [cec] = co_await sock.async_connect(asio::ip::tcp::endpoint(literal, ep.port), use_tuple);
        ec = cec;
    } else {
        asio::ip::tcp::resolver resolver(sock.get_executor());
        auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple);
        ec = rec;
        if (!ec) {
            auto [cec, _] = co_await sock.async_connect(results, use_tuple);
            ec = cec;
        }
    }
    if (ec) co_return ec;
    sock.socket().set_option(asio::ip::tcp::no_delay(true), ec);

    if (auto* tls = std::get_if<1>(&stream_)) {
        // SNI carries host names only (RFC 6066); certificates are checked
        // against the name or the IP address we connected to.
        if (!is_address && !SSL_set_tlsext_host_name(tls->native_handle(), ep.host.c_str()))
            co_return boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        tls->set_verify_callback(asio::ssl::host_name_verification(ep.host));
        auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) co_return hec;
    }
    sock.expires_never();
    co_return boost::system::error_code{};
}

asio::awaitable<exchange_result> connection::exchange(http_request& req, http_response& res,
                                                      std::chrono::milliseconds timeout, std::size_t body_limit) {
    exchange_result out;
    tcp().expires_after(timeout);  // one deadline for the write and the whole read
    req.prepare_payload();

    auto run = [&](auto& stream) -> asio::awaitable<void> {
        auto [wec, written] = co_await http::async_write(stream, req, use_tuple);
        (void)written;
        if (wec) {
            out.ec = wec;
            co_return;
        }
        out.request_written = true;
        http::response_parser<http::string_body> parser;
        parser.header_limit(max_header_bytes);
        parser.body_limit(body_limit);
        const std::size_t buffered_before = buffer_.size();
        auto [rec, read] = co_await http::async_read(stream, buffer_, parser, use_tuple);
        out.response_started = read > 0 || buffer_.size() > buffered_before || parser.got_some();
        if (rec) {
            out.ec = rec;
            co_return;
        }
        res = parser.release();
    };
    if (auto* s = std::get_if<0>(&stream_)) co_await run(*s);
    else co_await run(std::get<1>(stream_));

    if (out.ec) {
        close();
    } else {
        tcp().expires_never();
        last_used = std::chrono::steady_clock::now();
        ++exchanges;
        if (!res.keep_alive()) close();
    }
    co_return out;
}

bool connection::peer_closed() {
    if (!is_open()) return true;
    if (buffer_.size() > 0) return true;  // bytes nobody asked for
    char byte;
    const ssize_t n = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;                                      // orderly close
    if (n > 0) return true;                                       // unsolicited data (408, TLS alert)
    return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);  // reset or other error
}

void connection::close() noexcept {
    boost::system::error_code ignored;
    tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
}

} // namespace sds::detail
