#!/usr/bin/env bash
# Integration test of the `sds` command-line tool: every command, its output
# byte for byte and its exit status, against the DynamoDB emulator behind the
# signature-verifying gateway.
#
#   cli_test.sh PATH/TO/sds
#
# Expects the environment scripts/emulators.sh prints (AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB). Tables are
# named after the process id, so runs can share an emulator; they are deleted
# on the way out. Prints "N passed, M failed"; exits 1 if anything failed.
set -uo pipefail

if (($# != 1)) || [[ ! -x $1 ]]; then
    echo "usage: $0 PATH/TO/sds" >&2
    exit 2
fi
sds=$1
if [[ -z ${AWS_ENDPOINT_URL_DYNAMODB:-} ]]; then
    echo "$0: AWS_ENDPOINT_URL_DYNAMODB is not set; this test runs against the emulator (scripts/emulators.sh)" >&2
    exit 1
fi
unset SDS_ENGINE

table=sds_cli_test_$$
on_demand_table=${table}_on_demand
azure_table=sdsclitest$$
tmp=$(mktemp -d)

clean_up() {
    "$sds" delete-table "$table" >/dev/null 2>&1
    "$sds" delete-table "$on_demand_table" >/dev/null 2>&1
    "$sds" --engine azure delete-table "$azure_table" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap clean_up EXIT

passed=0
failed=0

# sds ARGS...: runs the tool; its output goes to $tmp/out and $tmp/err, its
# exit status to $status. Standard input is empty unless redirected.
sds() {
    status=0
    timeout 120 "$sds" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}

pass() {
    passed=$((passed + 1))
    echo "ok   $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $1: $2"
    echo "     stdout: $(head -c 400 "$tmp/out" | cat -v)"
    echo "     stderr: $(head -c 400 "$tmp/err" | cat -v)"
}

# expect DESCRIPTION STATUS [STDOUT]: the last run exited with STATUS and, when
# STDOUT is given, printed exactly that.
expect() {
    local what=$1 want_status=$2
    if [[ $status != "$want_status" ]]; then
        fail "$what" "exit status $status, expected $want_status"
    elif (($# >= 3)) && ! cmp -s <(printf '%s' "$3") "$tmp/out"; then
        fail "$what" "expected stdout $(printf '%s' "$3" | cat -v)"
    else
        pass "$what"
    fi
}

# expect_file DESCRIPTION STATUS FILE: as expect, with the exact stdout in FILE
# (for bytes a shell string cannot hold).
expect_file() {
    local what=$1 want_status=$2
    if [[ $status != "$want_status" ]]; then
        fail "$what" "exit status $status, expected $want_status"
    elif ! cmp -s "$3" "$tmp/out"; then
        fail "$what" "expected stdout $(cat -v "$3")"
    else
        pass "$what"
    fi
}

# expect_stderr DESCRIPTION PATTERN: the last run's standard error matches the
# extended regular expression PATTERN.
expect_stderr() {
    if grep -Eq -- "$2" "$tmp/err"; then
        pass "$1"
    else
        fail "$1" "stderr does not match /$2/"
    fi
}

# expect_line DESCRIPTION LINE: the last run printed LINE as one of its lines.
expect_line() {
    if [[ $status == 0 ]] && grep -qxF -- "$2" "$tmp/out"; then
        pass "$1"
    else
        fail "$1" "exit status $status, or no line '$2' in stdout"
    fi
}

echo "# tables"
sds create-table "$table" --read 5 --write 5
expect "create-table prints nothing" 0 ""
sds create-table "$table"
expect "create-table of a table that exists succeeds" 0 ""
sds create-table "$on_demand_table" --on-demand
expect "create-table --on-demand" 0 ""
sds list-tables
expect_line "list-tables lists the table" "$table"
expect_line "list-tables lists the on-demand table" "$on_demand_table"
sds delete-table "$on_demand_table"
expect "delete-table" 0 ""
sds delete-table "$on_demand_table"
expect "delete-table of a missing table exits 1" 1 ""
expect_stderr "  and says table_not_found" "^sds: table_not_found: "

echo "# values"
sds set "$table" greeting hello
expect "set prints nothing" 0 ""
sds get "$table" greeting
expect "get prints the value and a newline" 0 $'hello\n'
unicode="grüße, 世界 ✓ — a value with spaces"
sds set "$table" "a key with spaces" "$unicode"
expect "set a UTF-8 value with spaces" 0 ""
sds get "$table" "a key with spaces"
expect "get returns it unchanged" 0 "$unicode"$'\n'
printf 'line one\nline two\n' >"$tmp/lines"
sds set "$table" lines - <"$tmp/lines"
expect "set VALUE - reads standard input" 0 ""
sds get "$table" lines
expect "get returns all of standard input, trailing newline included" 0 $'line one\nline two\n\n'
printf '\x00\xff\x10\x80binary' >"$tmp/blob"
sds set "$table" blob - --binary <"$tmp/blob"
expect "set --binary from standard input" 0 ""
sds get "$table" blob
expect_file "get prints binary values as raw bytes, no newline" 0 "$tmp/blob"
printf '\xff\xfe' >"$tmp/not-utf8"
sds set "$table" not-utf8 - <"$tmp/not-utf8"
expect "set of text that is not UTF-8 exits 2" 2 ""
expect_stderr "  and says invalid_argument" "^sds: invalid_argument: "
sds set "$table" dashes -- --not-a-flag
expect "-- ends the options" 0 ""
sds get "$table" dashes
expect "  so a value may start with --" 0 $'--not-a-flag\n'
sds get "$table" "no such key"
expect "get of a missing key exits 1 and prints nothing" 1 ""
sds delete "$table" greeting
expect "delete" 0 ""
sds get "$table" greeting
expect "get after delete exits 1" 1 ""
sds delete "$table" greeting
expect "delete of a missing key succeeds" 0 ""
sds get "${table}_missing" greeting
expect "get from a missing table exits 1" 1 ""

echo "# counters"
sds incr "$table" hits
expect "incr prints 1" 0 $'1\n'
sds incr "$table" hits --amount 2
expect "incr --amount 2 prints 3" 0 $'3\n'
sds incr "$table" hits --shards 10
expect "incr --shards 10" 0
sds count "$table" hits
expect "count after 1 + 2 + 1 prints 4" 0 $'4\n'
sds delete-counter "$table" hits
expect "delete-counter" 0 ""
sds count "$table" hits
expect "count after delete-counter prints 0" 0 $'0\n'
sds incr "$table" down --amount -5
expect "incr --amount -5 prints -5" 0 $'-5\n'
sds count "$table" "never incremented"
expect "count of a missing counter prints 0" 0 $'0\n'

echo "# options"
sds --timeout 60000 get "$table" dashes
expect "--timeout MS" 0 $'--not-a-flag\n'
sds --help
expect "--help exits 0" 0
if grep -q "^usage: sds" "$tmp/out" && [[ ! -s $tmp/err ]]; then
    pass "--help prints the usage on stdout"
else
    fail "--help prints the usage on stdout" "no usage on stdout, or something on stderr"
fi
status=0
env -u AWS_ENDPOINT_URL_DYNAMODB -u AWS_ENDPOINT_URL timeout 120 \
    "$sds" --endpoint "$AWS_ENDPOINT_URL_DYNAMODB" get "$table" dashes >"$tmp/out" 2>"$tmp/err" || status=$?
expect "--endpoint names the endpoint" 0 $'--not-a-flag\n'
sds --endpoint http://127.0.0.1:1 --timeout 10000 get "$table" greeting
expect "an endpoint nobody listens on exits 3" 3 ""
expect_stderr "  and says network_error" "^sds: network_error: "

echo "# usage errors"
sds get "$table" greeting --bogus
expect "an unknown flag exits 2" 2 ""
expect_stderr "  and names it" "unknown option '--bogus'"
expect_stderr "  and prints the usage" "^usage: sds "
sds
expect "no command exits 2" 2 ""
sds frobnicate
expect "an unknown command exits 2" 2 ""
sds get "$table"
expect "a missing argument exits 2" 2 ""
sds get "$table" a b
expect "an extra argument exits 2" 2 ""
sds get "$table" greeting --binary
expect "a flag of another command exits 2" 2 ""
sds incr "$table" hits --amount 12abc
expect "--amount 12abc exits 2" 2 ""
sds incr "$table" hits --shards 99999999999
expect "--shards out of range exits 2" 2 ""
sds incr "$table" hits --amount 99999999999999999999
expect "--amount out of range exits 2" 2 ""
sds --timeout 0 get "$table" greeting
expect "--timeout 0 exits 2" 2 ""
sds create-table "$table" --on-demand --read 5
expect "--on-demand with --read exits 2" 2 ""
sds incr "$table" hits --amount
expect "a flag without its value exits 2" 2 ""
sds count "$table" hits
expect "  and nothing was incremented" 0 $'0\n'
sds create-table a
expect "an invalid table name exits 2" 2 ""
expect_stderr "  and says invalid_argument" "^sds: invalid_argument: "
sds get "$table" ""
expect "an empty key exits 2" 2 ""

echo "# the azure engine (Azurite, configured as the Azure CLI is)"
sds --engine azure create-table "$azure_table"
expect "--engine azure create-table" 0 ""
sds --engine azure set "$azure_table" "it's 100%" "grüße"
expect "--engine azure set under a key with a quote and a percent sign" 0 ""
sds --engine azure get "$azure_table" "it's 100%"
expect "--engine azure get" 0 $'grüße\n'
SDS_ENGINE=azure sds incr "$azure_table" hits --amount 5
expect "SDS_ENGINE=azure incr" 0 $'5\n'
SDS_ENGINE=azure sds incr "$azure_table" hits --shards 4
expect "SDS_ENGINE=azure incr --shards 4" 0
SDS_ENGINE=azure sds count "$azure_table" hits
expect "SDS_ENGINE=azure count" 0 $'6\n'
sds --engine azure get "$azure_table" missing
expect "--engine azure get of nothing exits 1" 1 ""
sds --engine azure create-table bad_name
expect "an Azure table name with '_' exits 2" 2 ""
expect_stderr "  and says invalid_argument" "^sds: invalid_argument: "
sds --engine azure update-throughput "$azure_table" 5 5
expect "an unknown command exits 2" 2 ""
AZURE_STORAGE_KEY=d3JvbmdrZXl3cm9uZ2tleXdyb25na2V5d3Jvbmc= sds --engine azure get "$azure_table" hits_x
expect "a wrong Azure key exits 3" 3 ""
expect_stderr "  and says auth_failed" "^sds: auth_failed: "
sds --engine azure delete-table "$azure_table"
expect "--engine azure delete-table" 0 ""

echo "# engines and credentials"
SDS_ENGINE=azure sds --engine dynamodb get "$table" dashes
expect "--engine overrides SDS_ENGINE" 0 $'--not-a-flag\n'
sds --engine cassandra list-tables
expect "an unknown engine exits 2" 2 ""
AWS_SECRET_ACCESS_KEY=wrong sds get "$table" dashes
expect "a wrong secret key exits 3" 3 ""
expect_stderr "  and says auth_failed" "^sds: auth_failed: "

echo "# clean-up"
sds delete-table "$table"
expect "delete-table" 0 ""
sds get "$table" dashes
expect "get from the deleted table exits 1" 1 ""

echo
echo "$passed passed, $failed failed"
((failed == 0))
