#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
# CI runs exactly this (see .ci/run). Stages, in order:
#
#   main      build/ (RelWithDebInfo): every test through CTest, the
#             emulators, the fault-injection runs, the CLI, the demo, the
#             benchmark smoke run, the install test and the short fuzz run
#             (scripts/fuzz.sh, a CTest entry) included
#   asan      build-asan/: the same CTest suite built with AddressSanitizer
#             and UndefinedBehaviorSanitizer (scripts/sanitize.sh address)
#   tsan      build-tsan/: the multi-threaded tests under ThreadSanitizer
#             (scripts/sanitize.sh thread)
# SDS_TEST_STAGES picks stages (default "main"; "main asan tsan" runs them
# all). Extra arguments go to the main stage's ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=${SDS_TEST_STAGES:-main}
scripts/setup.sh
for stage in $stages; do
    started=$SECONDS
    echo "=== test stage: $stage" >&2
    case $stage in
        main)
            scripts/build.sh
            (cd "${SDS_BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@")
            ;;
        asan) scripts/sanitize.sh address ;;
        tsan) scripts/sanitize.sh thread ;;
        *) echo "scripts/test.sh: unknown stage '$stage'" >&2; exit 2 ;;
    esac
    echo "=== test stage $stage passed in $((SECONDS - started)) s" >&2
done
