#!/usr/bin/env bash
# Cascade's test command (the README's, and what CI runs): formatting, lints, every test.
# It installs what the tests need (build tools, the text-encoder model) and starts the real
# servers they talk to (Redis, the tansu Kafka broker) before running them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Native build tools (CMake, libclang) that LightGBM needs.
bash scripts/install-build-deps.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# cascade-infer's tests need the real sentence-encoder model; quick once it is installed.
bash scripts/install-model.sh

bash scripts/start-redis.sh
# The Kafka tests' broker (tansu); the first run builds it (cached in ~/.cache/cascade).
bash scripts/start-kafka.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ {passed += $4; failed += $6} END {printf "tests: %d passed, %d failed\n", passed, failed}' "$log"
exit "$status"
