#include "transport/pooled_transport.hpp"

#include <sds/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <iterator>

namespace sds::detail {
namespace {

// The signs of a connection the server had already closed: the write fails,
// or the read ends before a single byte.
bool closed_by_peer(const boost::system::error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::connection_aborted || ec == asio::ssl::error::stream_truncated ||
           ec == http::error::end_of_stream || ec == http::error::partial_message;
}

} // namespace

namespace {

// Plain HTTP only where it cannot leave the machine, unless asked for.
endpoint checked(endpoint ep, const http_options& opts) {
    if (!ep.tls && !opts.allow_plain_http && !ep.is_loopback())
        throw error(errc::invalid_argument, "endpoint '" + ep.origin() +
                                                "': plain http is refused for a host that is not loopback; use https, "
                                                "or set http_options.allow_plain_http");
    return ep;
}

} // namespace

pooled_transport::pooled_transport(asio::any_io_executor ex, endpoint ep, http_options opts)
    : pool_(connection_pool::create(std::move(ex), checked(std::move(ep), opts), opts)) {}

asio::awaitable<transport_result> pooled_transport::send(http_request& req, send_options options) {
    const auto& opts = pool_->options();
    // A request goes only to the host it names (and was signed for): one
    // whose Host header names another is refused before anything is sent.
    // One without a Host header gets the endpoint's.
    // Nor can a target in absolute form (which names a host of its own), a
    // second Host header, or a line break in any header (which would put
    // lines of its own on the wire) send it elsewhere: such requests are
    // refused too.
    const endpoint& ep = pool_->target();
    const auto refuse = [&](const std::string& why) {
        throw error(errc::invalid_argument, "a request was refused by the connection pool of '" + ep.host_header +
                                                "': " + why + "; nothing was sent");
    };
    if (!req.target().starts_with('/')) refuse("its target does not start with '/'");
    const auto clean = [](boost::beast::string_view v) {
        return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
    };
    if (!clean(req.target())) refuse("its target holds a line break or NUL");
    for (const auto& field : req)
        if (!clean(field.name_string()) || !clean(field.value()))
            refuse(clean(field.name_string())
                       ? "header '" + std::string(field.name_string().substr(0, 64)) + "' holds a line break or NUL"
                       : std::string("a header name holds a line break or NUL"));
    const auto hosts = req.equal_range(http::field::host);
    if (hosts.first == hosts.second)
        req.set(http::field::host, ep.host_header);
    else if (std::next(hosts.first) != hosts.second)
        refuse("it has more than one Host header");
    else if (!boost::beast::iequals(hosts.first->value(), ep.host_header))
        refuse("it names host '" + std::string(hosts.first->value()) + "'");
    for (bool allow_reuse : {true, false}) {
        boost::system::error_code ec;
        // An idempotent request found a reused connection closed goes again
        // on a fresh one (below), so a recently used one needs no check.
        auto lease = co_await pool_->acquire(allow_reuse, options.deadline, ec, options.idempotent);
        if (ec) co_return transport_result{ec, {}, false};

        transport_result out;
        const auto timeout_at = std::chrono::steady_clock::now() + opts.request_timeout;
        const exchange_result r = co_await lease.conn().exchange(
            req, out.response, options.deadline ? std::min(*options.deadline, timeout_at) : timeout_at,
            opts.max_response_body);
        if (!r.ec) {
            out.request_written = true;
            if (lease.conn().is_open()) lease.keep();
            co_return out;
        }
        const bool may_resend = options.idempotent || !r.request_written;
        if (allow_reuse && lease.reused() && !r.response_started && closed_by_peer(r.ec) && may_resend) continue;
        co_return transport_result{r.ec, {}, r.request_written};
    }
    co_return transport_result{asio::error::connection_reset, {}, false};  // not reached
}

} // namespace sds::detail
