// One of several processes incrementing one counter at once, for the
// integration tests: `sds_incr_worker ENGINE TABLE COUNTER N` starts N
// concurrent increments of COUNTER (ENGINE is dynamodb or azure, configured
// from the environment as the tests are) and prints how they ended:
// "<acknowledged> <ambiguous> <failed>". Exit 0 unless it could not run.
#include "targets.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string>

namespace asio = boost::asio;

int main(int argc, char* argv[]) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: sds_incr_worker dynamodb|azure TABLE COUNTER N\n");
        return 2;
    }
    const std::string engine = argv[1], table = argv[2], counter = argv[3];
    const int n = std::stoi(argv[4]);
    asio::io_context io;
    sds::datastore db = engine == "azure" ? sds::test::azure_target::make(io.get_executor())
                                          : sds::test::dynamodb_target::make(io.get_executor());
    int acknowledged = 0, ambiguous = 0, failed = 0;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(io, db.incr(table, counter), [&](std::exception_ptr e, std::int64_t) {
            if (!e) {
                ++acknowledged;
                return;
            }
            try {
                std::rethrow_exception(e);
            } catch (const sds::error& x) {
                (x.condition() == sds::errc::ambiguous ? ambiguous : failed)++;
                std::fprintf(stderr, "sds_incr_worker: %s\n", x.what());
            }
        });
    io.run();
    std::printf("%d %d %d\n", acknowledged, ambiguous, failed);
    return 0;
}
