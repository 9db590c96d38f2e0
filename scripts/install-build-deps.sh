#!/usr/bin/env bash
# Installs the native build tools that some dependencies need, where they are missing:
# - lightgbm3-sys (LightGBM, for LambdaMART in cascade-rank) builds LightGBM's C++ with CMake
#   >= 3.28 (Debian 12 ships 3.25, so CMake comes from its PyPI package) and generates its
#   bindings with bindgen, which loads libclang (Debian's libclang-dev).
# - rdkafka-sys (Kafka, for cascade-stream) builds librdkafka's bundled C source with its own
#   configure script and make (the C toolchain already here); zlib comes from libz-sys.
# Safe to run again: each step is skipped when its tool is already there.
set -euo pipefail

need_cmake() {
  local version
  version=$(cmake --version 2>/dev/null | head -n1 | awk '{print $3}') || true
  [ -z "$version" ] && return 0
  # true when the installed version sorts before 3.28
  [ "$(printf '%s\n3.28\n' "$version" | sort -V | head -n1)" != "3.28" ]
}

if need_cmake; then
  echo "install-build-deps: installing CMake >= 3.28 from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'cmake>=3.28,<4'
  bin_dir=$(python3 -c 'import cmake; print(cmake.CMAKE_BIN_DIR)')
  ln -sf "$bin_dir/cmake" /usr/local/bin/cmake
  hash -r
fi

if ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1; then
  echo "install-build-deps: installing libclang (for bindgen) from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq libclang-dev >/dev/null
fi

cmake --version | head -n1
