#!/usr/bin/env bash
# Self-test of the benchmark stub server (bench/stub/stub.sh).
#
#   selftest.sh BASE_PORT
#
# Starts the stub on 127.0.0.1:BASE_PORT..BASE_PORT+3 with two workers (so
# that writes race across processes), drives both engines with the sds CLI,
# the official JavaScript clients (selftest_sdks.mjs) and boto3
# (selftest_boto3.py), checks every answer, and stops the stub. Exits 0 when
# every check passed, 1 at the first that did not.
#
# Environment: SDS_CLI, the sds binary (default build/cli/sds of this
# repository). Needs node with the repository's node_modules (npm ci),
# python3-boto3, curl, and what stub.sh needs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
prog=selftest.sh

if (($# != 1)) || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $prog BASE_PORT" >&2
    exit 2
fi
base=$1
sds=${SDS_CLI:-$repo/build/cli/sds}
[[ -x $sds ]] || { echo "$prog: no sds binary at $sds (build it, or set SDS_CLI)" >&2; exit 2; }

ddb_port=$base azure_port=$((base + 1)) ddb_slow_port=$((base + 2)) azure_slow_port=$((base + 3))
# Azurite's published development account key (not a secret).
azurite_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
table=stubtest

state=$(mktemp -d "${TMPDIR:-/tmp}/sds-stub-selftest.XXXXXX")
cleanup() {
    "$here/stub.sh" stop "$state" || true
    rm -rf "$state"
}
trap cleanup EXIT
"$here/stub.sh" start "$state" "$base" 2

passed=0
pass() {
    echo "ok   $1"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL $1" >&2
    [[ -s $state/error.log ]] && grep -v '\[notice\]' "$state/error.log" | tail -n 5 >&2
    exit 1
}

# The sds CLI on one engine and port: run_sds ENGINE PORT ARGS...
run_sds() {
    local engine=$1 port=$2
    shift 2
    if [[ $engine == dynamodb ]]; then
        env -u AWS_ENDPOINT_URL -u AWS_SESSION_TOKEN -u AWS_PROFILE \
            AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y AWS_REGION=us-east-1 \
            AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port" \
            "$sds" --engine dynamodb --timeout 10000 "$@"
    else
        env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_SAS_TOKEN \
            AZURE_STORAGE_ACCOUNT=devstoreaccount1 AZURE_STORAGE_KEY="$azurite_key" \
            SDS_AZURE_TABLE_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1" \
            "$sds" --engine azure --timeout 10000 "$@"
    fi
}

# expect NAME WANT_STATUS WANT_OUTPUT COMMAND...: the command's exit status
# and standard output must be as given (WANT_OUTPUT "*": any output).
expect() {
    local name=$1 want_status=$2 want=$3
    shift 3
    local got status=0
    got=$("$@" 2>"$state/stderr") || status=$?
    if ((status != want_status)) || { [[ $want != "*" ]] && [[ $got != "$want" ]]; }; then
        fail "$name: exit $status (want $want_status), output '$got' (want '$want'); stderr: $(head -c 400 "$state/stderr")"
    fi
    pass "$name"
}

# A header of a response, from curl -D output: header_of FILE NAME
header_of() {
    grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | tr -d ' \r'
}

# ---------------------------------------------------------------------------
# The sds CLI, on each engine

tricky="it's 100% é+ (x)"
for engine in dynamodb azure; do
    if [[ $engine == dynamodb ]]; then port=$ddb_port slow=$ddb_slow_port; else port=$azure_port slow=$azure_slow_port; fi
    s() { run_sds "$engine" "$port" "$@"; }
    expect "$engine: create-table" 0 "" s create-table "$table"
    expect "$engine: create-table of an existing table" 0 "" s create-table "$table"
    expect "$engine: list-tables" 0 "$table" s list-tables
    expect "$engine: set" 0 "" s set "$table" sds-value "hello sds"
    expect "$engine: get" 0 "hello sds" s get "$table" sds-value
    expect "$engine: set with a key needing escapes" 0 "" s set "$table" "$tricky" "tricky"
    expect "$engine: get with a key needing escapes" 0 "tricky" s get "$table" "$tricky"
    expect "$engine: set binary" 0 "" s set "$table" bin-value "$(printf 'bytes\001\002')" --binary
    expect "$engine: get binary" 0 "$(printf 'bytes\001\002')" s get "$table" bin-value
    expect "$engine: get of a missing key" 1 "" s get "$table" no-such-key
    expect "$engine: incr" 0 "1" s incr "$table" sds-ctr
    expect "$engine: incr --amount 2" 0 "3" s incr "$table" sds-ctr --amount 2
    expect "$engine: count of an unsharded counter" 0 "3" s count "$table" sds-ctr
    for i in $(seq 1 12); do s incr "$table" hits --shards 10 >/dev/null || fail "$engine: sharded incr $i"; done
    expect "$engine: count of a counter with 10 shards" 0 "12" s count "$table" hits
    # Two workers, 16 clients at once on one counter: the per-key locks (and
    # on Azure the ETags) must keep every increment.
    seq 1 48 | xargs -P 16 -I{} bash -c "$(declare -f run_sds); sds='$sds' azurite_key='$azurite_key'; run_sds $engine $port incr $table racy >/dev/null" ||
        fail "$engine: concurrent incr"
    expect "$engine: 48 concurrent increments all counted" 0 "48" s count "$table" racy
    expect "$engine: delete-counter" 0 "" s delete-counter "$table" hits
    expect "$engine: count after delete-counter" 0 "0" s count "$table" hits
    expect "$engine: delete" 0 "" s delete "$table" "$tricky"
    expect "$engine: get after delete" 1 "" s get "$table" "$tricky"
    expect "$engine: delete of a missing key" 0 "" s delete "$table" "$tricky"
    expect "$engine: get on the latency port (same state)" 0 "hello sds" run_sds "$engine" "$slow" get "$table" sds-value
    expect "$engine: get on a missing table" 1 "" s get nosuchtable sds-value
done

# ---------------------------------------------------------------------------
# Protocol details, with curl

ddb_call() {  # ddb_call PORT TARGET BODY: headers to $state/h, body to $state/b
    curl -sS -o "$state/b" -D "$state/h" -X POST "http://127.0.0.1:$1/" \
        -H "Content-Type: application/x-amz-json-1.0" -H "X-Amz-Target: $2" -d "$3"
}

ddb_call "$ddb_port" DynamoDB_20120810.GetItem "{\"TableName\":\"$table\",\"Key\":{\"key\":{\"S\":\"sds-value\"}}}"
crc=$(header_of "$state/h" x-amz-crc32)
want_crc=$(python3 -c 'import sys, zlib; print(zlib.crc32(open(sys.argv[1], "rb").read()))' "$state/b")
[[ $crc == "$want_crc" ]] || fail "dynamodb: x-amz-crc32 $crc, CRC32 of the body $want_crc"
pass "dynamodb: x-amz-crc32 is the body's CRC32"
[[ -n $(header_of "$state/h" x-amzn-RequestId) ]] || fail "dynamodb: no x-amzn-RequestId"
pass "dynamodb: x-amzn-RequestId"

ddb_call "$ddb_port" DynamoDB_20120810.NoSuchOperation '{}'
if ! grep -q '^HTTP/1.1 400' "$state/h" ||
    ! grep -q '"__type":"com.amazon.coral.service#UnknownOperationException"' "$state/b"; then
    fail "dynamodb: an unknown target: $(head -n 1 "$state/h") $(cat "$state/b")"
fi
pass "dynamodb: an unknown target is 400 UnknownOperationException"

curl -sS -o "$state/b" -D "$state/h" -H "Accept: application/json;odata=minimalmetadata" \
    -H "x-ms-client-request-id: selftest-id" "http://127.0.0.1:$azure_port/devstoreaccount1/$table(PartitionKey='no-such-key',RowKey='')"
if ! grep -q '^HTTP/1.1 404' "$state/h" || [[ $(header_of "$state/h" x-ms-error-code) != ResourceNotFound ]] ||
    ! grep -q '{"odata.error":{"code":"ResourceNotFound"' "$state/b"; then
    fail "azure: a missing entity: $(cat "$state/h" "$state/b")"
fi
pass "azure: a missing entity is 404 ResourceNotFound"
[[ $(header_of "$state/h" x-ms-client-request-id) == selftest-id && -n $(header_of "$state/h" x-ms-request-id) &&
    $(header_of "$state/h" x-ms-version) == 2019-02-02 && -n $(header_of "$state/h" Date) ]] ||
    fail "azure: response headers: $(cat "$state/h")"
pass "azure: x-ms-request-id, x-ms-version, Date, echoed x-ms-client-request-id"

for port in "$ddb_slow_port" "$azure_slow_port"; do
    took=$(curl -sS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/devstoreaccount1/Tables")
    awk -v t="$took" 'BEGIN { exit !(t >= 0.002) }' || fail "port $port answered in ${took}s, under the 2 ms latency"
    pass "port $port adds latency (${took}s)"
done

# ---------------------------------------------------------------------------
# The official clients, on what sds wrote, and sds on what they wrote

(cd "$here" && NODE_NO_WARNINGS=1 node selftest_sdks.mjs "http://127.0.0.1:$ddb_port" "http://127.0.0.1:$azure_port/devstoreaccount1" "$table") ||
    fail "the JavaScript clients"
expect "dynamodb: sds counts the JS client's ADD" 0 "7" run_sds dynamodb "$ddb_port" count "$table" sds-ctr
expect "azure: sds counts a shard the JS client wrote" 0 "41" run_sds azure "$azure_port" count "$table" js-ctr
expect "azure: sds increments a shard the JS client wrote" 0 "42" run_sds azure "$azure_port" incr "$table" js-ctr

python3 "$here/selftest_boto3.py" "http://127.0.0.1:$ddb_port" "$table" || fail "boto3"
expect "dynamodb: sds counts boto3's ADDs" 0 "4" run_sds dynamodb "$ddb_port" count "$table" py-ctr

for engine in dynamodb azure; do
    if [[ $engine == dynamodb ]]; then port=$ddb_port; else port=$azure_port; fi
    expect "$engine: delete-table" 0 "" run_sds "$engine" "$port" delete-table "$table"
    expect "$engine: list-tables after delete-table" 0 "" run_sds "$engine" "$port" list-tables
    expect "$engine: get after delete-table" 1 "" run_sds "$engine" "$port" get "$table" sds-value
done

cpu=$("$here/stub.sh" cpu "$state")
echo "$prog: all $passed checks passed (the stub used ${cpu}s of CPU)"
