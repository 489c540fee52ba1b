#include "http/endpoint.hpp"

#include <sds/error.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <charconv>

namespace sds::detail {

endpoint endpoint::parse(std::string_view url) {
    // The URL is never echoed whole: user info and query strings carry
    // credentials (https://AKID:secret@host, ?X-Amz-Security-Token=...).
    // Once parsed, only the scheme and host are shown.
    std::string shown = "endpoint";
    auto fail = [&](const std::string& why) -> endpoint { throw error(errc::invalid_argument, shown + ": " + why); };
    const auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) return fail("not an absolute URL");
    shown = "endpoint '" + std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port()) + "'";
    endpoint e;
    const auto scheme = parsed->scheme_id();
    if (scheme == boost::urls::scheme::https) e.tls = true;
    else if (scheme != boost::urls::scheme::http) return fail("scheme must be http or https");
    if (parsed->has_userinfo()) return fail("user info is not allowed");
    if (parsed->has_query() || parsed->has_fragment()) return fail("query and fragment are not allowed");
    e.host = parsed->host_type() == boost::urls::host_type::ipv6 ? std::string(parsed->host_address())
                                                                 : std::string(parsed->encoded_host());
    if (e.host.empty()) return fail("host is empty");
    const std::uint16_t default_port = e.tls ? 443 : 80;
    if (parsed->has_port()) {
        // port_number() wraps values above 65535, so read the digits ourselves.
        const auto digits = parsed->port();
        unsigned long value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || value == 0 || value > 65535)
            return fail("port must be 1 to 65535");
        e.port = static_cast<std::uint16_t>(value);
    } else {
        e.port = default_port;
    }
    e.host_header = std::string(parsed->encoded_host_and_port());
    if (e.port == default_port && parsed->has_port()) e.host_header = std::string(parsed->encoded_host());
    e.path_prefix = std::string(parsed->encoded_path());
    // After the authority a path is empty or starts with '/' (RFC 3986
    // section 3.3), but Boost.URL 1.81 reads "http://[::1]2/x" as host ::1 and
    // path "2/x". Such a prefix would make request targets that are not paths.
    if (!e.path_prefix.empty() && e.path_prefix.front() != '/') return fail("path must start with '/'");
    while (!e.path_prefix.empty() && e.path_prefix.back() == '/') e.path_prefix.pop_back();
    return e;
}

bool endpoint::is_loopback() const {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::string endpoint::origin() const { return (tls ? "https://" : "http://") + host_header; }

} // namespace sds::detail
