#!/usr/bin/env bash
# Packs the GPU run of cllm into one folder (under 60 MiB) for a machine that has an NVIDIA
# GPU, its driver, CUDA's libraries and Python, but no Rust toolchain, model files or network.
#
#   bash scripts/gpu/bundle.sh [--out gpu-bundle] [--cpu] [--bin PATH] [--data DIR] [--pilot FILE]
#
#   --out DIR    the bundle folder (default gpu-bundle/, ignored by git)
#   --cpu        pack the CPU (flex) binary instead of the CUDA one: for trying run.sh --cpu
#   --bin PATH   pack this cllm binary instead of building one
#   --data DIR   take the prepared data (tokens-L256.safetensors, vocab.safetensors) from DIR
#                instead of preparing it (`cllm train --prepare-only`, which needs the default
#                assets: `cllm assets fetch`)
#   --pilot FILE the PyTorch pilot (cllm_pilot.py) to run side by side; by default the shared
#                reference copy next to the repository when present
#
# The bundle: bin/cllm.xz (release, stripped, xz), data/*.xz (the token cache and the corpus
# vocabulary table: no GGUF needed), run.sh + summarize.py (scripts/gpu/), pilot/ (the pilot, its data
# converter and a scikit-learn stand-in), MANIFEST.json (commit, features, sizes, sha256).
# Run it on the GPU machine with `bash gpu-bundle/run.sh --out "$OUT"`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

OUTDIR=gpu-bundle
FEATURES=cuda
BIN=""
DATA=""
PILOT=""
for cand in "$ROOT/../shared/reference/cllm_pilot.py" "$ROOT/shared/reference/cllm_pilot.py"; do
    [ -f "$cand" ] && PILOT=$cand && break
done
while [ $# -gt 0 ]; do
    case "$1" in
    --out) OUTDIR="$2"; shift ;;
    --cpu) FEATURES=flex ;;
    --bin) BIN="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --pilot) PILOT="$2"; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
LIMIT_MIB=60
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

build() { # build the cllm binary with the given features into its own target subfolder
    local features=$1
    echo "building cllm --features $features (release) ..." >&2
    CARGO_TARGET_DIR="$TARGET/bundle-$features" cargo build --release --locked -q -p cllm-cli \
        --features "$features" >&2
    echo "$TARGET/bundle-$features/release/cllm"
}

rm -rf "$OUTDIR.tmp"
mkdir -p "$OUTDIR.tmp/bin" "$OUTDIR.tmp/data" "$OUTDIR.tmp/pilot"

# ---- the prepared data: token cache + vocabulary table, made with a CPU binary
if [ -z "$DATA" ]; then
    CPU_BIN=$([ "$FEATURES" = flex ] && [ -n "$BIN" ] && echo "$BIN" || build flex)
    DATA="$TARGET/bundle-data"
    "$CPU_BIN" train --prepare-only --preset k16 --out "$DATA"
fi
for f in tokens-L256.safetensors vocab.safetensors; do
    [ -s "$DATA/$f" ] || { echo "bundle.sh: $DATA/$f missing" >&2; exit 1; }
    cp "$DATA/$f" "$OUTDIR.tmp/data/"
done

# ---- the binary
[ -n "$BIN" ] || BIN=$(build "$FEATURES")
cp "$BIN" "$OUTDIR.tmp/bin/cllm"
strip "$OUTDIR.tmp/bin/cllm" 2>/dev/null || echo "bundle.sh: strip not found; binary left unstripped" >&2
chmod +x "$OUTDIR.tmp/bin/cllm"

# ---- the scripts
cp scripts/gpu/run.sh scripts/gpu/summarize.py "$OUTDIR.tmp/"
cp scripts/cllm_pilot_data.py "$OUTDIR.tmp/pilot/"
cp -r scripts/gpu/pyshim "$OUTDIR.tmp/pilot/"
if [ -n "$PILOT" ] && [ -f "$PILOT" ]; then
    cp "$PILOT" "$OUTDIR.tmp/pilot/cllm_pilot.py"
else
    echo "bundle.sh: no PyTorch pilot found; the bundle runs without the side-by-side comparison" >&2
fi

# ---- compressed (xz): the stripped CUDA binary is ~58 MiB, ~10 MiB as xz; run.sh unpacks
echo "compressing ..." >&2
compress() { # FILE -> FILE.xz (xz-utils when present, else Python's lzma)
    if command -v xz >/dev/null; then
        xz -T2 -6 "$1"
    else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(open(sys.argv[1], "rb"), lzma.open(sys.argv[1] + ".xz", "wb", preset=6))' "$1"
        rm "$1"
    fi
}
for f in "$OUTDIR.tmp/bin/cllm" "$OUTDIR.tmp"/data/*.safetensors; do
    compress "$f"
done

# ---- manifest and size check
python3 - "$OUTDIR.tmp" "$FEATURES" "$(git rev-parse HEAD 2>/dev/null || echo unknown)" <<'EOF'
import hashlib, json, os, sys
root, features, commit = sys.argv[1:4]
files = {}
for d, _, names in os.walk(root):
    for n in sorted(names):
        p = os.path.join(d, n)
        h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        files[os.path.relpath(p, root)] = dict(bytes=os.path.getsize(p), sha256=h)
json.dump(dict(commit=commit, features=features, files=files,
               total_bytes=sum(f["bytes"] for f in files.values())),
          open(os.path.join(root, "MANIFEST.json"), "w"), indent=1)
EOF
rm -rf "$OUTDIR"
mv "$OUTDIR.tmp" "$OUTDIR"
BYTES=$(du -sb "$OUTDIR" | cut -f1)
MIB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
du -ab "$OUTDIR" | sort -n | tail -n 6 | awk '{ printf "  %8.1f MiB  %s\n", $1 / 1048576, $2 }'
if [ "$BYTES" -gt $((LIMIT_MIB * 1048576)) ]; then
    echo "bundle.sh: $OUTDIR is $MIB MiB, over the $LIMIT_MIB MiB limit" >&2
    exit 1
fi
echo "bundle $OUTDIR: $MIB MiB (limit $LIMIT_MIB MiB), binary features: $FEATURES"
