#!/usr/bin/env bash
# Cascade's test command (the README's, and what CI runs): formatting, lints, every test.
# Today's suite needs no outside server; when the Redis and Kafka backends land, this script
# installs and starts them before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
