#!/usr/bin/env bash
# Fuzzes sds with libFuzzer: every target in tests/fuzz/ (one per input sds
# reads from outside: server responses through the connection's reader and
# both engines, error bodies, OData, connection strings, endpoints, table
# name patterns, both signers' inputs).
#
#   scripts/fuzz.sh [SECONDS]    runs each target SECONDS (default 5) from its
#                                committed seed corpus; part of the test
#                                command (a CTest entry)
#   scripts/fuzz.sh 600          the longer run, e.g. before a release or
#                                after touching a parser: 10 minutes a target
#   scripts/fuzz.sh --regress    runs every committed input once (the seeds
#                                and the inputs of every crash found so far)
#   SDS_FUZZ_TARGETS="sigv4 endpoint" scripts/fuzz.sh 60   only these targets
#
# Builds the targets in the AddressSanitizer stage's build directory
# (build-asan/, SDS_FUZZ_BUILD_DIR; scripts/sanitize.sh configures it): clang,
# libFuzzer's coverage, AddressSanitizer and UndefinedBehaviorSanitizer on the
# library and the targets alike. The committed corpus (tests/fuzz/corpus/<target>/) is only
# read: new inputs go to build-asan/corpus/<target>/, which later runs start
# from too. A crash, a sanitizer report, a leak, a timeout or a finding
# (a target's own check) fails the script and prints the reproducer's path;
# to keep it as a regression input, copy it into the target's corpus
# directory once the fix is in, and replay it with
#   build-asan/tests/fuzz/<target>_fuzzer <file>
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=run
seconds=5
case ${1:-} in
    --regress) mode=regress ;;
    "") ;;
    *[!0-9]*)
        echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET | --regress]" >&2
        exit 2
        ;;
    *) seconds=$1 ;;
esac

scripts/setup.sh

dir=${SDS_FUZZ_BUILD_DIR:-build-asan}
[[ -f $dir/build.ninja ]] || SDS_ASAN_BUILD_DIR=$dir scripts/sanitize.sh configure address
cmake --build "$dir" --target sds_fuzzers

targets=${SDS_FUZZ_TARGETS:-$(cd tests/fuzz/corpus && ls)}
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in $targets; do
    bin=$dir/tests/fuzz/${t}_fuzzer
    seeds=$root/tests/fuzz/corpus/$t
    [[ -x $bin && -d $seeds ]] || { echo "fuzz: no target or corpus named '$t'" >&2; exit 2; }
    log=$dir/logs/$t.log
    artifacts=$dir/artifacts/$t/
    mkdir -p "$(dirname "$log")" "$artifacts"
    common=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$artifacts" -print_final_stats=1
            -dict="$root/tests/fuzz/fuzz.dict")
    if [[ $mode == regress ]]; then
        # -runs=0: execute every input of the corpus once, mutate nothing.
        cmd=("$bin" "${common[@]}" -runs=0 "$seeds")
    else
        scratch=$dir/corpus/$t
        mkdir -p "$scratch"
        # New inputs are written to the first directory only.
        cmd=("$bin" "${common[@]}" -max_total_time="$seconds" -max_len=8192 "$scratch" "$seeds")
    fi
    start=$SECONDS
    if "${cmd[@]}" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz: $t ok ($((SECONDS - start)) s, ${execs:-?} runs)"
    else
        echo "fuzz: $t FAILED; log: $log" >&2
        grep -E "^(==[0-9]+==ERROR|FINDING|SUMMARY|.*runtime error)" "$log" | head -5 >&2 || true
        reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        [[ -n $reproducer ]] && echo "fuzz: reproducer: $reproducer (replay: $bin $reproducer)" >&2
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
