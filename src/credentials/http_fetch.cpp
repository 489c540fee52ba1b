#include "credentials/http_fetch.hpp"

#include "async/operation_strand.hpp"
#include "http/endpoint.hpp"
#include "transport/pooled_transport.hpp"

#include <algorithm>
#include <sds/error.hpp>

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/url/parse.hpp>

#include <cctype>
#include <optional>
#include <strings.h>

namespace sds::detail {

std::string fetch_response::header(std::string_view name) const {
    for (const auto& [n, v] : headers)
        if (n.size() == name.size() && ::strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    return {};
}

std::string form_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (const unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

namespace {

// `s` with every %XX (either case) decoded, and '+' as a space when `form`.
std::string percent_decoded(std::string_view s, bool form) {
    const auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && digit(s[i + 1]) >= 0 && digit(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(digit(s[i + 1]) * 16 + digit(s[i + 2])));
            i += 2;
        } else {
            out.push_back(form && s[i] == '+' ? ' ' : s[i]);
        }
    }
    return out;
}

} // namespace

bool quotes(std::string_view text, std::string_view secret) {
    if (secret.empty()) return false;
    // Any run of this many of the secret's characters is taken for a quote
    // of it (a server may cut what it quotes).
    constexpr std::size_t run = 12;
    const std::size_t n = std::min(run, secret.size());
    const std::string decoded = percent_decoded(text, false), form_decoded = percent_decoded(text, true);
    for (const std::string_view t : {text, std::string_view(decoded), std::string_view(form_decoded)})
        for (std::size_t i = 0; i + n <= secret.size(); ++i)
            if (t.find(secret.substr(i, n)) != std::string_view::npos) return true;
    return false;
}

namespace {

// `e` again, its summary prefixed with the source.
sds::error named(const std::string& source, const sds::error& e) {
    return error(e.condition(), source + ": " + e.summary(), e.diag());
}

boost::asio::awaitable<fetch_response> fetch_on_strand(std::string source, fetch_request req) {
    // The URL is never quoted whole in a message: user info or a query may
    // hold a secret.
    const auto url = boost::urls::parse_absolute_uri(req.url);
    if (!url || !url->has_authority() || url->has_userinfo() || url->has_fragment())
        throw error(errc::invalid_argument, source + ": the endpoint URL is not usable (an absolute http or https URL "
                                                     "without user info or fragment is)");
    std::string origin = std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
    std::string target = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
    if (url->has_query()) target += "?" + std::string(url->encoded_query());

    http_options options;
    options.max_connections = 1;
    options.connect_timeout = req.timeout;
    options.request_timeout = req.timeout;
    options.max_response_body = 1024 * 1024;
    options.allow_plain_http = req.allow_plain_http;
    std::optional<endpoint> ep;
    std::optional<pooled_transport> made;
    try {
        ep = endpoint::parse(origin);
        made.emplace(co_await boost::asio::this_coro::executor, *ep, options);
    } catch (const sds::error& e) {
        throw named(source, e);
    }
    pooled_transport& transport = *made;

    http_request r{req.verb, target, 11};
    for (const auto& [name, value] : req.headers) r.set(name, value);
    if (!req.body.empty() || req.verb == boost::beast::http::verb::post || req.verb == boost::beast::http::verb::put) {
        r.body() = std::move(req.body);
        r.prepare_payload();
    }
    transport_result result;
    try {
        result = co_await transport.send(r, {.idempotent = true, .deadline = std::nullopt});
    } catch (const sds::error& e) {
        if (e.condition() == errc::invalid_argument) throw named(source, e);
        throw;
    }
    if (result.ec) {
        if (result.ec == boost::beast::error::timeout)
            throw error(errc::timeout, source + ": no answer from " + ep->origin() + " within " +
                                           std::to_string(req.timeout.count()) + " ms");
        if (result.ec == boost::asio::error::operation_aborted)
            throw error(errc::cancelled, source + ": cancelled");
        throw error(errc::network_error, source + ": cannot reach " + ep->origin() + ": " + result.ec.message());
    }
    fetch_response out;
    out.status = result.response.result_int();
    out.body = std::move(result.response.body());
    for (const auto& f : result.response) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    co_return out;
}

} // namespace

boost::asio::awaitable<fetch_response> fetch_url(std::string source, fetch_request req) {
    // The transport must be awaited on a strand: one of its own.
    co_return co_await on_operation_strand(co_await boost::asio::this_coro::executor,
                                           fetch_on_strand(std::move(source), std::move(req)));
}

} // namespace sds::detail
