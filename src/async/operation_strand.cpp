#include "async/operation_strand.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/concurrency_hint.hpp>
#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/strand.hpp>

namespace sds::detail {

namespace asio = boost::asio;

asio::any_io_executor make_operation_strand(const asio::any_io_executor& io) {
    // A strand of the io_context's own executor, not of the type-erased one:
    // each handler then pays for one level of type erasure, not two.
    if (const auto* ctx = io.target<asio::io_context::executor_type>()) return asio::make_strand(*ctx);
    return asio::make_strand(io);
}

bool runs_serially(const asio::any_io_executor& ex) noexcept {
    if (ex.target<asio::strand<asio::io_context::executor_type>>() != nullptr ||
        ex.target<asio::strand<asio::any_io_executor>>() != nullptr)
        return true;
    // The concurrency hints that turn off the reactor's (or the scheduler's)
    // locking oblige the program to run the io_context, and use its I/O
    // objects, from one thread at a time: its handlers never run at once.
    // (Hint 1 only tunes Asio for one thread; several may still run it.)
    if (const auto* io = ex.target<asio::io_context::executor_type>()) {
        const int hint = asio::use_service<asio::detail::scheduler>(io->context()).concurrency_hint();
        return BOOST_ASIO_CONCURRENCY_HINT_IS_SPECIAL(hint) &&
               (!BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, hint) ||
                !BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, hint));
    }
    return false;
}

} // namespace sds::detail
