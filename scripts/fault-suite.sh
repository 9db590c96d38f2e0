#!/usr/bin/env bash
# The fault suite (docs/RELIABILITY.md): the tests that break Cascade's dependencies and
# clients on purpose — Redis hung and refusing, the Kafka broker down and restarted, a full
# disk (small tmpfs mounts; needs root), SIGKILL during ingestion and item writes, a flood of
# slow clients, racing item writers — each checking that the server keeps serving, loses no
# acknowledged write and recovers by itself. They are part of `bash scripts/test.sh` too; this
# runs them alone, against the real Redis and Kafka broker the test script starts (loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-build-deps.sh
bash scripts/start-redis.sh
bash scripts/start-kafka.sh
run() { echo "fault-suite: $*" >&2; cargo test --workspace --locked "$@"; }
run --test redis_faults
run --test full_disk
run --test limits
run --test item_writes
run --test distributed a_failed_publish
run --test kafka a_broker_restart_mid_stream
run --test e2e -- durability item_durability
