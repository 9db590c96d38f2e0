#!/usr/bin/env bash
# Installs the native build tools that some dependencies need, where they are missing:
# - a C and C++ compiler and make (Debian's build-essential), for the C/C++ sources below;
# - lightgbm3-sys (LightGBM, for LambdaMART in cascade-rank) builds LightGBM's C++ with CMake
#   >= 3.28 (Debian 12 ships 3.25, so CMake comes from its PyPI package, installed into its own
#   virtual environment under ~/.cache/cascade/cmake and linked into /usr/local/bin) and
#   generates its bindings with bindgen, which loads libclang (Debian's libclang-dev);
# - rdkafka-sys (Kafka, for cascade-stream) builds librdkafka's bundled C source with its own
#   configure script and make; zlib comes from libz-sys.
# Python 3 with pip and venv (for CMake here and for scripts/install-model.sh) comes from Debian
# when missing. System packages need root: run as root, or with sudo available.
# Safe to run again: each step is skipped when its tool is already there.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
  echo "install-build-deps: installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" = false ]; then
    as_root apt-get update -qq
    apt_updated=true
  fi
  as_root apt-get install -y -qq "$@" >/dev/null
}

need_cmake() {
  local version
  version=$(cmake --version 2>/dev/null | head -n1 | awk '{print $3}') || true
  [ -z "$version" ] && return 0
  # true when the installed version sorts before 3.28
  [ "$(printf '%s\n3.28\n' "$version" | sort -V | head -n1)" != "3.28" ]
}

if ! command -v cc >/dev/null || ! command -v c++ >/dev/null || ! command -v make >/dev/null; then
  apt_install build-essential
fi

if ! python3 -m pip --version >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3 python3-pip python3-venv
fi

if need_cmake; then
  echo "install-build-deps: installing CMake >= 3.28 from PyPI"
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/cascade/cmake"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'cmake>=3.28,<4'
  bin_dir=$("$venv/bin/python" -c 'import cmake; print(cmake.CMAKE_BIN_DIR)')
  as_root ln -sf "$bin_dir/cmake" /usr/local/bin/cmake
  hash -r
fi

if ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1; then
  apt_install libclang-dev
fi

cmake --version | head -n1
