// Catch's implementation, compiled once for every test binary (each has a
// main of its own that runs Catch::Session).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
