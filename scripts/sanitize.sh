#!/usr/bin/env bash
# Builds and runs the tests under a sanitizer, with clang, each in a build
# directory of its own. Both are stages of the test command (scripts/test.sh).
#
#   scripts/sanitize.sh [address]   AddressSanitizer + UndefinedBehaviorSanitizer
#                                   (build-asan/): every unit test (one
#                                   process), the whole CTest suite
#                                   (integration against the emulators, the
#                                   runs through injected faults at a tenth of
#                                   their size, vectors, the CLI, the demo)
#                                   and the short fuzz run: the
#                                   libFuzzer targets are built in the same
#                                   directory, with the same instrumentation
#   scripts/sanitize.sh thread      ThreadSanitizer (build-tsan/): the tests that
#                                   run io_contexts on several threads
#                                   (sds_concurrency_tests: [stress],
#                                   [transport], [combiner], [bounded])
#
#   scripts/sanitize.sh configure MODE   only configures the build directory
#   scripts/sanitize.sh build MODE       only configures and builds
#   scripts/sanitize.sh run MODE         only runs (what `build` built)
#
# Extra arguments after the mode go to the test binary instead of CTest (a
# Catch test spec: in address mode, unit tests only). SDS_ASAN_BUILD_DIR and
# SDS_TSAN_BUILD_DIR move the build directories.
set -euo pipefail
cd "$(dirname "$0")/.."

step=all
case ${1:-} in configure|build|run) step=$1; shift ;; esac
mode=${1:-address}
shift || true

# Line tables only (-g1): enough for the sanitizers' stack traces, and much
# cheaper to build than full debug information.
case $mode in
    address)
        dir=${SDS_ASAN_BUILD_DIR:-build-asan}
        # -O0: the suite runs at the speed of the emulators anyway, and the
        # build is half as long as at -O1.
        # fuzzer-no-link: libFuzzer's coverage on everything, so the fuzzers
        # (tests/fuzz/, SDS_BUILD_FUZZERS) link against this same build; the
        # sanitizer runtime makes its hooks no-ops in the test binaries.
        # -fno-sanitize=function: clang 14 cannot compile it in coroutines
        # ("Cannot represent a difference across sections", LLVM issue 49689,
        # fixed in 15); every other UBSan check is on.
        # _GLIBCXX_ASSERTIONS bounds-checks the standard containers, which
        # ASan cannot see inside an object.
        flags="-fsanitize=address,undefined -fno-sanitize=function -fno-sanitize-recover=undefined"
        flags+=" -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS"
        optimise="-O0 -g1"
        extra=(-DSDS_BUILD_FUZZERS=ON)
        ;;
    thread)
        dir=${SDS_TSAN_BUILD_DIR:-build-tsan}
        # ThreadSanitizer does not model std::atomic_thread_fence, which Asio
        # puts around handlers as an extra barrier (the scheduler's mutex
        # already orders them); without it TSan sees races that are not
        # there. BOOST_ASIO_DISABLE_FENCED_BLOCK is Asio's switch for that.
        flags="-fsanitize=thread -fno-omit-frame-pointer -DBOOST_ASIO_DISABLE_FENCED_BLOCK"
        optimise="-O1 -g1"
        extra=()
        ;;
    *)
        echo "usage: scripts/sanitize.sh [configure|build|run] [address|thread] [catch test spec...]" >&2
        exit 2
        ;;
esac

if [[ $step != run ]]; then
    scripts/setup.sh
    if [[ ! -f $dir/build.ninja ]]; then
        # Debug (assertions on), optimised as above.
        CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="$optimise" \
            -DSDS_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$flags" "${extra[@]}" >/dev/null
    fi
    [[ $step == configure ]] && exit 0
    if [[ $mode == address ]]; then
        cmake --build "$dir"
        cmake --build "$dir" --target sds_fuzzers
    else
        cmake --build "$dir" --target sds_concurrency_tests
    fi
fi
[[ $step == build ]] && exit 0

if [[ $mode == address ]]; then
    export ASAN_OPTIONS=detect_leaks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # An -O0 build under ASan runs several times slower: the stress tests
    # stretch their latencies and deadlines alike, to stay as close.
    export SDS_TEST_TIME_SCALE=${SDS_TEST_TIME_SCALE:-5}
    if (($#)); then
        "$dir/tests/sds_unit_tests" "$@"
    else
        # The unit tests in one process: a process of their own each, as
        # CTest runs them, costs more in sanitizer start-up than the tests.
        "$dir/tests/sds_unit_tests"
        # The install test builds a consumer project against the installed
        # library, which would need these sanitizer flags too: the main
        # stage runs it.
        # The fault runs at a tenth of their size (SDS_FAULT_SCALE): the main
        # stage runs them whole, and their time goes to the emulators. The
        # Node test servers' self-tests run no sds code: the main stage runs
        # them. So does the credentials test that sleeps across an expiry
        # (about 20 s, mostly sleeping); the unit tests here drive the same
        # refresh code.
        (cd "$dir" && SDS_FAULT_SCALE=${SDS_FAULT_SCALE:-10} ctest --output-on-failure --timeout 900 \
            -E "^(install|unit):|self-test\$|across an expiry")
    fi
else
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
    # ThreadSanitizer slows everything down several times: the stress tests
    # stretch their latencies and deadlines alike, to stay as close.
    export SDS_TEST_TIME_SCALE=${SDS_TEST_TIME_SCALE:-5}
    "$dir/tests/sds_concurrency_tests" "$@"
fi
