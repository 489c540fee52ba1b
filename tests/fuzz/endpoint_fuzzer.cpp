// Endpoint URLs (src/http/endpoint.hpp), as both configs give them: an
// endpoint or sds::error(invalid_argument), never an error whose message
// depends on the user info or the query (they carry credentials), and an
// endpoint whose origin and path prefix parse back to the same endpoint.
//
// Input: the URL.
#include "http/endpoint.hpp"
#include "support/finding.hpp"
#include "support/lines.hpp"
#include "support/other_secret.hpp"

#include <sds/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using sds::fuzz::finding;

// `url` with its user info and its query (and fragment) replaced by others
// of the same shape (support/other_secret.hpp), as far as they can be told
// apart without parsing: what an error message must not depend on.
// A part with a percent escape is kept: changing its hex digits could make
// the URL malformed.
std::string with_other_secrets(std::string_view url) {
    std::string out(url);
    const auto replaceable = [](std::string_view part) { return part.find('%') == std::string_view::npos; };
    const std::size_t q = url.find('?');
    if (q != std::string_view::npos && replaceable(url.substr(q + 1)))
        out.replace(q + 1, url.size() - q - 1, sds::fuzz::other_secret(url.substr(q + 1)));
    const std::size_t authority = url.find("://");
    if (authority == std::string_view::npos) return out;
    const std::string_view rest = url.substr(authority + 3);
    const std::size_t at = rest.find('@');
    if (at == std::string_view::npos || at > rest.find_first_of("/?#")) return out;
    // RFC 3986 section 3.2.1: anything else before '@' makes it no user info
    // (and Boost.URL may read it as a host).
    const std::string_view userinfo = rest.substr(0, at);
    if (userinfo.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:") ==
        std::string_view::npos)
        out.replace(authority + 3, at, sds::fuzz::other_secret(userinfo));
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using sds::detail::endpoint;
    const std::string_view url = sds::fuzz::text_of(data, size);
    endpoint e;
    try {
        e = endpoint::parse(url);
    } catch (const sds::error& err) {
        if (err.condition() != sds::errc::invalid_argument) finding(std::string("unexpected error: ") + err.what());
        try {
            (void)endpoint::parse(with_other_secrets(url));
        } catch (const sds::error& other) {
            if (std::string_view(other.what()) != err.what()) finding("an error shows the URL's user info or query");
        }
        return 0;
    }
    if (e.host.empty() || e.host_header.empty() || e.port == 0) finding("an endpoint without host or port");
    if (e.path_prefix.ends_with('/')) finding("a path prefix ends with '/'");
    if (!e.path_prefix.empty() && !e.path_prefix.starts_with('/')) finding("a path prefix does not start with '/'");

    endpoint again;
    try {
        again = endpoint::parse(e.origin() + e.path_prefix);
    } catch (const sds::error& err) {
        finding(std::string("an endpoint's own origin does not parse: ") + err.what());
    }
    if (again.tls != e.tls || again.host != e.host || again.port != e.port || again.host_header != e.host_header ||
        again.path_prefix != e.path_prefix)
        finding("an endpoint's origin and path prefix parse to another endpoint");
    return 0;
}
