// Which callers' executors let a datastore operation run without a strand of
// its own: those whose handlers never run at once.
#include <catch2/catch.hpp>

#include "async/operation_strand.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

namespace asio = boost::asio;
using sds::detail::runs_serially;

TEST_CASE("an io_context whose hint allows one thread at a time and any strand run operations serially, other "
          "executors do not",
          "[strand]") {
    asio::io_context unsafe_io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    asio::io_context unsafe(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
    asio::io_context one(1);  // tuned for one thread, but several may run it
    asio::io_context many;    // the default hint: any number of threads
    asio::io_context safe(BOOST_ASIO_CONCURRENCY_HINT_SAFE);
    asio::thread_pool pool(1);
    CHECK(runs_serially(unsafe_io.get_executor()));
    CHECK(runs_serially(unsafe.get_executor()));
    CHECK_FALSE(runs_serially(one.get_executor()));
    CHECK_FALSE(runs_serially(many.get_executor()));
    CHECK_FALSE(runs_serially(safe.get_executor()));
    CHECK(runs_serially(asio::make_strand(many)));
    CHECK(runs_serially(asio::make_strand(asio::any_io_executor(one.get_executor()))));
    CHECK_FALSE(runs_serially(pool.get_executor()));
    pool.join();
}
