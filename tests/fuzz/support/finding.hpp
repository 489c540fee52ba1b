// How a fuzz target reports what it found: a message and abort(), which
// libFuzzer records as a crash with its input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

namespace sds::fuzz {

/// Reports a broken expectation and stops the run.
[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "FINDING: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

/// What an exception is, for a finding's message.
inline std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return std::string(typeid(ex).name()) + ": " + ex.what();
    } catch (...) {
        return "something that is not a std::exception";
    }
}

} // namespace sds::fuzz
