#!/usr/bin/env bash
# The benchmark's stub server: nginx (Debian's, with its Lua and echo modules)
# answering DynamoDB and Azure Table Storage requests from an in-memory store.
# See bench/stub/README.md.
#
#   stub.sh start STATE_DIR BASE_PORT [WORKERS]
#       Writes the configuration into STATE_DIR, starts nginx (its pid, logs
#       and temporary files all in STATE_DIR) listening on 127.0.0.1 only:
#         BASE_PORT+0  DynamoDB          BASE_PORT+2  DynamoDB, +2 ms per request
#         BASE_PORT+1  Azure Table       BASE_PORT+3  Azure Table, +2 ms per request
#       and waits until every port accepts connections. WORKERS: nginx worker
#       processes (default 1).
#   stub.sh stop STATE_DIR
#       Stops that instance and waits for it to exit.
#   stub.sh cpu STATE_DIR
#       Prints the CPU seconds (user + system) used so far by the instance's
#       processes, master and workers together.
#
# Environment: STUB_LATENCY_MS (2) the injected latency, STUB_ITEMS_SIZE
# (256m) the shared memory for items and entities.
#
# Needs the Debian packages nginx-light, libnginx-mod-http-lua,
# libnginx-mod-http-echo and lua-cjson.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=stub.sh

die() {
    echo "$prog: $*" >&2
    exit 1
}

usage() {
    echo "usage: $prog start STATE_DIR BASE_PORT [WORKERS] | stop STATE_DIR | cpu STATE_DIR" >&2
    exit 2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# The master's pid from STATE_DIR, if that process is alive.
running_pid() {
    local pidfile=$1/nginx.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    is_uint "$pid" && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# The end of the instance's logs, for a failure's report.
show_logs() {
    local f
    for f in "$1/error.log" "$1/nginx.stderr"; do
        if [[ -s $f ]]; then
            echo "--- the end of $f:" >&2
            tail -n 20 "$f" >&2
        fi
    done
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# lua_package_cpath entries for lua-cjson (Debian installs it for Lua 5.1,
# whose C modules LuaJIT loads, under the multiarch directory).
lua_cpath() {
    local d paths=()
    for d in /usr/lib/*/lua/5.1 /usr/local/lib/lua/5.1; do
        [[ -f $d/cjson.so ]] && paths+=("$d/?.so")
    done
    ((${#paths[@]})) || die "lua-cjson is not installed (apt-get install lua-cjson)"
    local IFS=';'
    echo "${paths[*]}"
}

start() {
    (($# >= 2 && $# <= 3)) || usage
    local state=$1 base=$2 workers=${3:-1}
    if ! is_uint "$base" || ((base < 1 || base + 3 > 65535)); then die "bad BASE_PORT '$base'"; fi
    if ! is_uint "$workers" || ((workers < 1)); then die "bad WORKERS '$workers'"; fi
    local latency_ms=${STUB_LATENCY_MS:-2}
    is_uint "$latency_ms" || die "bad STUB_LATENCY_MS '$latency_ms'"
    local items_size=${STUB_ITEMS_SIZE:-256m}
    [[ $items_size =~ ^[0-9]+[kKmM]?$ ]] || die "bad STUB_ITEMS_SIZE '$items_size'"
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || die "nginx is not installed (apt-get install nginx-light)"
    local nginx_bin
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    local m
    for m in ndk_http_module ngx_http_lua_module ngx_http_echo_module; do
        [[ -f /usr/lib/nginx/modules/$m.so ]] ||
            die "/usr/lib/nginx/modules/$m.so is missing (apt-get install libnginx-mod-http-lua libnginx-mod-http-echo)"
    done

    mkdir -p "$state"
    state=$(cd "$state" && pwd)
    local pid
    if pid=$(running_pid "$state"); then die "an instance is already running in $state (pid $pid)"; fi
    local p
    for ((p = base; p <= base + 3; p++)); do
        port_open "$p" && die "port $p on 127.0.0.1 is already in use"
    done
    mkdir -p "$state"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
    rm -f "$state/nginx.pid"

    # As root, nginx would run its workers as nobody, who may not read the
    # state directory or the Lua sources: keep the invoking user.
    local user_directive=""
    if ((EUID == 0)); then user_directive="user $(id -un) $(id -gn);"; fi

    local cpath latency_s
    cpath=$(lua_cpath)
    latency_s=$(printf '%d.%03d' $((latency_ms / 1000)) $((latency_ms % 1000)))
    sed -e "s|@STATE_DIR@|$state|g" \
        -e "s|@LUA_DIR@|$here/lua|g" \
        -e "s|@LUA_CPATH@|$cpath|g" \
        -e "s|@USER_DIRECTIVE@|$user_directive|g" \
        -e "s|@WORKERS@|$workers|g" \
        -e "s|@ITEMS_SIZE@|$items_size|g" \
        -e "s|@LATENCY_S@|$latency_s|g" \
        -e "s|@LATENCY_MS@|$latency_ms|g" \
        -e "s|@PORT_DDB@|$base|g" \
        -e "s|@PORT_AZURE@|$((base + 1))|g" \
        -e "s|@PORT_DDB_SLOW@|$((base + 2))|g" \
        -e "s|@PORT_AZURE_SLOW@|$((base + 3))|g" \
        "$here/nginx.conf.in" >"$state/nginx.conf"

    : >"$state/error.log"
    if ! "$nginx_bin" -p "$state" -c "$state/nginx.conf" -e "$state/error.log" 2>"$state/nginx.stderr"; then
        echo "$prog: nginx failed to start" >&2
        show_logs "$state"
        exit 1
    fi

    local deadline=$((SECONDS + 10)) ready
    while :; do
        ready=1
        for ((p = base; p <= base + 3; p++)); do
            port_open "$p" || { ready=0; break; }
        done
        ((ready)) && running_pid "$state" >/dev/null && break
        if ((SECONDS >= deadline)); then
            echo "$prog: nginx did not accept connections on 127.0.0.1:$base-$((base + 3)) within 10 s" >&2
            show_logs "$state"
            stop "$state" || true
            exit 1
        fi
        sleep 0.05
    done
    echo "$prog: nginx (pid $(running_pid "$state"), $workers worker(s)) on 127.0.0.1:" \
        "dynamodb $base, azure $((base + 1)), +${latency_ms} ms: dynamodb $((base + 2)), azure $((base + 3))" >&2
}

stop() {
    (($# == 1)) || usage
    local state=$1 pid
    pid=$(running_pid "$state") || return 0  # not running: nothing to stop
    kill -QUIT "$pid" 2>/dev/null || true  # graceful: workers finish their requests
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -TERM "$pid" 2>/dev/null || true  # fast shutdown
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    die "nginx (pid $pid) did not exit"
}

# utime + stime (+ the reaped children's cutime + cstime, with `children`)
# of one process, in clock ticks; 0 if it is gone. /proc/PID/stat: the
# fields after the parenthesised command name start with the state (field 3).
ticks_of() {
    local pid=$1 with_children=$2 stat
    # `read` with its own redirection: a process that exits meanwhile is a
    # failed read, not a failed (and, under set -e, fatal) expansion.
    read -r stat 2>/dev/null <"/proc/$pid/stat" || { echo 0; return; }
    local -a f
    read -r -a f <<<"${stat##*) }"
    # f[0] is field 3: utime is field 14 (f[11]), stime 15, cutime 16, cstime 17.
    if [[ $with_children == children ]]; then
        echo $((f[11] + f[12] + f[13] + f[14]))
    else
        echo $((f[11] + f[12]))
    fi
}

# The pids of the live children of process $1.
children_of() {
    local parent=$1 d stat ppid
    if [[ -r /proc/$parent/task/$parent/children ]]; then
        # nginx runs one thread, which forks the workers.
        cat "/proc/$parent/task/$parent/children" 2>/dev/null || true
        return
    fi
    for d in /proc/[0-9]*; do
        read -r stat 2>/dev/null <"$d/stat" || continue
        read -r _ ppid _ <<<"${stat##*) }"
        if [[ $ppid == "$parent" ]]; then echo "${d#/proc/}"; fi
    done
}

cpu() {
    (($# == 1)) || usage
    local state=$1 master
    master=$(running_pid "$state") || die "no instance is running in $state"
    # The master, the workers it reaped (replaced ones), and its live workers.
    local total pid
    total=$(ticks_of "$master" children)
    for pid in $(children_of "$master"); do
        total=$((total + $(ticks_of "$pid" self)))
    done
    local hz
    hz=$(getconf CLK_TCK)
    awk -v t="$total" -v hz="$hz" 'BEGIN { printf "%.2f\n", t / hz }'
}

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
    start) start "$@" ;;
    stop) stop "$@" ;;
    cpu) cpu "$@" ;;
    *) usage ;;
esac
