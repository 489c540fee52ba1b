#!/usr/bin/env bash
# Builds the unit and vector tests with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/ and runs them. Not part of the
# test command (it doubles the build time); run it before touching the
# transport, the engines or anything with coroutines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [[ ! -f build-asan/build.ninja ]]; then
    cmake -S . -B build-asan -G Ninja -DSDS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1"
fi
cmake --build build-asan --target sds_unit_tests sds_vector_tests
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
build-asan/tests/sds_unit_tests
build-asan/tests/sds_vector_tests
