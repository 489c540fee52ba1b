#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
# CI runs exactly this (see .ci/run). Three stages, in order:
#
#   main   build-test/ (g++, -Og -g1): the integration tests against the
#          emulators with the runs through injected faults, vectors, the CLI,
#          the demo, the benchmark smoke run, the install test and the
#          multi-threaded unit tests; the other unit tests are left to the
#          asan stage (with "main" alone, it runs them too)
#   asan   build-asan/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer):
#          every unit test, then the whole CTest suite again (the fault runs
#          at a tenth of their size), and the short fuzz run
#          (scripts/sanitize.sh address, scripts/fuzz.sh)
#   tsan   build-tsan/ (clang, ThreadSanitizer): the tests that run
#          io_contexts on several threads (scripts/sanitize.sh thread)
#
# While one stage's tests run (mostly waiting on the emulators), the next
# stage builds in the background at the lowest CPU priority, so the tests
# keep the machine; its output goes to <build dir>.log and is shown if it
# fails.
#
# SDS_TEST_STAGES picks stages (default "main asan tsan"). Extra arguments go to the main stage's ctest
# (e.g. scripts/test.sh -R vectors; then only the main stage runs).
# SDS_TEST_BUILD_DIR moves build-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
if (($#)); then
    read -r -a stages <<<"${SDS_TEST_STAGES:-main}"
else
    read -r -a stages <<<"${SDS_TEST_STAGES:-main asan tsan}"
fi
main_dir=${SDS_TEST_BUILD_DIR:-build-test}
scripts/setup.sh

has_stage() {
    local s
    for s in "${stages[@]}"; do [[ $s == "$1" ]] && return 0; done
    return 1
}

build_stage() {
    case $1 in
        main)
            # Optimised for the debugger and for build time: tests run no
            # faster at -O2, and build in half the time. With the asan stage,
            # which runs every unit test, g++ builds only the multi-threaded
            # ones (sds_concurrency_tests) of them.
            local unit=ON
            has_stage asan && unit=OFF
            if [[ ! -f $main_dir/build.ninja ]]; then
                cmake -S . -B "$main_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" \
                    -DSDS_BUILD_UNIT_TESTS=$unit >/dev/null
            elif ! grep -q "^SDS_BUILD_UNIT_TESTS:BOOL=$unit\$" "$main_dir/CMakeCache.txt"; then
                cmake "$main_dir" -DSDS_BUILD_UNIT_TESTS=$unit >/dev/null
            fi
            cmake --build "$main_dir"
            ;;
        asan) scripts/sanitize.sh build address ;;
        tsan) scripts/sanitize.sh build thread ;;
        *) echo "scripts/test.sh: unknown stage '$1' (main, asan, tsan)" >&2; exit 2 ;;
    esac
}

log_of() {
    case $1 in
        main) echo "$main_dir.log" ;;
        asan) echo "${SDS_ASAN_BUILD_DIR:-build-asan}.log" ;;
        tsan) echo "${SDS_TSAN_BUILD_DIR:-build-tsan}.log" ;;
    esac
}

run_stage() {
    case $1 in
        main)
            (cd "$main_dir" && ctest --output-on-failure --timeout 600 "$@")
            ;;
        asan) scripts/sanitize.sh run address ;;
        tsan) scripts/sanitize.sh run thread ;;
    esac
}

background=
trap '[[ -n $background ]] && kill -- -"$background" 2>/dev/null || true' EXIT
set -m  # background builds in process groups of their own, so they can be stopped whole

started=$SECONDS
echo "=== build: ${stages[0]}" >&2
build_stage "${stages[0]}"
for i in "${!stages[@]}"; do
    stage=${stages[$i]}
    if [[ -n $background ]]; then
        echo "=== build: $stage (waiting for the background build)" >&2
        if ! wait "$background"; then
            background=
            echo "scripts/test.sh: building stage $stage failed; the end of $(log_of "$stage"):" >&2
            tail -n 60 "$(log_of "$stage")" >&2
            exit 1
        fi
        background=
    fi
    next=${stages[$((i + 1))]:-}
    if [[ -n $next ]]; then
        (build_stage "$next" </dev/null >"$(log_of "$next")" 2>&1) &
        background=$!
        renice -n 19 -g "$background" >/dev/null
    fi
    echo "=== test stage: $stage ($((SECONDS - started)) s so far)" >&2
    stage_started=$SECONDS
    if ((i == 0)); then run_stage "$stage" "$@"; else run_stage "$stage"; fi
    echo "=== test stage $stage passed in $((SECONDS - stage_started)) s" >&2
done
echo "=== all stages (${stages[*]}) passed in $((SECONDS - started)) s" >&2
