// Catch's implementation, compiled once for every test binary; each has a
// main of its own that ends in run_catch.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "support/catch_run.hpp"

namespace sds::test {

int run_catch(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }

} // namespace sds::test
