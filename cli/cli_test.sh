#!/usr/bin/env bash
# Integration test of the `sds` command-line tool: every command, its output
# byte for byte and its exit status, against the DynamoDB emulator behind the
# signature-verifying gateway.
#
#   cli_test.sh PATH/TO/sds
#
# Expects the environment scripts/emulators.sh prints (AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, and the Azure
# variables of the CTest fixture); starts tests/integration/credentials_server.mjs
# itself for the runs through the credential chains. Tables are
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

listener_pid=
credentials_pid=
tls_table=sdsclitls$$

clean_up() {
    [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null
    [[ -n $credentials_pid ]] && kill "$credentials_pid" 2>/dev/null
    [[ -n ${SDS_AZURITE_TLS_URL:-} ]] && SDS_AZURE_TABLE_ENDPOINT=$SDS_AZURITE_TLS_URL SSL_CERT_FILE=${SDS_AZURITE_CA_FILE:-} \
        "$sds" --engine azure delete-table "$tls_table" >/dev/null 2>&1
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

echo "# bad input: exit 2 with a message, and nothing sent"
# A listener on 127.0.0.1 that counts the connections made to it: every run
# below points --endpoint at it, and none may connect.
node - "$tmp/listener.port" "$tmp/connections" <<'EOF' &
const fs = require("fs");
const [portFile, log] = process.argv.slice(2);
const server = require("net").createServer((c) => {
    fs.appendFileSync(log, "connection\n");
    c.destroy();
});
server.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(server.address().port)));
EOF
listener_pid=$!
for _ in $(seq 100); do [[ -s $tmp/listener.port ]] && break; sleep 0.1; done
listener="http://127.0.0.1:$(cat "$tmp/listener.port")"
: >"$tmp/connections"
# refused DESCRIPTION PATTERN ARGS...: `sds ARGS...` at the listener exits 2
# and its standard error matches PATTERN.
refused() {
    local what=$1 pattern=$2
    shift 2
    sds --endpoint "$listener" --timeout 10000 "$@"
    expect "$what exits 2" 2 ""
    expect_stderr "  and says why" "$pattern"
}
refused "--shards -1" "--shards: -1 is out of range" incr "$table" hits --shards -1
refused "--shards=-5" "--shards: -5 is out of range" incr "$table" hits --shards=-5
refused "--shards 0" "--shards: 0 is out of range" incr "$table" hits --shards 0
refused "--shards 10001" "invalid_argument: .*shard_count 10001 is out of range" incr "$table" hits --shards 10001
refused "--shards 4294967296" "--shards: 4294967296 is out of range" incr "$table" hits --shards 4294967296
refused "--shards abc" "--shards: 'abc' is not an integer" incr "$table" hits --shards abc
refused "--shards 1.5" "--shards: '1.5' is not an integer" incr "$table" hits --shards 1.5
refused "--amount abc" "--amount: 'abc' is not an integer" incr "$table" hits --amount abc
refused "--amount ''" "--amount: '' is not an integer" incr "$table" hits --amount ""
refused "--amount 1.5" "--amount: '1.5' is not an integer" incr "$table" hits --amount 1.5
refused "--amount 0x10" "--amount: '0x10' is not an integer" incr "$table" hits --amount 0x10
refused "--amount ' 5'" "--amount: ' 5' is not an integer" incr "$table" hits --amount " 5"
refused "--amount +5" "--amount: '[+]5' is not an integer" incr "$table" hits --amount +5
refused "--amount 1e3" "--amount: '1e3' is not an integer" incr "$table" hits --amount 1e3
refused "--amount=--5" "--amount: '--5' is not an integer" incr "$table" hits --amount=--5
refused "--amount 2^53" "invalid_argument: incr: amount 9007199254740992 is out of range" \
    incr "$table" hits --amount 9007199254740992
refused "--amount -2^53" "invalid_argument: incr: amount -9007199254740992 is out of range" \
    incr "$table" hits --amount -9007199254740992
refused "--amount below INT64_MIN" "--amount: -9223372036854775809 is out of range" \
    incr "$table" hits --amount -9223372036854775809
refused "--read 0" "--read: 0 is out of range" create-table "$table" --read 0
refused "--write -5" "--write: -5 is out of range" create-table "$table" --write -5
refused "--timeout -1" "--timeout: -1 is out of range" get "$table" greeting --timeout -1
refused "--timeout of more than a day" "--timeout: 86400001 is out of range" get "$table" greeting --timeout 86400001
refused "an empty counter name" "invalid_argument: counter name is empty" incr "$table" ""
refused "a counter name with a line break" "invalid_argument: counter name contains a control character" \
    count "$table" $'hi\nts'
refused "a key naming a counter's shard" "invalid_argument: key 'hits_shard_1' names a counter item" \
    set "$table" hits_shard_1 v
refused "a table name with a line break" "invalid_argument: table name contains a control character" \
    get $'tb\nl' greeting
refused "an unsupported time-series conversion" "invalid_argument: table name pattern 'ev%e'" get 'ev%e' greeting
refused "--engine azure --shards -1" "--shards: -1 is out of range" --engine azure incr "$azure_table" hits --shards -1
refused "--engine azure --amount abc" "--amount: 'abc' is not an integer" --engine azure incr "$azure_table" hits --amount abc
refused "--engine azure --amount 2^53" "invalid_argument: incr: amount 9007199254740992 is out of range" \
    --engine azure incr "$azure_table" hits --amount 9007199254740992
refused "--engine azure a key with '/'" "invalid_argument: key may not contain" --engine azure get "$azure_table" a/b
if [[ ! -s $tmp/connections ]]; then
    pass "nothing connected to the endpoint"
else
    fail "nothing connected to the endpoint" "$(wc -l <"$tmp/connections") connection(s)"
fi
# The listener does count: a command that passes the checks connects to it.
sds --endpoint "$listener" --timeout 10000 get "$table" greeting
expect "a good command at the listener fails at the network" 3 ""
if [[ -s $tmp/connections ]]; then
    pass "  after connecting to it"
else
    fail "  after connecting to it" "the listener saw no connection"
fi

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

echo "# secrets never reach the output"
aws_secret='wJalrXUtnFEMI/K7MDENG+bPxRfiCYsdsCLIsecret'
aws_token='IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHsdsCLItoken+never/print=='
azure_key='xdcUhPjPm/S3b0eQRzCAS54yJanxM7XeoWj04oUfBy/MAPyqfKYgYXF6SOUuKaP6N5qVP6pok+MuxaJ7lF5gXw=='
sas_sig='pU3KGCUwux1tEyze1iN7LtkeP3IfyxlxF0SU1kk8nVw='
sas_token="sv=2019-02-02&ss=t&srt=sco&sp=rwdlacu&se=2030-01-01T00:00:00Z&spr=https&sig=${sas_sig//=/%3D}"
# no_secret [SECRET...]: none of the secrets above (nor the SECRETs) appears
# in the last run's standard output or error: raw, in hex of either case, in
# base64 at any alignment, URL-encoded, or (for the base64 ones) as their
# bytes.
no_secret() {
    local found
    if found=$(node - "$tmp/out" "$tmp/err" "$aws_secret" "$aws_token" "$azure_key" "$sas_sig" "$sas_token" "$@" <<'EOF'
const fs = require("fs");
const [out, err, ...secrets] = process.argv.slice(2);
const text = Buffer.concat([fs.readFileSync(out), fs.readFileSync(err)]);
const forms = [];
for (const s of secrets) {
    const variants = [Buffer.from(s)];
    if (/^[A-Za-z0-9+/]+=*$/.test(s) && s.length % 4 === 0) variants.push(Buffer.from(s, "base64"));
    for (const b of variants) {
        const hex = b.toString("hex");
        forms.push(b, Buffer.from(hex), Buffer.from(hex.toUpperCase()));
        for (let k = 0; k < 3; k++) {
            const t = b.subarray(k);
            forms.push(Buffer.from(t.subarray(0, t.length - (t.length % 3)).toString("base64")));
        }
    }
    const url = s.replace(/[^A-Za-z0-9\-._~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
    forms.push(Buffer.from(url), Buffer.from(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())));
}
const leaked = forms.filter((f) => f.length >= 12 && text.includes(f));
if (leaked.length) {
    console.log(leaked.map((f) => JSON.stringify(f.toString("latin1"))).join(" "));
    process.exit(1);
}
EOF
    ); then
        pass "  and prints no secret"
    else
        fail "  and prints no secret" "found $found"
    fi
}
AWS_SECRET_ACCESS_KEY=$aws_secret AWS_SESSION_TOKEN=$aws_token sds get "$table" dashes
expect "a wrong secret key with a session token exits 3" 3 ""
expect_stderr "  and says auth_failed, quoting the gateway" "^sds: auth_failed: .*InvalidSignatureException"
expect_stderr "  whose quote of the session token is redacted" "x-amz-security-token:\[redacted\]"
no_secret
AWS_SECRET_ACCESS_KEY=$aws_secret AWS_SESSION_TOKEN="$aws_token x" sds get "$table" dashes
expect "a session token with a blank exits 2" 2 ""
no_secret
sds --endpoint "http://AKIDSDSTEST:${aws_secret//\//%2F}@127.0.0.1:1" get "$table" dashes
expect "an endpoint with a password exits 2" 2 ""
no_secret
sds --endpoint "http://127.0.0.1:1/?X-Amz-Security-Token=$aws_token" get "$table" dashes
expect "an endpoint with a token in its query exits 2" 2 ""
no_secret
sds --endpoint "http://127.0.0.1:1/ $aws_secret" get "$table" dashes
expect "an endpoint that is not a URL exits 2" 2 ""
no_secret
AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azure_key;TableEndpoint=$SDS_AZURE_TABLE_ENDPOINT" \
    SDS_AZURE_TABLE_ENDPOINT= sds --engine azure get "$azure_table" k
expect "an Azure connection string with a wrong key exits 3" 3 ""
expect_stderr "  and says auth_failed" "^sds: auth_failed: "
no_secret
AZURE_STORAGE_CONNECTION_STRING="AccountName=Bad_Name;AccountKey=$azure_key" sds --engine azure get "$azure_table" k
expect "a malformed Azure connection string exits 2" 2 ""
expect_stderr "  naming the field" "AccountName"
no_secret
AZURE_STORAGE_CONNECTION_STRING="AccountName=devstoreaccount1;AccountKey=$azure_key*" sds --engine azure get "$azure_table" k
expect "an Azure connection string with a key that is not base64 exits 2" 2 ""
no_secret
AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN=$sas_token sds --engine azure get "$azure_table" k
expect "a SAS over plain http exits 2" 2 ""
expect_stderr "  and says it goes over https only" "^sds: invalid_argument: .*a SAS is sent over https only"
no_secret
AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN=$sas_token SDS_AZURE_TABLE_ENDPOINT=$SDS_AZURITE_TLS_URL \
    SSL_CERT_FILE=$SDS_AZURITE_CA_FILE sds --engine azure get "$azure_table" k
expect "a SAS Azurite refuses (over https, its CA in SSL_CERT_FILE) exits 3" 3 ""
expect_stderr "  and says auth_failed" "^sds: auth_failed: "
no_secret
AZURE_STORAGE_KEY= AZURE_STORAGE_SAS_TOKEN="$sas_token x" sds --engine azure get "$azure_table" k
expect "a SAS with a blank exits 2" 2 ""
expect_stderr "  naming the field" "sas_token"
no_secret
sds --engine azure --endpoint "$SDS_AZURE_TABLE_ENDPOINT?$sas_token" get "$azure_table" k
expect "an Azure endpoint with a SAS in its query exits 2" 2 ""
no_secret

echo "# credentials through the default chains"
repo=$(cd "$(dirname "$0")/.." && pwd)
container_token='sds-cli-container-token-never-printed'
client_secret='sds-cli-entra-client-secret-never-printed'
web_identity_token='sds-cli-web-identity-token-never-printed'
node "$repo/tests/integration/credentials_server.mjs" --port 0 \
    --issuer-secret "${SDS_TEST_ISSUER_SECRET:-sds-test-issuer}" \
    --static-access-key-id "$AWS_ACCESS_KEY_ID" --static-secret-access-key "$AWS_SECRET_ACCESS_KEY" \
    --container-token "$container_token" --entra-client-secret "$client_secret" \
    --web-identity-token "$web_identity_token" >"$tmp/credentials.out" 2>"$tmp/credentials.err" &
credentials_pid=$!
credentials_url=
for _ in $(seq 100); do
    if port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/credentials.out" 2>/dev/null); then
        credentials_url=http://${port#listening on }
        break
    fi
    sleep 0.1
done
[[ -n $credentials_url ]] || fail "the credentials server starts" "$(cat "$tmp/credentials.err")"
printf '[cli]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" \
    >"$tmp/aws-credentials"
printf '[profile cli]\nregion = %s\nendpoint_url = %s\n' "$AWS_REGION" "$AWS_ENDPOINT_URL_DYNAMODB" >"$tmp/aws-config"
printf '%s\n' "$web_identity_token" >"$tmp/web-identity-token"
gateway=$AWS_ENDPOINT_URL_DYNAMODB

# chain NAME=VALUE... -- ARGS...: runs the tool as `sds` does, with no
# credentials, region, endpoint or profile in its environment but the
# NAME=VALUEs given.
chain() {
    local -a given=()
    while [[ $1 != -- ]]; do given+=("$1"); shift; done
    shift
    status=0
    timeout 120 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_REGION \
        -u AWS_DEFAULT_REGION -u AWS_ENDPOINT_URL_DYNAMODB -u AWS_ENDPOINT_URL -u AWS_PROFILE \
        -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_KEY -u AZURE_STORAGE_SAS_TOKEN \
        AWS_SHARED_CREDENTIALS_FILE=/nonexistent/sds/credentials AWS_CONFIG_FILE=/nonexistent/sds/config \
        AWS_EC2_METADATA_DISABLED=true "${given[@]}" "$sds" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
chain AWS_PROFILE=cli AWS_SHARED_CREDENTIALS_FILE="$tmp/aws-credentials" AWS_CONFIG_FILE="$tmp/aws-config" -- \
    get "$table" dashes
expect "a profile's keys, region and endpoint_url (AWS_PROFILE)" 0 $'--not-a-flag\n'
chain AWS_CONTAINER_CREDENTIALS_FULL_URI="$credentials_url/ecs/credentials" \
    AWS_CONTAINER_AUTHORIZATION_TOKEN="$container_token" AWS_REGION=us-east-1 AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- \
    get "$table" dashes
expect "the container endpoint's credentials" 0 $'--not-a-flag\n'
no_secret "$container_token"
chain AWS_CONTAINER_CREDENTIALS_FULL_URI="$credentials_url/ecs/credentials" \
    AWS_CONTAINER_AUTHORIZATION_TOKEN="$container_token-wrong" AWS_REGION=us-east-1 AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- \
    get "$table" dashes
expect "a container token the endpoint refuses exits 3" 3 ""
expect_stderr "  and says auth_failed, naming the source" "^sds: auth_failed: container credentials: "
no_secret "$container_token" "$container_token-wrong"
chain AWS_WEB_IDENTITY_TOKEN_FILE="$tmp/web-identity-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/sds-cli \
    AWS_ENDPOINT_URL_STS="$credentials_url" AWS_REGION=us-east-1 AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- \
    set "$table" chained "through web identity"
expect "web identity (AWS_WEB_IDENTITY_TOKEN_FILE) set" 0 ""
no_secret "$web_identity_token"
sds get "$table" chained
expect "  and the value is there" 0 $'through web identity\n'
chain AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="$credentials_url" AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- get "$table" chained
expect "instance metadata (IMDSv2)" 0 $'through web identity\n'
chain AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" -- \
    --endpoint "$gateway" get "$table" dashes
expect "--endpoint with no region anywhere signs for us-east-1, asking no instance metadata" 0 $'--not-a-flag\n'
chain AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- \
    get "$table" dashes
expect "  as with the endpoint in AWS_ENDPOINT_URL_DYNAMODB" 0 $'--not-a-flag\n'
chain AWS_REGION=us-east-1 AWS_ENDPOINT_URL_DYNAMODB="$gateway" -- get "$table" dashes
expect "no credentials anywhere exits 2" 2 ""
expect_stderr "  and says what to set" "^sds: invalid_argument: no AWS credentials: set AWS_ACCESS_KEY_ID"
azure_chain=(AZURE_STORAGE_ACCOUNT=devstoreaccount1 SDS_AZURE_TABLE_ENDPOINT="$SDS_AZURITE_TLS_URL"
    SSL_CERT_FILE="$SDS_AZURITE_CA_FILE" AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47
    AZURE_CLIENT_ID=sds-cli-client AZURE_AUTHORITY_HOST="$credentials_url")
chain "${azure_chain[@]}" AZURE_CLIENT_SECRET="$client_secret" -- --engine azure create-table "$tls_table"
expect "Entra ID tokens from a client secret: azure create-table over https" 0 ""
chain "${azure_chain[@]}" AZURE_CLIENT_SECRET="$client_secret" -- --engine azure incr "$tls_table" hits --amount 7
expect "  incr" 0 $'7\n'
no_secret "$client_secret"
chain "${azure_chain[@]}" AZURE_CLIENT_SECRET="$client_secret-wrong" -- --engine azure count "$tls_table" hits
expect "a client secret Entra ID refuses exits 3" 3 ""
expect_stderr "  and says auth_failed" "^sds: auth_failed: "
no_secret "$client_secret" "$client_secret-wrong"
chain "${azure_chain[@]}" AZURE_CLIENT_SECRET="$client_secret" -- --engine azure delete-table "$tls_table"
expect "  delete-table" 0 ""
kill "$credentials_pid" 2>/dev/null
wait "$credentials_pid" 2>/dev/null
credentials_pid=

echo "# clean-up"
sds delete-table "$table"
expect "delete-table" 0 ""
sds get "$table" dashes
expect "get from the deleted table exits 1" 1 ""

echo
echo "$passed passed, $failed failed"
((failed == 0))
