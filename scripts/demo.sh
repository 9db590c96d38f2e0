#!/usr/bin/env bash
# The README's demo command, for a fresh clone on a machine with only a Rust toolchain:
# installs the native build tools (CMake, libclang) and the text-encoder model where they are
# missing, builds the release binary and runs `cascade demo` with the arguments given
# (for instance `--listen 127.0.0.1:9000` or `--data-dir DIR`; `--help` lists them).
# Once the tools and the model are there, `cargo run --release -p cascade -- demo` does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-build-deps.sh
# Semantic search and "similar books" need the model; the demo runs without them if it fails.
if ! model=$(bash scripts/install-model.sh); then
  echo "demo: the text-encoder model could not be installed; the demo runs without semantic search and similar books" >&2
else
  echo "demo: text-encoder model in $model"
fi
exec cargo run --release --locked -p cascade -- demo "$@"
