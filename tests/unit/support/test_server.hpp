// A scriptable HTTP/1.1 server on 127.0.0.1 for tests of the HTTP client and
// connection pool: every response, stall, early close and reset comes from a
// handler the test writes.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sds::test {

/// Waits, up to `limit`, for something the server does after the client has
/// moved on (such as counting a failed handshake); whether it happened.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

struct test_pki;

namespace http = boost::beast::http;

/// What the server does with one request.
struct server_action {
    enum class kind {
        /// Write a complete response (status, headers, body, Content-Length).
        respond,
        /// Close the connection without writing anything.
        close_without_response,
        /// Write the status line, the headers and `body` (or a few bytes of
        /// filler when `body` is empty) under a Content-Length larger than
        /// what is sent, then close with SO_LINGER {on, 0} so the client sees
        /// a TCP reset in the middle of the response.
        reset_mid_response,
        /// Write the status line and a chunked header block, then a body of
        /// one-byte chunks, each as soon as the last was written, that never
        /// ends: a server trickling an endless answer. Stops when the
        /// client closes.
        trickle_body,
    } what = kind::respond;
    unsigned status = 200;
    /// Extra response headers, written as given (repeated names are kept).
    /// A name the server sets itself (Content-Length, Connection) is replaced.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// Send "Connection: close" and close after the response. The server also
    /// closes when the request asked it to.
    bool close_after = false;
    /// Wait this long (on an Asio timer, so other connections are served
    /// meanwhile) before acting: a stalled server.
    std::chrono::milliseconds delay{0};
};

/// Decides what to do with a request. `index` counts requests, from 0, over
/// the server's lifetime. Called on the server thread only, so handlers need
/// no locking of their own; a handler that throws gets a 500 response carrying
/// the exception's message.
using server_handler =
    std::function<server_action(const http::request<http::string_body>& req, std::size_t index)>;

/// A server on 127.0.0.1 with an ephemeral port, running its own io_context
/// on its own thread from construction to destruction.
///
/// Each connection (after the TLS handshake, for a TLS server) reads requests
/// one at a time and answers each as its handler says, until the client
/// closes, a read fails, or an action closes it. TLS connections are closed
/// without close_notify, as many real servers do.
///
/// The counters and received() may be called from any thread. The destructor
/// returns promptly even while clients hold connections open or a delay is
/// pending: it stops the io_context and drops every connection.
class test_server {
public:
    /// Plain HTTP.
    explicit test_server(server_handler h);
    /// HTTPS with `pki.server_cert` and `pki.server_key`; `pki` may be
    /// destroyed once the constructor returns.
    test_server(server_handler h, const test_pki& pki);
    ~test_server();

    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    unsigned short port() const;
    /// TCP connections accepted so far.
    std::size_t accepts() const;
    /// Complete requests read so far (counted before the handler is called).
    std::size_t requests() const;
    /// TLS handshakes that failed, e.g. because the client rejected the certificate.
    std::size_t handshake_failures() const;

    /// Closes every connection waiting for its next request, including those
    /// still writing a keep-alive response (they close once it is written),
    /// and returns when all of them are closed. Connections in a handshake or
    /// a delay are left alone. Must not be called from a handler.
    void close_idle_connections();

    /// Copies of all requests read so far, in the order they were read.
    std::vector<http::request<http::string_body>> received() const;

    /// Closes a connection that waits longer than `after` for its next
    /// request, as servers with a keep-alive timeout do (zero: never, the
    /// default). Affects waits that begin after the call.
    void close_idle_after(std::chrono::milliseconds after);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace sds::test
