#!/usr/bin/env bash
# The project's Kafka-protocol broker for the tests: tansu (a Kafka-compatible broker written
# in Rust, from crates.io) with its SQLite storage engine, so that records and committed
# offsets survive a broker restart. Installed once with `cargo install` into the cache
# (${CASCADE_CACHE_DIR:-~/.cache/cascade}/tansu-<version>, kept between runs on a machine;
# cold: about 20 minutes of CPU, 27 minutes' wall time on a busy 2-core machine), then
# started on 127.0.0.1:<port>.
#
#   scripts/start-kafka.sh [start|stop|restart|status|install]     (default: start)
#
# CASCADE_KAFKA_PORT picks the port (default 9192); data, pid file and log live in
# /tmp/cascade-kafka-<port>. `start` does nothing when something already answers on the port.
# The tests read CASCADE_TEST_KAFKA_BROKERS (default 127.0.0.1:9192); the broker-restart test
# runs a second broker of its own through this script (CASCADE_KAFKA_PORT=9193).
set -euo pipefail

version=0.6.0
cache=${CASCADE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cascade}
root="$cache/tansu-$version"
bin="$root/bin/tansu"
port=${CASCADE_KAFKA_PORT:-9192}
dir=/tmp/cascade-kafka-$port
pidfile=$dir/tansu.pid
logfile=$dir/tansu.log

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

install() {
    [ -x "$bin" ] && return 0
    mkdir -p "$cache"
    exec 9>"$cache/tansu-install.lock"
    flock 9
    [ -x "$bin" ] && return 0
    echo "start-kafka: installing tansu $version with cargo (once; cached in $root)" >&2
    local started=$SECONDS
    env -u CARGO_TARGET_DIR cargo install tansu --version "=$version" --locked --features libsql --root "$root" --quiet
    echo "start-kafka: tansu installed in $((SECONDS - started))s" >&2
}

running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    if answers; then
        return 0
    fi
    install
    mkdir -p "$dir"
    # tansu's sqlite:// path is relative to its working directory.
    (
        cd "$dir"
        CLUSTER_ID=cascade setsid nohup "$bin" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine "sqlite://tansu.db" \
            >>"$logfile" 2>&1 </dev/null &
        echo $! >"$pidfile"
    )
    for _ in $(seq 1 300); do
        if answers; then
            return 0
        fi
        if ! running_pid >/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "start-kafka: tansu on 127.0.0.1:$port did not start; the end of $logfile:" >&2
    tail -n 20 "$logfile" >&2 || true
    exit 1
}

stop() {
    local pid
    if pid=$(running_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    for _ in $(seq 1 50); do
        answers || return 0
        sleep 0.1
    done
    echo "start-kafka: something still answers on 127.0.0.1:$port (not started by this script?)" >&2
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    install) install ;;
    status)
        if answers; then echo "kafka broker answers on 127.0.0.1:$port"; else echo "no kafka broker on 127.0.0.1:$port"; exit 1; fi
        ;;
    *) echo "usage: $0 [start|stop|restart|status|install]" >&2; exit 2 ;;
esac
