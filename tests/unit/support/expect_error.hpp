// Catching the sds::error a piece of test code must throw.
#pragma once

#include <catch2/catch.hpp>

#include <sds/error.hpp>

#include <stdexcept>

namespace sds::test {

/// Runs `f` and returns the sds::error it throws; fails the test if it throws
/// nothing (or something else, which Catch reports).
template <class F>
sds::error expect_error(F&& f) {
    try {
        f();
    } catch (const sds::error& e) {
        return e;
    }
    FAIL("expected sds::error");
    throw std::logic_error("unreachable");
}

} // namespace sds::test
