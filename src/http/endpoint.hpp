// A service endpoint: where requests go, parsed once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sds::detail {

struct endpoint {
    bool tls = false;
    std::string host;         ///< without brackets for IPv6 literals
    std::uint16_t port = 0;   ///< explicit or the scheme's default
    std::string host_header;  ///< what the Host header carries: host[:port] (port only when not default)
    std::string path_prefix;  ///< "" or "/prefix" without a trailing slash

    /// Parses "http://127.0.0.1:8000", "https://dynamodb.us-east-1.amazonaws.com",
    /// "http://127.0.0.1:10002/devstoreaccount1". Throws sds::error(invalid_argument)
    /// for anything else (other schemes, user info, query, fragment, bad port).
    static endpoint parse(std::string_view url);

    /// The host is this machine: "localhost", an IPv4 address in
    /// 127.0.0.0/8, or ::1.
    bool is_loopback() const;

    /// "scheme://host_header" for messages.
    std::string origin() const;
};

} // namespace sds::detail
