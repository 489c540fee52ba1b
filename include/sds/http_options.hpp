// Connection settings shared by both engines.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace sds {

/// TLS settings for https endpoints.
struct tls_options {
    /// Verify the server's certificate chain and host name. Turning this off
    /// is only for local testing.
    bool verify_peer = true;
    /// PEM file of trusted CA certificates. Empty: the system's default store.
    std::string ca_file;
};

/// How sds connects to a service endpoint.
struct http_options {
    /// Most connections open at once to one endpoint; further requests wait for one.
    std::size_t max_connections = 64;
    /// Limit on resolving, connecting and the TLS handshake.
    std::chrono::milliseconds connect_timeout{3000};
    /// Limit on one attempt: writing the request and reading the whole response.
    std::chrono::milliseconds request_timeout{10000};
    /// A pooled connection unused for this long is closed instead of reused.
    std::chrono::milliseconds idle_timeout{30000};
    /// Largest response body accepted (DynamoDB BatchGetItem answers up to 16 MB).
    std::size_t max_response_body = 32 * 1024 * 1024;
    /// Plain `http://` is accepted only to a loopback host (127.0.0.0/8,
    /// ::1, localhost), where the emulators run: anywhere else requests and
    /// their signatures would cross the network in clear, and the
    /// datastore's constructor throws errc::invalid_argument. Set this to
    /// reach a plain-HTTP endpoint elsewhere on purpose (DynamoDB Local on
    /// another host, say). An Azure SAS, which authorizes whoever holds it,
    /// goes over plain http only with this set, loopback included; Entra ID
    /// bearer tokens never do.
    bool allow_plain_http = false;
    tls_options tls;
};

} // namespace sds
