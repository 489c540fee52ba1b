#!/usr/bin/env bash
# Runs tests under a sanitizer, each in a build directory of its own:
#
#   scripts/sanitize.sh [address]   AddressSanitizer + UndefinedBehaviorSanitizer
#                                   (build-asan/): the whole CTest suite, the
#                                   integration tests against the emulators
#                                   included (a Catch test spec given runs
#                                   only the unit tests matching it)
#   scripts/sanitize.sh thread      ThreadSanitizer (build-tsan/): the tests that
#                                   run io_contexts on several threads
#                                   ([stress], [transport] and [combiner])
#
# Both are stages of the test command (scripts/test.sh). Extra arguments go
# to the test binary (a Catch test spec).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-address}
shift || true
scripts/setup.sh
case $mode in
    address)
        dir=build-asan
        flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1"
        ;;
    thread)
        dir=build-tsan
        # ThreadSanitizer does not model std::atomic_thread_fence, which Asio
        # puts around handlers as an extra barrier (the scheduler's mutex
        # already orders them); without it TSan sees races that are not
        # there. BOOST_ASIO_DISABLE_FENCED_BLOCK is Asio's switch for that.
        flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -DBOOST_ASIO_DISABLE_FENCED_BLOCK -Wno-tsan"
        ;;
    *)
        echo "usage: scripts/sanitize.sh [address|thread] [catch test spec...]" >&2
        exit 2
        ;;
esac
if [[ ! -f $dir/build.ninja ]]; then
    cmake -S . -B "$dir" -G Ninja -DSDS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="$flags"
fi
if [[ $mode == address ]]; then
    cmake --build "$dir"
    export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
    if (($#)); then
        "$dir/tests/sds_unit_tests" "$@"
    else
        (cd "$dir" && ctest --output-on-failure --timeout 900)
    fi
else
    cmake --build "$dir" --target sds_unit_tests
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
    # ThreadSanitizer slows everything down several times: the stress tests
    # stretch their latencies and deadlines alike, to stay as close.
    export SDS_TEST_TIME_SCALE=${SDS_TEST_TIME_SCALE:-5}
    if (($#)); then
        "$dir/tests/sds_unit_tests" "$@"
    else
        "$dir/tests/sds_unit_tests" "[stress],[transport],[combiner]"
    fi
fi
