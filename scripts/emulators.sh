#!/usr/bin/env bash
# Starts, stops and reports the local test emulators for the integration tests:
#   dynalite      DynamoDB emulator, in memory              127.0.0.1:$SDS_DYNALITE_PORT (18000)
#   gateway       SigV4-verifying proxy in front of it      127.0.0.1:$SDS_GATEWAY_PORT (18001)
#                 (tests/integration/gateway.mjs; DynamoDB clients talk to this one)
#   azurite       Azure Table Storage emulator, in memory   127.0.0.1:$SDS_AZURITE_TABLE_PORT (18002)
#   azurite-tls   the same over HTTPS, with a CA and server  127.0.0.1:$SDS_AZURITE_TLS_PORT (18003)
#                 certificate made at start ($SDS_EMULATOR_DIR/tls/ca.pem); also accepts Entra ID
#                 bearer tokens (--oauth basic; credentials_server.mjs hands them out)
#
#   scripts/emulators.sh start    (re)start all three; prints the client environment as
#                                 `export` lines on stdout (progress goes to stderr), so
#                                 eval "$(scripts/emulators.sh start)" sets it up
#   scripts/emulators.sh stop     stop exactly the processes recorded in the state dir
#   scripts/emulators.sh status   one line per server; exit 0 only if all are running
#
# Environment: SDS_DYNALITE_PORT, SDS_GATEWAY_PORT, SDS_AZURITE_TABLE_PORT, SDS_AZURITE_TLS_PORT (ports),
# SDS_TEST_ACCESS_KEY_ID / SDS_TEST_SECRET_ACCESS_KEY (credentials the gateway accepts,
# default AKIDSDSTEST / sds-test-secret), SDS_TEST_ISSUER_SECRET (the gateway's --issuer-secret:
# it also accepts the temporary credentials tests/integration/issued_credentials.mjs derives from
# it, as tests/integration/credentials_server.mjs hands them out; default sds-test-issuer),
# SDS_DYNALITE_CREATE_MS (dynalite --createTableMs, default 0), SDS_DYNALITE_DELETE_MS /
# SDS_DYNALITE_UPDATE_MS (--deleteTableMs / --updateTableMs, default dynalite's own 500),
# SDS_EMULATOR_DIR (PID files, logs, env.sh; default $REPO/build/emulators). The exports are
# also written to $SDS_EMULATOR_DIR/env.sh.
# Each server is `node` run directly in the background, so the recorded PID is the server.
# Needs only bash, coreutils, openssl and node; everything listens on 127.0.0.1 only.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${SDS_EMULATOR_DIR:-$repo/build/emulators}
dynalite_port=${SDS_DYNALITE_PORT:-18000}
gateway_port=${SDS_GATEWAY_PORT:-18001}
azurite_port=${SDS_AZURITE_TABLE_PORT:-18002}
azurite_tls_port=${SDS_AZURITE_TLS_PORT:-18003}
access_key_id=${SDS_TEST_ACCESS_KEY_ID:-AKIDSDSTEST}
secret_access_key=${SDS_TEST_SECRET_ACCESS_KEY:-sds-test-secret}
issuer_secret=${SDS_TEST_ISSUER_SECRET:-sds-test-issuer}
region=us-east-1
# Azurite's well-known development account key (public, documented by Microsoft).
azurite_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
servers=(dynalite gateway azurite azurite-tls)
start_timeout=30

say() { echo "emulators: $*" >&2; }
die() { say "$*"; exit 1; }

port_of() {
    case $1 in
        dynalite) echo "$dynalite_port" ;;
        gateway) echo "$gateway_port" ;;
        azurite) echo "$azurite_port" ;;
        azurite-tls) echo "$azurite_tls_port" ;;
    esac
}
port_var_of() {
    case $1 in
        dynalite) echo SDS_DYNALITE_PORT ;;
        gateway) echo SDS_GATEWAY_PORT ;;
        azurite) echo SDS_AZURITE_TABLE_PORT ;;
        azurite-tls) echo SDS_AZURITE_TLS_PORT ;;
    esac
}
# What identifies each server's command line (guards against a recycled PID).
signature_of() {
    case $1 in
        dynalite) echo "node_modules/dynalite/cli.js" ;;
        gateway) echo "tests/integration/gateway.mjs" ;;
        azurite) echo "node_modules/azurite/dist/src/table/main.js --tableHost 127.0.0.1 --tablePort $azurite_port " ;;
        azurite-tls) echo "node_modules/azurite/dist/src/table/main.js --tableHost 127.0.0.1 --tablePort $azurite_tls_port " ;;
    esac
}

# Does something accept TCP connections on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Who listens on port $1, if a tool to tell is installed.
port_owner() {
    if command -v ss >/dev/null; then
        ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(\(.*\))$/\1/p' | head -n1
    elif command -v lsof >/dev/null; then
        lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | awk 'NR==2 {print $1 " pid " $2}'
    fi
}

# PID recorded for server $1 if that process is still that server; empty otherwise.
live_pid() {
    local file=$state/$1.pid pid
    [[ -f $file ]] || return 0
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ -r /proc/$pid/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(signature_of "$1")" && echo "$pid"
    return 0
}

# Is process $1 running? A zombie (exited, not yet reaped by its new parent) is not.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }                         # the state letter follows "(comm) "
    [[ ${stat:0:1} != Z ]]
}

stop_one() {
    local name=$1 pid
    pid=$(live_pid "$name")
    if [[ -n $pid ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "$name (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 20); do alive "$pid" || break; sleep 0.1; done
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$state/$name.pid"
}

stop_all() {
    # Front to back: the gateway before the dynalite behind it.
    local name
    for name in gateway azurite azurite-tls dynalite; do stop_one "$name"; done
}

# start_one NAME WORKDIR ARGS...: node ARGS in the background, output to NAME.log, PID recorded.
start_one() {
    local name=$1 dir=$2
    shift 2
    (cd "$dir" && exec node "$@" </dev/null >"$state/$name.log" 2>&1) &
    echo $! >"$state/$name.pid"
}

wait_for() {
    local name=$1 port pid
    port=$(port_of "$name")
    pid=$(<"$state/$name.pid")
    for _ in $(seq $((start_timeout * 10))); do
        if ! alive "$pid"; then
            say "$name (pid $pid) exited during start-up; last lines of $state/$name.log:"
            tail -n 20 "$state/$name.log" >&2 || true
            return 1
        fi
        port_open "$port" && return 0
        sleep 0.1
    done
    say "$name (pid $pid) is not listening on 127.0.0.1:$port after ${start_timeout} s; last lines of $state/$name.log:"
    tail -n 20 "$state/$name.log" >&2 || true
    return 1
}

# A CA and a server certificate it signs, for 127.0.0.1 and localhost, made
# afresh at every start (nothing secret is committed).
make_tls() {
    local dir=$1
    command -v openssl >/dev/null || die "openssl is not installed (scripts/setup.sh installs it)"
    rm -rf "$dir"
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
        -subj "/CN=sds emulator test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" \
        -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -out "$dir/server.pem" -days 2 -sha256 -extfile "$dir/server.ext" 2>/dev/null
}

client_env() {
    cat <<EOF
export AWS_ACCESS_KEY_ID=$access_key_id
export AWS_SECRET_ACCESS_KEY=$secret_access_key
export AWS_REGION=$region
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$gateway_port
export SDS_DYNALITE_URL=http://127.0.0.1:$dynalite_port
export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azurite_key;TableEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;'
export SDS_AZURITE_TLS_URL=https://127.0.0.1:$azurite_tls_port/devstoreaccount1
export SDS_AZURITE_CA_FILE=$state/tls/ca.pem
EOF
}

start() {
    command -v node >/dev/null || die "node is not installed (scripts/setup.sh installs it)"
    local name
    for script in node_modules/dynalite/cli.js node_modules/azurite/dist/src/table/main.js; do
        [[ -f $repo/$script ]] || die "$repo/$script is missing; run scripts/setup.sh (npm ci) first"
    done
    for var in SDS_DYNALITE_PORT SDS_GATEWAY_PORT SDS_AZURITE_TABLE_PORT SDS_AZURITE_TLS_PORT; do
        local value=${!var:-}
        [[ -z $value || ($value =~ ^[0-9]+$ && $value -gt 0 && $value -lt 65536) ]] || die "$var=$value is not a port"
    done
    [[ $(printf '%s\n' "$dynalite_port" "$gateway_port" "$azurite_port" "$azurite_tls_port" | sort -u | wc -l) == 4 ]] ||
        die "the four ports must differ (dynalite $dynalite_port, gateway $gateway_port, azurite $azurite_port, azurite-tls $azurite_tls_port)"

    mkdir -p "$state"
    stop_all                                  # idempotent: replace whatever we started before

    for name in "${servers[@]}"; do
        local port owner
        port=$(port_of "$name")
        if port_open "$port"; then
            owner=$(port_owner "$port")
            die "port $port ($(port_var_of "$name"), for $name) is already in use${owner:+ by $owner}; set $(port_var_of "$name") to another port"
        fi
    done

    # If anything fails from here on, do not leave half the set running.
    trap 'say "start failed; stopping what was started"; stop_all' ERR

    local azurite_dir=$state/azurite azurite_tls_dir=$state/azurite-tls
    rm -rf "$azurite_dir" "$azurite_tls_dir"
    mkdir -p "$azurite_dir" "$azurite_tls_dir"
    make_tls "$state/tls"

    say "starting dynalite on 127.0.0.1:$dynalite_port"
    local dynalite_args=(--port "$dynalite_port" --host 127.0.0.1 --createTableMs "${SDS_DYNALITE_CREATE_MS:-0}")
    [[ -z ${SDS_DYNALITE_DELETE_MS:-} ]] || dynalite_args+=(--deleteTableMs "$SDS_DYNALITE_DELETE_MS")
    [[ -z ${SDS_DYNALITE_UPDATE_MS:-} ]] || dynalite_args+=(--updateTableMs "$SDS_DYNALITE_UPDATE_MS")
    start_one dynalite "$repo" "$repo/node_modules/dynalite/cli.js" "${dynalite_args[@]}"

    say "starting azurite (table service) on 127.0.0.1:$azurite_port"
    # --inMemoryPersistence refuses --location; azurite then uses its working directory as
    # workspace, so it runs in a scratch directory of its own.
    start_one azurite "$azurite_dir" "$repo/node_modules/azurite/dist/src/table/main.js" \
        --tableHost 127.0.0.1 --tablePort "$azurite_port" --inMemoryPersistence \
        --disableTelemetry --skipApiVersionCheck --loose
    say "starting azurite (table service, HTTPS) on 127.0.0.1:$azurite_tls_port"
    start_one azurite-tls "$azurite_tls_dir" "$repo/node_modules/azurite/dist/src/table/main.js" \
        --tableHost 127.0.0.1 --tablePort "$azurite_tls_port" --inMemoryPersistence \
        --disableTelemetry --skipApiVersionCheck --loose --cert "$state/tls/server.pem" --key "$state/tls/server.key" \
        --oauth basic

    wait_for dynalite
    say "starting gateway on 127.0.0.1:$gateway_port -> dynalite"
    start_one gateway "$repo" "$repo/tests/integration/gateway.mjs" --port "$gateway_port" \
        --upstream "http://127.0.0.1:$dynalite_port" --access-key-id "$access_key_id" \
        --secret-access-key "$secret_access_key" --region "$region" --issuer-secret "$issuer_secret"
    wait_for gateway
    wait_for azurite
    wait_for azurite-tls
    trap - ERR

    client_env >"$state/env.sh"
    say "all running; state, logs and env.sh in $state"
    client_env
}

status() {
    local name pid all=0
    for name in "${servers[@]}"; do
        pid=$(live_pid "$name")
        if [[ -n $pid ]] && port_open "$(port_of "$name")"; then
            echo "$name: running (pid $pid, http://127.0.0.1:$(port_of "$name"))"
        elif [[ -n $pid ]]; then
            echo "$name: pid $pid alive but not listening on 127.0.0.1:$(port_of "$name")"
            all=1
        else
            echo "$name: not running"
            all=1
        fi
    done
    return $all
}

case ${1:-} in
    start) start ;;
    stop) stop_all ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
