// Which callers' executors let a datastore operation run without a strand of
// its own: those whose handlers never run at once.
#include <catch2/catch.hpp>

#include "async/operation_strand.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

namespace asio = boost::asio;
using sds::detail::runs_serially;

TEST_CASE("an io_context with concurrency hint 1 and any strand run operations serially, other executors do not",
          "[strand]") {
    asio::io_context one(1);
    asio::io_context many;  // the default hint: any number of threads
    asio::io_context two(2);
    asio::thread_pool pool(1);
    CHECK(runs_serially(one.get_executor()));
    CHECK_FALSE(runs_serially(many.get_executor()));
    CHECK_FALSE(runs_serially(two.get_executor()));
    CHECK(runs_serially(asio::make_strand(many)));
    CHECK(runs_serially(asio::make_strand(asio::any_io_executor(two.get_executor()))));
    CHECK_FALSE(runs_serially(pool.get_executor()));
    pool.join();
}
