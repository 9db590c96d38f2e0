#!/usr/bin/env bash
# Starts the project's own Redis for the tests on 127.0.0.1:6390 (no persistence), installing
# redis-server first if it is missing. Does nothing when something already answers there.
# The tests read CASCADE_TEST_REDIS_URL (default redis://127.0.0.1:6390).
set -euo pipefail

port=6390
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
fi

if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
        --pidfile "/tmp/cascade-redis-$port.pid" --logfile "/tmp/cascade-redis-$port.log"
fi

for _ in $(seq 1 50); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then
        exit 0
    fi
    sleep 0.1
done
echo "redis on 127.0.0.1:$port did not answer PING; see /tmp/cascade-redis-$port.log" >&2
exit 1
