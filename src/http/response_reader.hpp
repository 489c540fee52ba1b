// Reading the response to one request, as every sds connection does.
//
// A template over the stream: a connection reads from its socket or its TLS
// stream, and the fuzz target reads the same way from memory
// (tests/fuzz/http_response_fuzzer.cpp).
#pragma once

#include "http/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <cstddef>
#include <cstdint>

namespace sds::detail {

/// The largest response head sds reads: a larger one is not a DynamoDB or
/// Azure answer.
constexpr std::uint32_t max_response_head_bytes = 64 * 1024;

/// How reading a response ended.
struct read_result {
    /// Empty when a whole final response was read; otherwise the stream's
    /// or Beast's parser's error, or operation_aborted when `may_read` said stop.
    boost::system::error_code ec;
    /// Some of the response had arrived (bytes read or buffered).
    bool started = false;
};

/// Reads the response to one request from `stream` into `res`. Interim 1xx
/// answers (100 Continue, 103 Early Hints) are read past; 101 would switch
/// protocols and fails with http::error::bad_status. A head over
/// max_response_head_bytes fails with header_limit, a body over `body_limit`
/// with body_limit. `may_read()` is asked before every read: false ends the
/// read with operation_aborted. Bytes that arrived after the response stay
/// in `buffer`. The reads are bound to no cancellation slot: a caller cuts
/// them short by closing the stream.
template <class Stream, class MayRead>
asio::awaitable<read_result> read_response(Stream& stream, beast::flat_buffer& buffer, http_response& res,
                                           std::size_t body_limit, MayRead may_read) {
    read_result out;
    for (;;) {
        http::response_parser<http::string_body> parser;
        parser.header_limit(max_response_head_bytes);
        parser.body_limit(body_limit);
        const std::size_t buffered_before = buffer.size();
        if (!may_read()) {
            out.ec = asio::error::operation_aborted;
            co_return out;
        }
        auto [ec, read] = co_await http::async_read(
            stream, buffer, parser,
            asio::bind_cancellation_slot(asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable)));
        out.started = out.started || read > 0 || buffer.size() > buffered_before || parser.got_some();
        if (ec) {
            out.ec = ec;
            co_return out;
        }
        res = parser.release();
        const unsigned status = res.result_int();
        if (status < 100 || status >= 200) co_return out;
        if (status == 101) {
            out.ec = http::error::bad_status;
            co_return out;
        }
    }
}

} // namespace sds::detail
