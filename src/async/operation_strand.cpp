#include "async/operation_strand.hpp"

#include <boost/asio/io_context.hpp>
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
    // An io_context made with concurrency hint 1 is run by one thread only
    // (Asio's contract for that hint), so its handlers never run at once.
    if (const auto* io = ex.target<asio::io_context::executor_type>()) {
        const int hint = asio::use_service<asio::detail::scheduler>(io->context()).concurrency_hint();
        return hint == 1;
    }
    return false;
}

} // namespace sds::detail
