// A scripted transport for unit tests of the layers above the network: each
// send() takes the next scripted step (a response, or a failure), after an
// optional simulated delay that honours cancellation. Every request is kept
// for inspection. Use from one io_context thread.
#pragma once

#include "transport/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sds::test {

class fake_transport final : public detail::transport {
public:
    struct step {
        detail::transport_result result;
        std::chrono::milliseconds delay{0};
    };

    explicit fake_transport(std::string url = "http://127.0.0.1:8000")
        : endpoint_(detail::endpoint::parse(url)) {}

    /// Next send() answers with this response.
    fake_transport& respond(unsigned status, std::string body = {},
                            std::vector<std::pair<std::string, std::string>> headers = {},
                            std::chrono::milliseconds delay = {}) {
        step s = response(status, std::move(body), std::move(headers));
        s.delay = delay;
        steps_.push_back(std::move(s));
        return *this;
    }

    /// Next send() fails with `ec`; `request_written` says whether the server may have seen it.
    fake_transport& fail(boost::system::error_code ec, bool request_written, std::chrono::milliseconds delay = {}) {
        step s;
        s.result.ec = ec;
        s.result.request_written = request_written;
        s.delay = delay;
        steps_.push_back(std::move(s));
        return *this;
    }

    /// Takes the next step. A scripted delay that would outlast the
    /// request's deadline ends at the deadline with beast::error::timeout, as
    /// the real transport's does; a cancellation ends it with
    /// operation_aborted. Either keeps the step's request_written.
    boost::asio::awaitable<detail::transport_result> send(detail::http_request& req,
                                                          detail::send_options options = {}) override {
        idempotent_flags_.push_back(options.idempotent);
        requests_.push_back(req);
        step s;
        if (!steps_.empty()) {
            s = std::move(steps_.front());
            steps_.pop_front();
        } else if (handler_) {
            s = handler_(req);
        } else {
            ++unexpected_;
            co_return detail::transport_result{boost::asio::error::not_connected, {}, false};
        }
        if (s.delay.count() > 0) {
            const auto until = std::chrono::steady_clock::now() + s.delay;
            const bool cut = options.deadline && *options.deadline < until;
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, cut ? *options.deadline : until);
            auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) co_return detail::transport_result{ec, {}, s.result.request_written};
            if (cut) co_return detail::transport_result{boost::beast::error::timeout, {}, s.result.request_written};
        }
        co_return s.result;
    }

    const detail::endpoint& target() const override { return endpoint_; }

    /// Answers every send() that finds no scripted step (a server in a
    /// lambda, for requests whose order is not fixed).
    void answer_with(std::function<step(const detail::http_request&)> handler) { handler_ = std::move(handler); }

    /// A response step, for answer_with handlers.
    static step response(unsigned status, std::string body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
        step s;
        s.result.response.result(status);
        s.result.response.version(11);
        for (auto& [n, v] : headers) s.result.response.set(n, v);
        s.result.response.body() = std::move(body);
        s.result.response.prepare_payload();
        s.result.request_written = true;
        return s;
    }

    const std::vector<detail::http_request>& requests() const { return requests_; }
    std::size_t remaining() const { return steps_.size(); }
    /// send() calls that found no scripted step.
    std::size_t unexpected() const { return unexpected_; }
    /// The idempotent flag of every send(), in order.
    const std::vector<bool>& idempotent_flags() const { return idempotent_flags_; }

private:
    detail::endpoint endpoint_;
    std::deque<step> steps_;
    std::vector<detail::http_request> requests_;
    std::size_t unexpected_ = 0;
    std::vector<bool> idempotent_flags_;
    std::function<step(const detail::http_request&)> handler_;
};

} // namespace sds::test
