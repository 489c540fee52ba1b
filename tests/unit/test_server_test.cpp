// The scriptable test server and the test PKI, checked with a minimal
// blocking Beast client before the pool and transport tests rely on them.
#include <catch2/catch.hpp>

#include "support/test_certs.hpp"
#include "support/test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using sds::test::make_test_pki;
using sds::test::server_action;
using sds::test::test_server;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using error_code = boost::system::error_code;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

/// Far longer than anything here should take; only a broken server hits it.
constexpr auto client_timeout = 10s;

request make_request(http::verb verb, std::string target, std::string body = {}) {
    request req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

server_action respond_with(std::string body) {
    server_action action;
    action.body = std::move(body);
    return action;
}


/// One client connection on its own io_context. Every call blocks until its
/// operation completes or `client_timeout` passes.
template <class Stream>
class blocking_client {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

    template <class... Args>
    explicit blocking_client(Args&... args) : stream_(ioc_, args...) {}

    error_code connect(unsigned short port) {
        const net::ip::tcp::endpoint endpoint(net::ip::address_v4::loopback(), port);
        return run([&](auto handler) { beast::get_lowest_layer(stream_).async_connect(endpoint, handler); });
    }

    /// TLS handshake with SNI and verification of `host_name` against the certificate.
    error_code handshake(const std::string& host_name)
        requires is_tls
    {
        SSL_set_tlsext_host_name(stream_.native_handle(), host_name.c_str());
        stream_.set_verify_callback(ssl::host_name_verification(host_name));
        return run([&](auto handler) { stream_.async_handshake(ssl::stream_base::client, handler); });
    }

    error_code send(const request& req) {
        return run([&](auto handler) { http::async_write(stream_, req, handler); });
    }

    error_code receive(response& res) {
        res = {};
        return run([&](auto handler) { http::async_read(stream_, buffer_, res, handler); });
    }

    /// Reads only the status line and headers of the next response into `parser`.
    error_code receive_header(http::response_parser<http::string_body>& parser) {
        return run([&](auto handler) { http::async_read_header(stream_, buffer_, parser, handler); });
    }

    /// Reads the rest of the response whose header `parser` holds.
    error_code receive_body(http::response_parser<http::string_body>& parser) {
        return run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
    }

    error_code exchange(const request& req, response& res) {
        if (const error_code ec = send(req)) return ec;
        return receive(res);
    }

private:
    template <class Initiate>
    error_code run(Initiate initiate) {
        std::optional<error_code> result;
        beast::get_lowest_layer(stream_).expires_after(client_timeout);
        initiate([&result](error_code ec, auto&&...) { result = ec; });
        ioc_.restart();
        ioc_.run();
        return result.value();
    }

    net::io_context ioc_;
    Stream stream_;
    beast::flat_buffer buffer_;
};

using plain_client = blocking_client<beast::tcp_stream>;
using tls_client = blocking_client<ssl::stream<beast::tcp_stream>>;

ssl::context client_context_trusting(const std::filesystem::path& ca_cert) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.load_verify_file(ca_cert.string());
    return ctx;
}

} // namespace

TEST_CASE("The server answers with the handler's status, headers and body and records the request",
          "[test_server]") {
    test_server server([](const request&, std::size_t) {
        server_action action;
        action.status = 201;
        action.headers = {{"X-Test", "one"}, {"X-Test", "two"}, {"Content-Type", "text/plain"}};
        action.body = "created";
        return action;
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    response res;
    REQUIRE_FALSE(client.exchange(make_request(http::verb::put, "/table/item?x=1", "payload"), res));

    CHECK(res.result_int() == 201);
    CHECK(res.body() == "created");
    CHECK(res[http::field::content_length] == "7");
    CHECK(res[http::field::content_type] == "text/plain");
    CHECK(std::distance(res.equal_range("X-Test").first, res.equal_range("X-Test").second) == 2);
    CHECK(res.keep_alive());

    CHECK(server.requests() == 1);
    const auto received = server.received();
    REQUIRE(received.size() == 1);
    CHECK(received[0].method() == http::verb::put);
    CHECK(received[0].target() == "/table/item?x=1");
    CHECK(received[0].body() == "payload");
    CHECK(received[0][http::field::host] == "localhost");
}

TEST_CASE("A keep-alive connection serves several requests and the handler sees increasing indexes",
          "[test_server]") {
    test_server server([](const request&, std::size_t index) { return respond_with(std::to_string(index)); });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    for (const char* expected : {"0", "1", "2"}) {
        response res;
        REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
        CHECK(res.body() == expected);
    }
    CHECK(server.accepts() == 1);
    CHECK(server.requests() == 3);
}

TEST_CASE("accepts() counts each TCP connection and the index runs across connections", "[test_server]") {
    test_server server([](const request&, std::size_t index) { return respond_with(std::to_string(index)); });
    plain_client first;
    plain_client second;
    REQUIRE_FALSE(first.connect(server.port()));
    REQUIRE_FALSE(second.connect(server.port()));
    response res;
    REQUIRE_FALSE(first.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "0");
    REQUIRE_FALSE(second.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "1");
    // Both connections have been served, so both were accepted.
    CHECK(server.accepts() == 2);
}

TEST_CASE("close_after sends Connection: close and then closes the connection", "[test_server]") {
    test_server server([](const request&, std::size_t) {
        server_action action = respond_with("bye");
        action.close_after = true;
        return action;
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    response res;
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "bye");
    CHECK_FALSE(res.keep_alive());
    CHECK(client.receive(res) == http::error::end_of_stream);
}

TEST_CASE("close_without_response closes the connection before any byte of a response", "[test_server]") {
    test_server server([](const request&, std::size_t) {
        server_action action;
        action.what = server_action::kind::close_without_response;
        return action;
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    response res;
    CHECK(client.exchange(make_request(http::verb::get, "/"), res) == http::error::end_of_stream);
    CHECK(server.requests() == 1);
}

TEST_CASE("reset_mid_response sends the header and then resets the connection partway through the body", "[test_server]") {
    test_server server([](const request&, std::size_t) {
        server_action action = respond_with("the first few bytes");
        action.what = server_action::kind::reset_mid_response;
        return action;
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    REQUIRE_FALSE(client.send(make_request(http::verb::get, "/")));
    http::response_parser<http::string_body> parser;
    REQUIRE_FALSE(client.receive_header(parser));
    CHECK(parser.get().result_int() == 200);
    REQUIRE(parser.content_length().has_value());
    CHECK(*parser.content_length() > std::string_view("the first few bytes").size());

    const error_code ec = client.receive_body(parser);
    INFO(ec.message());
    CHECK(ec == net::error::connection_reset);
}

TEST_CASE("A delay holds the response back for at least that long", "[test_server]") {
    constexpr auto delay = 200ms;
    test_server server([&](const request&, std::size_t) {
        server_action action = respond_with("late");
        action.delay = delay;
        return action;
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    const auto start = std::chrono::steady_clock::now();
    response res;
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
    CHECK(std::chrono::steady_clock::now() - start >= delay);
    CHECK(res.body() == "late");
}

TEST_CASE("A handler that throws gets a 500 response instead of stopping the server", "[test_server]") {
    test_server server([](const request& req, std::size_t) -> server_action {
        if (req.target() == "/throw") throw std::runtime_error("scripted failure");
        return respond_with("fine");
    });
    plain_client client;
    REQUIRE_FALSE(client.connect(server.port()));
    response res;
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/throw"), res));
    CHECK(res.result_int() == 500);
    CHECK_THAT(res.body(), Catch::Contains("scripted failure"));
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "fine");
}

TEST_CASE("close_idle_connections closes connections waiting for a request but not one being handled",
          "[test_server]") {
    test_server server([](const request& req, std::size_t) {
        server_action action = respond_with("ok");
        if (req.target() == "/slow") action.delay = 300ms;
        return action;
    });
    plain_client idle;
    plain_client busy;
    REQUIRE_FALSE(idle.connect(server.port()));
    REQUIRE_FALSE(busy.connect(server.port()));
    response res;
    REQUIRE_FALSE(idle.exchange(make_request(http::verb::get, "/"), res));
    REQUIRE_FALSE(busy.send(make_request(http::verb::get, "/slow")));
    REQUIRE(sds::test::eventually([&] { return server.requests() == 2; }));

    server.close_idle_connections();

    CHECK(idle.receive(res) == http::error::end_of_stream);
    REQUIRE_FALSE(busy.receive(res));
    CHECK(res.body() == "ok");
    // The busy connection stays open for its next request.
    REQUIRE_FALSE(busy.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "ok");
    CHECK(server.accepts() == 2);
}

TEST_CASE("The destructor returns while a client holds a connection and a handler is stalled", "[test_server]") {
    auto server = std::make_unique<test_server>([](const request& req, std::size_t) {
        server_action action = respond_with("never");
        if (req.target() == "/stall") action.delay = 1h;
        return action;
    });
    plain_client idle;
    plain_client stalled;
    REQUIRE_FALSE(idle.connect(server->port()));
    REQUIRE_FALSE(stalled.connect(server->port()));
    response res;
    REQUIRE_FALSE(idle.exchange(make_request(http::verb::get, "/"), res));
    REQUIRE_FALSE(stalled.send(make_request(http::verb::get, "/stall")));
    REQUIRE(sds::test::eventually([&] { return server->requests() == 2; }));

    server.reset();

    // Both connections were dropped with the server.
    CHECK(idle.receive(res));
    CHECK(stalled.receive(res));
}

TEST_CASE("The test PKI writes its PEM files into a directory that its destructor removes", "[test_server]") {
    auto pki = make_test_pki();
    const std::filesystem::path dir = pki->dir;
    for (const auto& file : {pki->ca_cert, pki->server_cert, pki->server_key, pki->other_ca_cert}) {
        INFO(file);
        CHECK(file.parent_path() == dir);
        std::ifstream in(file);
        std::string first_line;
        std::getline(in, first_line);
        CHECK(first_line.starts_with("-----BEGIN "));
    }
    pki.reset();
    CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("The TLS server completes a handshake verified against the generated CA for localhost",
          "[test_server]") {
    const auto pki = make_test_pki();
    test_server server([](const request&, std::size_t) { return respond_with("secure"); }, *pki);
    ssl::context ctx = client_context_trusting(pki->ca_cert);
    tls_client client(ctx);
    REQUIRE_FALSE(client.connect(server.port()));
    const error_code handshake = client.handshake("localhost");
    INFO(handshake.message());
    REQUIRE_FALSE(handshake);
    response res;
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
    CHECK(res.body() == "secure");
    REQUIRE_FALSE(client.exchange(make_request(http::verb::get, "/"), res));
    CHECK(server.requests() == 2);
    CHECK(server.handshake_failures() == 0);
}

TEST_CASE("A TLS client that trusts only the other CA fails the handshake and the server counts it",
          "[test_server]") {
    const auto pki = make_test_pki();
    test_server server([](const request&, std::size_t) { return respond_with("unreachable"); }, *pki);
    ssl::context ctx = client_context_trusting(pki->other_ca_cert);
    tls_client client(ctx);
    REQUIRE_FALSE(client.connect(server.port()));
    const error_code ec = client.handshake("localhost");
    INFO(ec.message());
    CHECK(ec);
    CHECK(ec.category() == net::error::get_ssl_category());
    CHECK(sds::test::eventually([&] { return server.handshake_failures() == 1; }));
    CHECK(server.requests() == 0);
}

TEST_CASE("The server certificate names localhost only, so verifying it as 127.0.0.1 fails", "[test_server]") {
    const auto pki = make_test_pki();
    test_server server([](const request&, std::size_t) { return respond_with("unreachable"); }, *pki);
    ssl::context ctx = client_context_trusting(pki->ca_cert);
    tls_client client(ctx);
    REQUIRE_FALSE(client.connect(server.port()));
    CHECK(client.handshake("127.0.0.1"));
    CHECK(sds::test::eventually([&] { return server.handshake_failures() == 1; }));
}

TEST_CASE("reset_mid_response over TLS also resets the connection after the header", "[test_server]") {
    const auto pki = make_test_pki();
    test_server server(
        [](const request&, std::size_t) {
            server_action action;
            action.what = server_action::kind::reset_mid_response;
            return action;
        },
        *pki);
    ssl::context ctx = client_context_trusting(pki->ca_cert);
    tls_client client(ctx);
    REQUIRE_FALSE(client.connect(server.port()));
    REQUIRE_FALSE(client.handshake("localhost"));
    REQUIRE_FALSE(client.send(make_request(http::verb::get, "/")));
    http::response_parser<http::string_body> parser;
    REQUIRE_FALSE(client.receive_header(parser));
    CHECK(parser.get().result_int() == 200);

    const error_code ec = client.receive_body(parser);
    INFO(ec.message());
    CHECK(ec == net::error::connection_reset);
}
