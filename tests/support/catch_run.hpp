#pragma once

namespace sds::test {

/// Runs the Catch session with the command line (tests/support/catch_impl.cpp,
/// where Catch's implementation is compiled once for all test binaries).
int run_catch(int argc, char* argv[]);

} // namespace sds::test
