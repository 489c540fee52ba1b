#include "http/connection.hpp"

#include "http/response_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace sds::detail {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Connection I/O is cut short by closing the socket (see arm()), not by
// per-operation cancellation: it is bound to no cancellation slot.
auto io_token() { return asio::bind_cancellation_slot(asio::cancellation_slot(), use_tuple); }

using tcp = asio::ip::tcp;
using stream_variant = std::variant<tcp::socket, beast::ssl_stream<tcp::socket>>;

stream_variant make_stream(const asio::any_io_executor& ex, asio::ssl::context* tls) {
    if (tls) return stream_variant(std::in_place_index<1>, ex, *tls);
    return stream_variant(std::in_place_index<0>, ex);
}

// A name lookup that a timeout or a cancellation can abandon. Asio runs
// getaddrinfo on a thread of its own and ignores per-operation cancellation,
// so the lookup gets a state of its own that outlives an abandoned wait.
struct pending_lookup {
    explicit pending_lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex, 1) {}
    tcp::resolver resolver;
    asio::experimental::concurrent_channel<void(boost::system::error_code, tcp::resolver::results_type)> done;
};

asio::awaitable<std::pair<boost::system::error_code, tcp::resolver::results_type>> resolve_within(
    const endpoint& ep, steady_time deadline) {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    auto lookup = std::make_shared<pending_lookup>(ex);
    lookup->resolver.async_resolve(ep.host, std::to_string(ep.port),
                                   [lookup](boost::system::error_code ec, tcp::resolver::results_type r) {
                                       lookup->done.try_send(ec, std::move(r));
                                   });
    asio::steady_timer timer(ex, deadline);
    auto first = co_await (lookup->done.async_receive(use_tuple) || timer.async_wait(use_tuple));
    if (first.index() == 1) {
        lookup->resolver.cancel();
        auto [tec] = std::get<1>(first);
        co_return std::pair{tec ? tec : boost::system::error_code(beast::error::timeout), tcp::resolver::results_type{}};
    }
    auto [ec, results] = std::get<0>(std::move(first));
    if (ec == asio::experimental::error::channel_cancelled) ec = asio::error::operation_aborted;
    co_return std::pair{ec, std::move(results)};
}

// The request as one buffer: one write, and an exact answer to "did the
// server get all of it?" (bytes written == size), which Beast's async_write
// cannot give: it reports a cancellation that arrives after its last write
// as operation_aborted although every byte went out.
void serialize(const http_request& req, std::string& out) {
    out.clear();
    const auto method = req.method_string();
    const auto target = req.target();
    out.reserve(64 + target.size() + req.body().size() + 48 * 8);
    out.append(method.data(), method.size()).append(" ").append(target.data(), target.size()).append(" HTTP/1.1\r\n");
    for (const auto& field : req) {
        const auto name = field.name_string();
        const auto value = field.value();
        out.append(name.data(), name.size()).append(": ").append(value.data(), value.size()).append("\r\n");
    }
    out.append("\r\n").append(req.body());
}

} // namespace

struct connection::cutoff {
    connection* conn = nullptr;
    bool armed = false;      // an exchange (or connect) is running and may be cut short
    bool fired = false;      // its deadline passed
    bool cancelled = false;  // its caller cancelled it
};

connection::connection(asio::any_io_executor ex, asio::ssl::context* tls)
    : stream_(make_stream(ex, tls)), timer_(ex) {}

connection::~connection() { close(); }

tcp::socket& connection::socket() {
    if (auto* s = std::get_if<0>(&stream_)) return *s;
    return std::get<1>(stream_).next_layer();
}

const tcp::socket& connection::socket() const {
    if (auto* s = std::get_if<0>(&stream_)) return *s;
    return std::get<1>(stream_).next_layer();
}

bool connection::is_open() const { return socket().is_open(); }

// The deadline and the caller's cancellation both close the socket rather
// than cancel what is pending on it: an exchange is several I/O steps
// (Beast's read is a loop of reads), and one that starts after the cut
// must fail at once instead of running unbounded. The I/O itself is bound to
// no cancellation slot, so the handler installed in the coroutine's slot
// stays there for the whole exchange.
void connection::arm(const asio::any_io_executor& ex, asio::cancellation_state state, steady_time deadline) {
    // A fresh one each time: the previous exchange's timer handler may still
    // hold the last one, on another strand.
    cutoff_ = std::make_shared<cutoff>(cutoff{this, true, false, false});
    timer_.expires_at(deadline);
    timer_.async_wait(asio::bind_executor(ex, [c = cutoff_](boost::system::error_code ec) {
        // Runs on the strand of the exchange that armed it: either that
        // exchange is still suspended in I/O (armed) and the connection is
        // alive and its own, or it is over and nothing is touched.
        if (ec || !c->armed) return;
        c->fired = true;
        c->conn->close();
    }));
    state_ = state;
    watch_cancellation();
}

bool connection::watch_cancellation() {
    if (cutoff_->fired || cutoff_->cancelled) return false;
    if (state_.cancelled() != asio::cancellation_type::none) {
        cutoff_->cancelled = true;
        return false;
    }
    // Asio clears the coroutine's slot whenever one of its operations
    // completes, so the handler goes back in before every I/O step.
    auto slot = state_.slot();
    if (slot.is_connected()) {
        // Emitted on the operation's strand (see async/operation_strand.hpp).
        slot.assign([c = cutoff_](asio::cancellation_type) {
            if (!c->armed) return;
            c->cancelled = true;
            c->conn->close();
        });
    }
    return true;
}

boost::system::error_code connection::disarm(boost::system::error_code ec) {
    cutoff_->armed = false;
    timer_.cancel();
    if (auto slot = state_.slot(); slot.is_connected()) slot.clear();
    state_ = {};
    if (cutoff_->cancelled) return asio::error::operation_aborted;
    if (cutoff_->fired && ec) return beast::error::timeout;
    return ec;
}

asio::awaitable<boost::system::error_code> connection::connect(const endpoint& ep, steady_time deadline) {
    auto& sock = socket();
    boost::system::error_code ec, not_an_address;
    const auto literal = asio::ip::make_address(ep.host, not_an_address);
    const bool is_address = !not_an_address;
    tcp::resolver::results_type results;
    if (!is_address) {
        auto [rec, found] = co_await resolve_within(ep, deadline);
        if (rec) co_return rec;
        results = std::move(found);
    }

    arm(co_await asio::this_coro::executor, co_await asio::this_coro::cancellation_state, deadline);
    const auto cut = [this] { return cutoff_->fired || cutoff_->cancelled; };
    if (is_address) {
        ec = asio::error::operation_aborted;
        if (watch_cancellation()) {
            auto [cec] = co_await sock.async_connect(tcp::endpoint(literal, ep.port), io_token());
            ec = cec;
        }
    } else {
        // Each address in turn, as asio::async_connect would, until one
        // answers or the attempt is cut short.
        ec = asio::error::host_not_found;
        for (const auto& entry : results) {
            if (!watch_cancellation()) break;
            if (sock.is_open()) sock.close(ec);
            auto [cec] = co_await sock.async_connect(entry.endpoint(), io_token());
            ec = cec;
            if (!ec) break;
        }
    }
    if (!ec && !cut()) {
        sock.set_option(tcp::no_delay(true), ec);
        if (auto* tls = std::get_if<1>(&stream_); tls && !ec) {
            // SNI carries host names only (RFC 6066); certificates are checked
            // against the name or the IP address we connected to.
            if (!is_address && !SSL_set_tlsext_host_name(tls->native_handle(), ep.host.c_str())) {
                ec = boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
            } else if (watch_cancellation()) {
                tls->set_verify_callback(asio::ssl::host_name_verification(ep.host));
                auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, io_token());
                ec = hec;
            }
        }
    }
    // A connection the deadline closed, even just after it came up, is no use.
    if (cut() && !ec) ec = asio::error::operation_aborted;
    ec = disarm(ec);
    if (ec) close();
    else last_used = std::chrono::steady_clock::now();
    co_return ec;
}

asio::awaitable<exchange_result> connection::exchange(http_request& req, http_response& res, steady_time deadline,
                                                      std::size_t body_limit) {
    exchange_result out;
    req.prepare_payload();
    arm(co_await asio::this_coro::executor, co_await asio::this_coro::cancellation_state, deadline);
    // Nothing is written after the deadline or a cancellation (a timer that
    // has expired has not necessarily run yet).
    if (std::chrono::steady_clock::now() >= deadline) cutoff_->fired = true;

    serialize(req, wire_);
    auto run = [&](auto& stream) -> asio::awaitable<void> {
        if (!watch_cancellation()) {
            out.ec = asio::error::operation_aborted;
            co_return;
        }
        auto [wec, written] = co_await asio::async_write(stream, asio::buffer(wire_), io_token());
        out.request_written = written == wire_.size();
        if (!out.request_written) {
            out.ec = wec ? wec : asio::error::operation_aborted;
            co_return;
        }
        const read_result read =
            co_await read_response(stream, buffer_, res, body_limit, [this] { return watch_cancellation(); });
        out.response_started = read.started;
        out.ec = read.ec;
    };
    if (auto* s = std::get_if<0>(&stream_)) co_await run(*s);
    else co_await run(std::get<1>(stream_));

    // A response that arrived is kept even if the deadline passed meanwhile:
    // only an exchange that was actually cut short fails.
    out.ec = disarm(out.ec);
    if (out.ec) {
        close();
    } else {
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
    const ssize_t n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;                                      // orderly close
    if (n > 0) return true;                                       // unsolicited data (408, TLS alert)
    return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);  // reset or other error
}

bool connection::open_and_drained() const { return is_open() && buffer_.size() == 0; }

void connection::close() noexcept {
    boost::system::error_code ignored;
    auto& s = socket();
    if (!s.is_open()) return;
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
}

} // namespace sds::detail
