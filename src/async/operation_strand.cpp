#include "async/operation_strand.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace sds::detail {

namespace asio = boost::asio;

asio::any_io_executor make_operation_strand(const asio::any_io_executor& io) {
    // A strand of the io_context's own executor, not of the type-erased one:
    // each handler then pays for one level of type erasure, not two.
    if (const auto* ctx = io.target<asio::io_context::executor_type>()) return asio::make_strand(*ctx);
    return asio::make_strand(io);
}

bool is_strand(const asio::any_io_executor& ex) noexcept {
    return ex.target<asio::strand<asio::io_context::executor_type>>() != nullptr ||
           ex.target<asio::strand<asio::any_io_executor>>() != nullptr;
}

} // namespace sds::detail
