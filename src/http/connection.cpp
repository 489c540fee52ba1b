#include "http/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
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

auto make_stream(const asio::strand<asio::any_io_executor>& strand, asio::ssl::context* tls)
    -> std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> {
    if (tls) return std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>>(
                 std::in_place_index<1>, strand, *tls);
    return std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>>(std::in_place_index<0>, strand);
}

// A name lookup that a timeout or a cancellation can abandon. Asio runs
// getaddrinfo on a thread of its own and ignores per-operation cancellation,
// so the lookup gets a state of its own that outlives an abandoned wait.
struct pending_lookup {
    explicit pending_lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex, 1) {}
    asio::ip::tcp::resolver resolver;
    asio::experimental::concurrent_channel<void(boost::system::error_code, asio::ip::tcp::resolver::results_type)> done;
};

asio::awaitable<std::pair<boost::system::error_code, asio::ip::tcp::resolver::results_type>> resolve_within(
    const endpoint& ep, std::chrono::steady_clock::time_point deadline) {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    auto lookup = std::make_shared<pending_lookup>(ex);
    lookup->resolver.async_resolve(ep.host, std::to_string(ep.port),
                                   [lookup](boost::system::error_code ec, asio::ip::tcp::resolver::results_type r) {
                                       lookup->done.try_send(ec, std::move(r));
                                   });
    asio::steady_timer timer(ex, deadline);
    auto first = co_await (lookup->done.async_receive(use_tuple) || timer.async_wait(use_tuple));
    if (first.index() == 1) {
        lookup->resolver.cancel();
        co_return std::pair{boost::system::error_code(beast::error::timeout), asio::ip::tcp::resolver::results_type{}};
    }
    auto [ec, results] = std::get<0>(std::move(first));
    if (ec == asio::experimental::error::channel_cancelled) ec = asio::error::operation_aborted;
    co_return std::pair{ec, std::move(results)};
}

} // namespace

// Beast's timeouts close the socket from a timer handler that runs on the
// executor of the operation's handler, so each connection's operations are
// run as coroutines on the connection's own strand: the timer handler and
// the I/O never meet on two threads, even on a multi-threaded io_context.
connection::connection(asio::any_io_executor ex, asio::ssl::context* tls)
    : strand_(asio::make_strand(std::move(ex))), stream_(make_stream(strand_, tls)) {}

beast::tcp_stream& connection::tcp() {
    if (auto* s = std::get_if<0>(&stream_)) return *s;
    return std::get<1>(stream_).next_layer();
}

bool connection::is_open() const {
    if (auto* s = std::get_if<0>(&stream_)) return s->socket().is_open();
    return std::get<1>(stream_).next_layer().socket().is_open();
}

asio::awaitable<boost::system::error_code> connection::connect(const endpoint& ep, std::chrono::milliseconds timeout) {
    co_return co_await asio::co_spawn(strand_, connect_on_strand(ep, timeout), asio::use_awaitable);
}

asio::awaitable<exchange_result> connection::exchange(http_request& req, http_response& res,
                                                      std::chrono::milliseconds timeout, std::size_t body_limit) {
    co_return co_await asio::co_spawn(strand_, exchange_on_strand(req, res, timeout, body_limit), asio::use_awaitable);
}

asio::awaitable<boost::system::error_code> connection::connect_on_strand(const endpoint& ep,
                                                                         std::chrono::milliseconds timeout) {
    co_await asio::this_coro::throw_if_cancelled(false);
    auto& sock = tcp();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    sock.expires_after(timeout);
    boost::system::error_code ec, not_an_address;
    const auto literal = asio::ip::make_address(ep.host, not_an_address);
    const bool is_address = !not_an_address;
    if (is_address) {
        auto [cec] = co_await sock.async_connect(asio::ip::tcp::endpoint(literal, ep.port), use_tuple);
        ec = cec;
    } else {
        auto [rec, results] = co_await resolve_within(ep, deadline);
        ec = rec;
        if (!ec) {
            sock.expires_at(deadline);
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

asio::awaitable<exchange_result> connection::exchange_on_strand(http_request& req, http_response& res,
                                                                std::chrono::milliseconds timeout,
                                                                std::size_t body_limit) {
    co_await asio::this_coro::throw_if_cancelled(false);
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
        // Interim 1xx answers (100 Continue, 103 Early Hints) precede the
        // real one: read past them. 101 would switch protocols: not for us.
        for (;;) {
            http::response_parser<http::string_body> parser;
            parser.header_limit(max_header_bytes);
            parser.body_limit(body_limit);
            const std::size_t buffered_before = buffer_.size();
            auto [rec, read] = co_await http::async_read(stream, buffer_, parser, use_tuple);
            out.response_started = out.response_started || read > 0 || buffer_.size() > buffered_before || parser.got_some();
            if (rec) {
                out.ec = rec;
                co_return;
            }
            res = parser.release();
            const unsigned status = res.result_int();
            if (status < 100 || status >= 200) co_return;
            if (status == 101) {
                out.ec = http::error::bad_status;
                co_return;
            }
        }
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
