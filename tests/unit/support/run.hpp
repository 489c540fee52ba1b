// Running a coroutine to completion in a test.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>

namespace sds::test {

/// Runs `make(io)`'s awaitable on a fresh io_context until it finishes;
/// returns its value or rethrows its exception.
template <class F>
auto run(F make) {
    boost::asio::io_context io;
    using awaitable_t = decltype(make(io));
    using value_t = typename awaitable_t::value_type;
    std::exception_ptr error;
    if constexpr (std::is_void_v<value_t>) {
        boost::asio::co_spawn(io, make(io), [&](std::exception_ptr e) { error = e; });
        io.run();
        if (error) std::rethrow_exception(error);
    } else {
        std::optional<value_t> out;
        boost::asio::co_spawn(io, make(io), [&](std::exception_ptr e, value_t v) {
            error = e;
            if (!e) out = std::move(v);
        });
        io.run();
        if (error) std::rethrow_exception(error);
        return std::move(*out);
    }
}

} // namespace sds::test
