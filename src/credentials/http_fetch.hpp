// One HTTP exchange with a credentials endpoint (instance metadata, the
// container endpoint, STS, an Entra ID token endpoint), through sds's own
// transport: a pool of its own for the exchange, TLS verified, timeouts.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace sds::detail {

struct fetch_request {
    boost::beast::http::verb verb = boost::beast::http::verb::get;
    std::string url;  ///< absolute: scheme, host, optional port, path, optional query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// Limit on connecting and on the exchange, each.
    std::chrono::milliseconds timeout{5000};
    /// Plain http is allowed to this host although it is not loopback (the
    /// link-local metadata endpoints).
    bool allow_plain_http = false;
};

struct fetch_response {
    unsigned status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    /// The value of header `name` (case-insensitive), empty if none.
    std::string header(std::string_view name) const;
};

/// Sends `req` once and reads the whole answer (at most 1 MiB). Never
/// follows a redirect. A network failure is errc::network_error, no answer
/// within the timeout errc::timeout, a cancellation errc::cancelled; each
/// message starts with `source` and names the host, never the request's
/// headers or body.
boost::asio::awaitable<fetch_response> fetch_url(std::string source, fetch_request req);

/// `s` with every byte outside the unreserved set percent-encoded (for
/// application/x-www-form-urlencoded bodies and query values).
std::string form_encode(std::string_view s);

/// Whether `text` quotes `secret` (not empty), whole or any 12 characters of
/// it in a row: as it is, or percent-encoded (either case of hex digits, any
/// choice of characters encoded, '+' for a space), the ways a server quoting
/// the request it refused may show it.
bool quotes(std::string_view text, std::string_view secret);

} // namespace sds::detail
