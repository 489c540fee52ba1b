#include "test_server.hpp"

#include "test_certs.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace sds::test {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// reset_mid_response promises this many body bytes more than it sends, so
/// the client is certainly still reading the body when the reset arrives.
constexpr std::size_t reset_missing_body_bytes = 1024;
/// What reset_mid_response sends of the body when the action has none.
constexpr std::string_view reset_filler_body = "partial";

/// Where a connection is in its request loop, as close_idle_connections sees it.
enum class connection_phase {
    handshaking,
    awaiting_request,
    handling_request,   // from the request read until the response is written (or the connection closed)
    finishing_response, // writing a response after which the connection stays open
};

/// Fulfils `done` when the last reference goes: close_idle_connections holds
/// one while it looks at the connections, and each connection it must wait
/// for holds one until that connection is closed.
struct close_barrier {
    std::promise<void> done;
    ~close_barrier() { done.set_value(); }
};

struct connection_entry {
    tcp::socket* socket = nullptr;
    connection_phase phase = connection_phase::awaiting_request;
    std::shared_ptr<close_barrier> close_when_written; // set while close_idle_connections waits for it
};

/// Closes with a FIN (unless unread data forces the kernel to reset).
void close_socket(tcp::socket& socket) {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

/// Closes so that the peer sees a reset rather than an orderly end of stream.
void reset_socket(tcp::socket& socket) {
    error_code ignored;
    socket.set_option(net::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
}

/// Swallows what a detached coroutine leaves behind, so that nothing escapes
/// io_context::run() and takes the server thread (and the test binary) down.
void ignore_exception(std::exception_ptr) noexcept {}

http::response<http::string_body> make_response(const http::request<http::string_body>& req,
                                                const server_action& action, bool keep_alive) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.result(action.status);
    res.keep_alive(keep_alive);
    res.body() = action.body;
    res.prepare_payload();
    for (const auto& [name, value] : action.headers) res.erase(name);
    for (const auto& [name, value] : action.headers) res.insert(name, value);
    return res;
}

/// The status line and headers of a response whose body stops `reset_missing_body_bytes` short.
std::string make_truncated_response(const server_action& action) {
    const std::string_view body = action.body.empty() ? reset_filler_body : std::string_view(action.body);
    std::string text = "HTTP/1.1 " + std::to_string(action.status) + " " +
                       std::string(http::obsolete_reason(http::int_to_status(action.status))) + "\r\n";
    for (const auto& [name, value] : action.headers) text += name + ": " + value + "\r\n";
    text += "Content-Length: " + std::to_string(body.size() + reset_missing_body_bytes) + "\r\n\r\n";
    text += body;
    return text;
}

} // namespace

struct test_server::impl {
    impl(server_handler h, const test_pki* pki);
    ~impl();

    net::awaitable<void> accept_connections();
    net::awaitable<void> plain_session(tcp::socket socket);
    net::awaitable<void> tls_session(tcp::socket socket);
    template <class Stream>
    net::awaitable<void> serve_requests(Stream& stream, connection_entry& entry);
    server_action call_handler(const http::request<http::string_body>& req, std::size_t index);
    void close_idle_connections(std::shared_ptr<close_barrier> barrier);

    /// Puts a connection in `connections` for as long as its session runs,
    /// including when the io_context destroys a suspended session.
    class registration {
    public:
        registration(impl& server, tcp::socket& socket) : server_(server), id_(server.next_connection_id++) {
            entry = &server_.connections[id_];
            entry->socket = &socket;
        }
        ~registration() { server_.connections.erase(id_); }
        registration(const registration&) = delete;
        registration& operator=(const registration&) = delete;

        connection_entry* entry;

    private:
        impl& server_;
        std::uint64_t id_;
    };

    server_handler handler;

    std::atomic<std::size_t> accepts{0};
    std::atomic<std::size_t> requests{0};
    std::atomic<std::size_t> handshake_failures{0};
    std::atomic<std::int64_t> idle_close_ms{0};
    mutable std::mutex received_mutex;
    std::vector<http::request<http::string_body>> received; // guarded by received_mutex

    // Server thread only. Declared before the io_context so that they outlive
    // the sessions it destroys.
    std::size_t next_request_index = 0;
    std::uint64_t next_connection_id = 0;
    std::map<std::uint64_t, connection_entry> connections;
    std::optional<ssl::context> tls;

    net::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    unsigned short port = 0;
    std::thread thread;
};

test_server::impl::impl(server_handler h, const test_pki* pki) : handler(std::move(h)) {
    if (pki) {
        tls.emplace(ssl::context::tls_server);
        tls->use_certificate_chain_file(pki->server_cert.string());
        tls->use_private_key_file(pki->server_key.string(), ssl::context::pem);
    }
    const tcp::endpoint endpoint(net::ip::address_v4::loopback(), 0);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();

    net::co_spawn(ioc, accept_connections(), ignore_exception);
    thread = std::thread([this] { ioc.run(); });
}

test_server::impl::~impl() {
    // stop() abandons every pending operation, so neither a stalled delay nor
    // a client holding its connection open can keep run() going. The sessions
    // are destroyed, and their sockets closed, with the io_context.
    ioc.stop();
    thread.join();
}

net::awaitable<void> test_server::impl::accept_connections() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec == net::error::connection_aborted) continue; // the client gave up before we accepted
        if (ec) co_return;
        ++accepts;
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (tls)
            net::co_spawn(ioc, tls_session(std::move(socket)), ignore_exception);
        else
            net::co_spawn(ioc, plain_session(std::move(socket)), ignore_exception);
    }
}

net::awaitable<void> test_server::impl::plain_session(tcp::socket socket) {
    registration reg(*this, socket);
    co_await serve_requests(socket, *reg.entry);
}

net::awaitable<void> test_server::impl::tls_session(tcp::socket socket) {
    ssl::stream<tcp::socket> stream(std::move(socket), *tls);
    registration reg(*this, stream.next_layer());
    reg.entry->phase = connection_phase::handshaking;
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (ec) {
        ++handshake_failures;
        close_socket(stream.next_layer());
        co_return;
    }
    co_await serve_requests(stream, *reg.entry);
}

template <class Stream>
net::awaitable<void> test_server::impl::serve_requests(Stream& stream, connection_entry& entry) {
    tcp::socket& socket = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    for (;;) {
        entry.phase = connection_phase::awaiting_request;
        http::request_parser<http::string_body> parser;
        parser.body_limit(boost::none); // the client under test decides how big a request is
        // A keep-alive timeout: the timer closes the socket under the pending
        // read, which then fails. Destroyed with this iteration, it never
        // fires after the read completed.
        net::steady_timer idle_timer(co_await net::this_coro::executor);
        if (const auto ms = idle_close_ms.load(); ms > 0) {
            idle_timer.expires_after(std::chrono::milliseconds(ms));
            idle_timer.async_wait([&socket](error_code ec) {
                if (!ec) close_socket(socket);
            });
        }
        if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple); ec) co_return;
        idle_timer.cancel();

        entry.phase = connection_phase::handling_request;
        const http::request<http::string_body> req = parser.release();
        {
            std::lock_guard lock(received_mutex);
            received.push_back(req);
        }
        ++requests;
        const server_action action = call_handler(req, next_request_index++);

        if (action.delay > std::chrono::milliseconds::zero()) {
            net::steady_timer timer(co_await net::this_coro::executor, action.delay);
            co_await timer.async_wait(use_tuple);
        }

        switch (action.what) {
        case server_action::kind::close_without_response:
            close_socket(socket);
            co_return;
        case server_action::kind::reset_mid_response: {
            const std::string text = make_truncated_response(action);
            co_await net::async_write(stream, net::buffer(text), use_tuple);
            reset_socket(socket);
            co_return;
        }
        case server_action::kind::trickle_body: {
            const std::string head = "HTTP/1.1 " + std::to_string(action.status) + " OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            if (auto [ec, n] = co_await net::async_write(stream, net::buffer(head), use_tuple); ec) co_return;
            constexpr std::string_view chunk = "1\r\nx\r\n";
            for (;;) {
                if (auto [ec, n] = co_await net::async_write(stream, net::buffer(chunk), use_tuple); ec) co_return;
            }
        }
        case server_action::kind::respond:
            break;
        }

        const bool keep_alive = !action.close_after && req.keep_alive();
        http::response<http::string_body> res = make_response(req, action, keep_alive);
        if (keep_alive) entry.phase = connection_phase::finishing_response;
        auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
        if (ec || !keep_alive || entry.close_when_written) {
            close_socket(socket);
            entry.close_when_written.reset();
            co_return;
        }
    }
}

server_action test_server::impl::call_handler(const http::request<http::string_body>& req, std::size_t index) {
    try {
        return handler(req, index);
    } catch (const std::exception& e) {
        server_action failed;
        failed.status = 500;
        failed.body = std::string("test_server handler threw: ") + e.what();
        return failed;
    }
}

void test_server::impl::close_idle_connections(std::shared_ptr<close_barrier> barrier) {
    for (auto& [id, entry] : connections) {
        if (entry.phase == connection_phase::awaiting_request)
            close_socket(*entry.socket); // the pending read completes later, with operation_aborted
        else if (entry.phase == connection_phase::finishing_response)
            entry.close_when_written = barrier;
    }
}

test_server::test_server(server_handler h) : impl_(std::make_unique<impl>(std::move(h), nullptr)) {}

test_server::test_server(server_handler h, const test_pki& pki) : impl_(std::make_unique<impl>(std::move(h), &pki)) {}

test_server::~test_server() = default;

unsigned short test_server::port() const { return impl_->port; }

std::size_t test_server::accepts() const { return impl_->accepts.load(); }

std::size_t test_server::requests() const { return impl_->requests.load(); }

std::size_t test_server::handshake_failures() const { return impl_->handshake_failures.load(); }

void test_server::close_idle_connections() {
    auto barrier = std::make_shared<close_barrier>();
    std::future<void> closed = barrier->done.get_future();
    net::post(impl_->ioc, [server = impl_.get(), barrier = std::move(barrier)]() mutable {
        server->close_idle_connections(std::move(barrier));
    });
    closed.wait();
}

void test_server::close_idle_after(std::chrono::milliseconds after) { impl_->idle_close_ms = after.count(); }

std::vector<http::request<http::string_body>> test_server::received() const {
    std::lock_guard lock(impl_->received_mutex);
    return impl_->received;
}

} // namespace sds::test
