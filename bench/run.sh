#!/usr/bin/env bash
# The benchmark command: sds beside the official clients and the raw HTTP
# ceiling, on the same servers, in one run (README, "Benchmarks").
#
#   bench/run.sh [--quick | --full] [--out DIR]
#
#   --quick  (default) every sds workload at concurrency 1, 16, 64 and 256,
#            the peers on the main workloads, short runs; under 3 minutes
#   --full   longer runs, every workload for the peers too; about 12 minutes
#   --out    where the report goes (default build/bench-report)
#
# It installs what it needs (Debian packages, npm ci), builds sds (the build
# type of scripts/build.sh, RelWithDebInfo: -O2 with NDEBUG, the one the README
# recommends for production), starts an nginx stub server (bench/stub) and the
# emulators on 127.0.0.1, runs every measurement as a process of its own, and
# writes DIR/report.md (tables and ratios), DIR/results.json (every figure)
# and DIR/throughput.png (gnuplot). Progress goes to the terminal.
#
# Environment: SDS_BUILD_DIR (default build), SDS_BENCH_PORT (first of the
# stub's four ports, default 28500), SDS_BENCH_EMULATOR_PORT (first of the
# emulators' four, default 28510).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

mode=quick
out=build/bench-report
while (($#)); do
    case $1 in
        --quick) mode=quick ;;
        --full) mode=full ;;
        --out) out=$2; shift ;;
        *) echo "usage: bench/run.sh [--quick | --full] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "bench: $*" >&2; }

# --- What it needs -----------------------------------------------------------
scripts/setup.sh
bench_packages=(nginx-light libnginx-mod-http-echo libnginx-mod-http-lua lua-cjson wrk gnuplot-nox python3-boto3)
missing=()
for p in "${bench_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
scripts/build.sh
build_dir=${SDS_BUILD_DIR:-build}
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
sds_bench=$build_dir/bench/sds_bench

# --- Servers -----------------------------------------------------------------
mkdir -p "$out"
out=$(cd "$out" && pwd)
state=$out/state
rm -rf "$state"
mkdir -p "$state"
stub_port=${SDS_BENCH_PORT:-28500}
emu_port=${SDS_BENCH_EMULATOR_PORT:-28510}

emu_env=(SDS_EMULATOR_DIR="$state/emulators" SDS_DYNALITE_PORT=$emu_port SDS_GATEWAY_PORT=$((emu_port + 1))
         SDS_AZURITE_TABLE_PORT=$((emu_port + 2)) SDS_AZURITE_TLS_PORT=$((emu_port + 3)))
cleanup() {
    bench/stub/stub.sh stop "$state/stub" >/dev/null 2>&1 || true
    env "${emu_env[@]}" scripts/emulators.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "starting the nginx stub on 127.0.0.1:$stub_port-$((stub_port + 3))"
bench/stub/stub.sh start "$state/stub" "$stub_port" 1
say "starting the emulators on 127.0.0.1:$emu_port-$((emu_port + 3))"
emu_exports=$(env "${emu_env[@]}" scripts/emulators.sh start)

dynamodb_stub=http://127.0.0.1:$stub_port
azure_stub=http://127.0.0.1:$((stub_port + 1))/devstoreaccount1
dynamodb_slow=http://127.0.0.1:$((stub_port + 2))
azure_slow=http://127.0.0.1:$((stub_port + 3))/devstoreaccount1
# The gateway checks every signature with AWS's own signer.
dynamodb_emu=http://127.0.0.1:$((emu_port + 1))
azure_emu=http://127.0.0.1:$((emu_port + 2))/devstoreaccount1
azurite_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# Credentials per server: the stub takes any; the gateway only its own.
stub_creds=(AWS_ACCESS_KEY_ID=AKIDSDSBENCH AWS_SECRET_ACCESS_KEY=sds-bench-secret AWS_REGION=us-east-1
            AZURE_STORAGE_ACCOUNT=devstoreaccount1 AZURE_STORAGE_KEY=$azurite_key)
emu_creds=(AWS_ACCESS_KEY_ID=$(sed -n 's/^export AWS_ACCESS_KEY_ID=//p' <<<"$emu_exports" | tr -d "'\"")
           AWS_SECRET_ACCESS_KEY=$(sed -n 's/^export AWS_SECRET_ACCESS_KEY=//p' <<<"$emu_exports" | tr -d "'\"")
           AWS_REGION=us-east-1 AZURE_STORAGE_ACCOUNT=devstoreaccount1 AZURE_STORAGE_KEY=$azurite_key)
# Nothing else from the caller's environment may redirect a client.
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB AZURE_STORAGE_CONNECTION_STRING SDS_AZURE_TABLE_ENDPOINT \
      AZURE_STORAGE_SAS_TOKEN AWS_PROFILE AWS_SESSION_TOKEN

results=$out/results.jsonl
: >"$results"

# --- Measuring ---------------------------------------------------------------
# Node's JIT needs seconds of warm-up before the JavaScript clients run at
# their best (with 0.3 s they spend twice the CPU per operation): every
# peer gets 3 s, in quick mode too, so the ratios are against them at their best.
if [[ $mode == quick ]]; then
    duration=0.4 warmup=0.2 peer_duration=1.5 peer_warmup=3 wrk_duration=2
    count_concurrencies=(1)
    js_workloads=(set incr)
    js_get_concurrencies=(1 64)
    boto_workloads=(get set incr)
    emulator_workloads=(get)
else
    duration=3 warmup=1 peer_duration=4 peer_warmup=3 wrk_duration=5
    count_concurrencies=(1 16)
    js_workloads=(set incr incr_hot incr_sharded get_count_1 get_count_10 get_count_100 get_count_1000)
    js_get_concurrencies=(1 16 64 256)
    boto_workloads=(get set incr incr_hot incr_sharded get_count_100)
    emulator_workloads=(get incr)
fi
concurrencies=(1 16 64 256)
sds_workloads=(get set incr incr_hot incr_hot_nocombine incr_sharded)
count_sizes=(1 10 100 1000)

stub_cpu() { bench/stub/stub.sh cpu "$state/stub"; }

# measure SERVER_LABEL CREDS_VAR -- COMMAND...: runs one measurement and
# appends its JSON line, with the server and the stub's CPU use while it ran.
measure() {
    local server=$1 creds_var=$2
    shift 3
    local -n creds=$creds_var
    local before after start end line
    before=$(stub_cpu)
    start=$(date +%s.%N)
    if ! line=$(env "${creds[@]}" "$@" 2>"$state/last.err"); then
        say "FAILED: $*"
        cat "$state/last.err" >&2
        return 1
    fi
    end=$(date +%s.%N)
    after=$(stub_cpu)
    line=$(tail -n 1 <<<"$line")
    if [[ $line != "{"*"}" ]]; then
        say "no result from: $*"
        cat "$state/last.err" >&2
        return 1
    fi
    local server_cpu="null"
    [[ $server == stub* ]] && server_cpu=$(awk -v a="$before" -v b="$after" -v s="$start" -v e="$end" \
        'BEGIN { printf "%.1f", 100 * (b - a) / (e - s) }')
    echo "${line%\}},\"server\":\"$server\",\"server_cpu_pct\":$server_cpu}" >>"$results"
    # One progress line per measurement (the clients print their own meanwhile).
    awk -v l="${line}" -v s="$server" 'BEGIN {
        match(l, /"client":"[^"]*"/); c = substr(l, RSTART + 10, RLENGTH - 11)
        match(l, /"workload":"[^"]*"/); w = substr(l, RSTART + 12, RLENGTH - 13)
        match(l, /"concurrency":[0-9]+/); n = substr(l, RSTART + 14, RLENGTH - 14)
        match(l, /"ops_per_sec":[0-9.]+/); o = substr(l, RSTART + 14, RLENGTH - 14)
        printf "bench: %-18s %-9s %-20s c=%-4s %10.0f ops/s\n", c, s, w, n, o }' >&2
}

sds_run() {  # ENGINE SERVER_LABEL URL CREDS WORKLOAD CONCURRENCY
    measure "$2" "$4" -- "$sds_bench" --engine "$1" --endpoint "$3" --workload "$5" --concurrency "$6" \
        --duration "$duration" --warmup "$warmup"
}
js_run() {  # ENGINE SERVER_LABEL URL CREDS WORKLOAD CONCURRENCY
    local script=bench/peers/dynamodb_js.mjs
    [[ $1 == azure ]] && script=bench/peers/azure_js.mjs
    measure "$2" "$4" -- node "$script" --engine "$1" --endpoint "$3" --table bench --workload "$5" \
        --concurrency "$6" --duration "$peer_duration" --warmup "$peer_warmup"
}
boto3_run() {  # SERVER_LABEL URL CREDS WORKLOAD
    measure "$1" "$3" -- /usr/bin/python3 bench/peers/dynamodb_boto3.py --engine dynamodb --endpoint "$2" \
        --table bench --workload "$4" --concurrency 1 --duration "$peer_duration" --warmup "$peer_warmup"
}

say "setting up the tables"
for engine in dynamodb azure; do
    url_var=${engine}_stub
    env "${stub_creds[@]}" "$sds_bench" --engine $engine --endpoint "${!url_var}" --setup
    url_var=${engine}_emu
    # The emulators serve the value and increment workloads only.
    env "${emu_creds[@]}" "$sds_bench" --engine $engine --endpoint "${!url_var}" --setup --max-count 0
done

say "signing: sds against @smithy/signature-v4"
node bench/report_signing.mjs "$build_dir" "$([[ $mode == quick ]] && echo 0.5 || echo 2)" --json >>"$results"

for engine in dynamodb azure; do
    url_var=${engine}_stub
    url=${!url_var}
    slow_var=${engine}_slow
    slow=${!slow_var}
    emu_var=${engine}_emu
    emu=${!emu_var}

    say "$engine: sds on the stub"
    for w in "${sds_workloads[@]}"; do
        for c in "${concurrencies[@]}"; do sds_run $engine stub "$url" stub_creds "$w" "$c"; done
    done
    for n in "${count_sizes[@]}"; do
        for c in "${count_concurrencies[@]}"; do sds_run $engine stub "$url" stub_creds "get_count_$n" "$c"; done
    done
    say "$engine: with 2 ms injected latency"
    sds_run $engine stub-2ms "$slow" stub_creds get 1
    sds_run $engine stub-2ms "$slow" stub_creds get_count_100 1

    say "$engine: the official JavaScript client on the stub"
    for c in "${js_get_concurrencies[@]}"; do js_run $engine stub "$url" stub_creds get "$c"; done
    for w in "${js_workloads[@]}"; do js_run $engine stub "$url" stub_creds "$w" 64; done
    js_run $engine stub-2ms "$slow" stub_creds get 1
    [[ $mode == full ]] && js_run $engine stub-2ms "$slow" stub_creds get_count_100 1

    if [[ $engine == dynamodb ]]; then
        say "dynamodb: boto3 (one thread) on the stub"
        for w in "${boto_workloads[@]}"; do boto3_run stub "$url" stub_creds "$w"; done
        say "dynamodb: wrk, the raw HTTP ceiling of the stub"
        measure stub stub_creds -- wrk -t1 -c64 -d"${wrk_duration}s" -s bench/peers/wrk_getitem.lua "$url/"
    else
        say "azure: wrk, the raw HTTP ceiling of the stub"
        measure stub stub_creds -- wrk -t1 -c64 -d"${wrk_duration}s" -s bench/peers/wrk_getentity.lua "$azure_stub"
    fi

    say "$engine: end to end on the emulator"
    for w in "${emulator_workloads[@]}"; do
        sds_run $engine emulator "$emu" emu_creds "$w" 16
        js_run $engine emulator "$emu" emu_creds "$w" 16
    done
done

say "writing the report"
node bench/report.mjs "$results" "$out" --mode "$mode" --build-type "$build_type"
say "done: $out/report.md, $out/results.json, $out/throughput.png"
