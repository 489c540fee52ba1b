// A transport that answers every request with the next step of a script:
// what the engine fuzz targets put between an engine and its service.
//
// Every response goes through sds's own response reader
// (src/http/response_reader.hpp, Beast's parser with the limits a real
// connection uses), from memory, so an engine sees only what a connection
// could hand it, and a response the parser refuses fails the attempt as it
// would on the wire.
//
// The script is text, so that seed inputs read like the exchanges they
// stand for. Each step starts with a line "=== <what>":
//
//   === 200 OK       a response with status line "HTTP/1.1 200 OK"; header
//                    lines "Name: value" follow up to an empty line, then
//                    the body, up to the next "\n=== " or the end
//   === reset        the connection broke after the request was written
//   === refused      connecting failed: nothing was written
//   === timeout      the request timeout expired after the request was written
//
// Lines end in "\n" (a "\r" before it is dropped). Content-Length is added
// unless the step has Content-Length or Transfer-Encoding; for DynamoDB, the
// body's correct x-amz-crc32 is added unless the step has one. Anything
// before the first step is the caller's (the fuzz targets name the
// operation there). Once the script is used up, every request is refused.
#pragma once

#include "dynamodb/dynamodb_engine.hpp"
#include "http/response_reader.hpp"
#include "transport/transport.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace sds::fuzz {

/// Splits `script` at its "=== " lines: what comes before the first one,
/// and each step's text (its "=== " line without the marker, and what follows).
struct script_parts {
    std::string_view preamble;
    std::deque<std::string_view> steps;
};

inline script_parts split_script(std::string_view script) {
    constexpr std::string_view marker = "=== ";
    script_parts out;
    std::size_t start = script.starts_with(marker) ? 0 : script.find("\n" + std::string(marker));
    out.preamble = script.substr(0, start);
    while (start != std::string_view::npos) {
        if (script[start] == '\n') ++start;
        start += marker.size();
        const std::size_t next = script.find("\n" + std::string(marker), start);
        out.steps.push_back(script.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start));
        start = next;
    }
    return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    });
}

/// The bytes a server would send for a response step.
inline std::string wire_response(std::string_view step, bool dynamodb) {
    auto next_line = [&step]() {
        const std::size_t nl = step.find('\n');
        std::string_view line = step.substr(0, nl);
        step = nl == std::string_view::npos ? std::string_view{} : step.substr(nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        return line;
    };
    std::string wire = "HTTP/1.1 ";
    wire.append(next_line()).append("\r\n");
    bool has_length = false, has_crc = false;
    while (!step.empty()) {
        const std::string_view line = next_line();
        if (line.empty()) break;
        const std::string_view name = line.substr(0, line.find(':'));
        has_length = has_length || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
        has_crc = has_crc || iequals(name, "x-amz-crc32");
        wire.append(line).append("\r\n");
    }
    const std::string_view body = step;
    if (!has_length) wire.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    if (dynamodb && !has_crc)
        wire.append("x-amz-crc32: ").append(std::to_string(detail::dynamodb_crc32(body))).append("\r\n");
    wire.append("\r\n").append(body);
    return wire;
}

class scripted_transport final : public detail::transport {
public:
    /// `steps` as split_script gives them; `dynamodb` adds x-amz-crc32.
    scripted_transport(std::deque<std::string_view> steps, bool dynamodb, std::size_t body_limit, std::string url)
        : steps_(std::move(steps)), dynamodb_(dynamodb), body_limit_(body_limit),
          endpoint_(detail::endpoint::parse(url)) {}

    boost::asio::awaitable<detail::transport_result> send(detail::http_request&, detail::send_options) override {
        ++sends_;
        if (steps_.empty()) co_return detail::transport_result{boost::asio::error::connection_refused, {}, false};
        const std::string_view step = steps_.front();
        steps_.pop_front();
        if (step.starts_with("reset")) co_return detail::transport_result{boost::asio::error::connection_reset, {}, true};
        if (step.starts_with("refused"))
            co_return detail::transport_result{boost::asio::error::connection_refused, {}, false};
        if (step.starts_with("timeout")) co_return detail::transport_result{boost::beast::error::timeout, {}, true};

        boost::beast::test::stream server_bytes(co_await boost::asio::this_coro::executor);
        server_bytes.append(wire_response(step, dynamodb_));
        server_bytes.close_remote();
        boost::beast::flat_buffer buffer;
        detail::transport_result out;
        const detail::read_result r =
            co_await detail::read_response(server_bytes, buffer, out.response, body_limit_, [] { return true; });
        out.ec = r.ec;
        out.request_written = true;
        if (out.ec) out.response = {};
        co_return out;
    }

    const detail::endpoint& target() const override { return endpoint_; }

    /// Requests sent so far.
    std::size_t sends() const { return sends_; }

private:
    std::deque<std::string_view> steps_;
    bool dynamodb_;
    std::size_t body_limit_;
    detail::endpoint endpoint_;
    std::size_t sends_ = 0;
};

} // namespace sds::fuzz
