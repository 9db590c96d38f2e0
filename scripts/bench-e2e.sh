#!/usr/bin/env bash
# The end-to-end load benchmark of issue 7 (BENCHMARKS.md, "End-to-end load"), start to end:
#   1. `cascade gen-data` writes the synthetic catalogue, users and events into a data directory;
#   2. `cascade train` fits the scene's LambdaMART ranker on that data (point-in-time backfill of
#      the last hours) and writes it where config/synthetic.jsonc reads it
#      (models/synthetic-ranker.json);
#   3. `cascade bench startup` starts the server twice (the second start reads the persisted
#      indexes) and reports the time to listening and to ready, and resident memory;
#   4. a server runs the default scene (popular + item-CF + ANN recall, filters, GBDT rank) while
#      `cascade bench http` drives it at a fixed rate with events beside, then finds the highest
#      recommend rate that keeps p99 under 50 ms.
# Every step's output is kept in the work directory (`*.txt`).
#
#   scripts/bench-e2e.sh [WORK_DIR]                       (default /tmp/cascade-e2e)
#   ITEMS=100000 USERS=10000 EVENTS=1000000 scripts/bench-e2e.sh /tmp/e2e-small
#   CASCADE_BIN=path/to/cascade  skips the release build
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:-/tmp/cascade-e2e}
items=${ITEMS:-1000000}
users=${USERS:-100000}
events=${EVENTS:-10000000}
seed=${SEED:-42}
rate=${RATE:-200}
event_rate=${EVENT_RATE:-2000}
# The max-rate search starts here and doubles until p99 passes 50 ms, then bisects.
start_rate=${START_RATE:-10}
duration=${DURATION:-60s}
port=${PORT:-18777}
config=config/synthetic.jsonc
model=models/synthetic-ranker.json
# The ranker's features: popularity, item fields, the user's activity and history matches.
features=item_users_log,item.quality,item_log.price,user_activity,keyword_count.category,keyword_share.category,keyword_count.tags,token_overlap.title,gap.price,gap.quality

if [ -z "${CASCADE_BIN:-}" ]; then
    cargo build --release -p cascade
    CASCADE_BIN="${CARGO_TARGET_DIR:-target}/release/cascade"
fi
bin=$CASCADE_BIN
mkdir -p "$work"
data="$work/data"

step() { echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }
timed() { /usr/bin/time -f "%e s elapsed, peak RSS %M KiB" "$@"; }

if [ ! -f "$work/gen-data.txt" ]; then
    step "gen-data: $items items, $users users, $events events"
    rm -rf "$data"
    timed "$bin" gen-data --items "$items" --users "$users" --events "$events" --seed "$seed" \
        --config "$config" --data-dir "$data" 2>&1 | tee "$work/gen-data.txt.part"
    mv "$work/gen-data.txt.part" "$work/gen-data.txt"
fi

if [ ! -f "$work/train.txt" ]; then
    # Labels from the last 12 hours of the generated window (it ends at the seed's epoch:
    # 2025-01-01 plus seed % 365 days); every earlier event builds the features' state.
    epoch_days=$((seed % 365))
    since=$(date -u -d "2025-01-01 + $epoch_days days - 12 hours" +%Y-%m-%dT%H:%M:%SZ)
    step "train: LambdaMART, labels since $since"
    timed "$bin" train --config "$config" --data-dir "$data" --model lambdamart \
        --features "$features" --since "$since" --trees 100 --seed "$seed" --out "$model" \
        2>&1 | tee "$work/train.txt.part"
    mv "$work/train.txt.part" "$work/train.txt"
fi

step "startup: twice, the second from persisted indexes"
"$bin" bench startup --config "$config" --data-dir "$data" --runs 2 --items "$items" \
    2>&1 | tee "$work/startup.txt"

step "serve"
"$bin" serve --config "$config" --data-dir "$data" --listen "127.0.0.1:$port" \
    > "$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/ready" > /dev/null; do
    kill -0 "$server" || { tail -20 "$work/serve.log"; exit 1; }
    sleep 1
done

step "load: recommend $rate/s, search 20/s, events $event_rate/s, $duration"
"$bin" bench http --url "http://127.0.0.1:$port" --recommend-rate "$rate" --search-rate 20 \
    --event-rate "$event_rate" --event-batch 20 --warmup 10s --duration "$duration" \
    --users "$users" --items "$items" --seed "$seed" --server-pid "$server" \
    2>&1 | tee "$work/load.txt"

step "max rate with p99 < 50 ms, events $event_rate/s"
"$bin" bench http --url "http://127.0.0.1:$port" --find-max-rate --recommend-rate "$start_rate" \
    --event-rate "$event_rate" --event-batch 20 --warmup 3s --step-duration 10s \
    --bisect-steps 3 --max-rate 2000 --users "$users" --items "$items" --seed "$seed" \
    2>&1 | tee "$work/max-rate.txt"
step "done: outputs in $work"
