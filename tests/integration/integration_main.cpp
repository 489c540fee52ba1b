// Runner for the integration tests: points the process at the emulators that
// the CTest fixture `emulators` started (SDS_EMULATOR_ENV, baked in by CMake
// as "NAME=value|NAME=value"), then runs Catch.
#include "support/catch_run.hpp"

#include <cstdlib>
#include <string>

int main(int argc, char* argv[]) {
    const std::string env = SDS_EMULATOR_ENV;
    std::size_t start = 0;
    while (start < env.size()) {
        std::size_t end = env.find('|', start);
        if (end == std::string::npos) end = env.size();
        const std::string pair = env.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        if (eq != std::string::npos) ::setenv(pair.substr(0, eq).c_str(), pair.substr(eq + 1).c_str(), 1);
        start = end + 1;
    }
    return sds::test::run_catch(argc, argv);
}
