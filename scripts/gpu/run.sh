#!/usr/bin/env bash
# The prepared GPU run of cllm, run from a bundle made by scripts/gpu/bundle.sh.
#
#   bash BUNDLE/run.sh [--cpu] [--budget SECONDS] [--only STEP,STEP] [--pilot-budget SECONDS]
#                      [--pilot-ks 16,64] [--out DIR] [--work DIR] [--no-pilot]
#
# On a machine with an NVIDIA GPU, the driver and CUDA's libraries (nvrtc among them), and
# no Rust toolchain, model files or network, it trains the pilot-scale CLLMs on CUDA:
#   k64-mirror  the seed's mirrored decoder at k = 64 (the PyTorch pilot's design: the
#               side-by-side training throughput compares these two)
#   k64-ar      the autoregressive decoder at k = 64
#   k16-ar      the autoregressive decoder at k = 16
#   k16-mirror  the mirror at k = 16
#   cllm2-soup  CLLM2: the k64-ar model fine-tuned on soup, a quarter of every batch replayed
# each with soup and pizza held out of CLLM1, scored on train/val/soup/pizza (token accuracy,
# exact texts, free-running decodes) with the void-score AUROC of each held-out family; then,
# when the bundle carries it and PyTorch is installed, the PyTorch pilot on the same card for
# the same budget. Every step has its own time budget and a watchdog (`timeout`); a step that
# fails or hangs is recorded and the run goes on, so a run cut short still returns numbers.
#
# Output (--out, default $OUT when set, else ./gpu-out): run.log, env.json, steps.jsonl (one
# line per step: rc, wall time, time to first step), RUN/eval.json + report.json per step,
# pilot/pilot.json, and summary.json gathering every number (rewritten after each step).
# Models and checkpoints stay in --work (default: a temporary folder): they are large.
#
# --cpu runs the same steps with the CPU binary, tiny presets and seconds-long budgets: the
# test suite runs it so that this script and the bundle cannot rot while no GPU is around.
set -uo pipefail # not -e: a failed step is recorded and the run goes on

HERE=$(cd "$(dirname "$0")" && pwd)
MODE=gpu
BUDGET=""
OUTDIR="${OUT:-$PWD/gpu-out}"
WORK=""
PILOT=1
ONLY=""
PILOT_BUDGET=""
PILOT_KS=16,64
while [ $# -gt 0 ]; do
    case "$1" in
    --cpu) MODE=cpu ;;
    --budget) BUDGET="$2"; shift ;;
    --out) OUTDIR="$2"; shift ;;
    --work) WORK="$2"; shift ;;
    --no-pilot) PILOT=0 ;;
    --only) ONLY=",$2,"; shift ;;
    --pilot-budget) PILOT_BUDGET="$2"; shift ;;
    --pilot-ks) PILOT_KS="$2"; shift ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
[ -n "$WORK" ] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/cllm-gpu-work.XXXXXX")
mkdir -p "$WORK"
BIN="$WORK/unpacked/bin/cllm"
DATA="$WORK/unpacked/data"
T0=$(date +%s.%N)
now() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "[$(now)s] $*"; }
die() { say "FATAL: $*"; python3 "$HERE/summarize.py" "$OUTDIR" >/dev/null 2>&1; exit 3; }

main() {
# ---- the bundle, unpacked (its files are xz-compressed to stay small)
command -v python3 >/dev/null || die "python3 not found (needed to unpack and to write summary.json)"
for f in bin/cllm data/tokens-L256.safetensors data/vocab.safetensors; do
    [ -s "$HERE/$f.xz" ] || die "no $HERE/$f.xz in the bundle (make it with scripts/gpu/bundle.sh)"
    mkdir -p "$(dirname "$WORK/unpacked/$f")"
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$HERE/$f.xz" "$WORK/unpacked/$f" || die "could not unpack $f.xz"
done
chmod +x "$BIN"
say "unpacked the bundle into $WORK/unpacked"
DEVICE_NAME=cpu
if [ "$MODE" = gpu ]; then
    command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine"
    DEVICE_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
    [ -n "$DEVICE_NAME" ] || die "nvidia-smi lists no GPU"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
    # burn's CUDA backend loads libcuda (the driver) and libnvrtc (its kernel compiler) at
    # run time. Find them on the loader path, in CUDA toolkits, or in PyTorch's wheels.
    find_lib() {
        ldconfig -p 2>/dev/null | grep -q "$1" && return 0
        local d
        for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib \
            /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64 \
            $(python3 - 2>/dev/null <<'EOF'
import glob, os, site
for p in site.getsitepackages() + [site.getusersitepackages()]:
    for d in glob.glob(os.path.join(p, "nvidia", "**", "lib"), recursive=True):
        print(d)
EOF
            ); do
            if ls "$d"/"$1"* >/dev/null 2>&1; then
                export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
                say "found $1 in $d (added to LD_LIBRARY_PATH)"
                return 0
            fi
        done
        return 1
    }
    find_lib libcuda.so || die "libcuda.so (the NVIDIA driver library) not found"
    find_lib libnvrtc.so || die "libnvrtc.so (CUDA's runtime compiler, needed by burn's CUDA backend) not found: install the CUDA toolkit or the nvidia-cuda-nvrtc wheel"
fi
say "mode $MODE, device $DEVICE_NAME, bundle $HERE, out $OUTDIR, work $WORK"
python3 - "$OUTDIR/env.json" "$MODE" "$DEVICE_NAME" "$HERE" <<'EOF'
import json, os, platform, subprocess, sys
out, mode, device, here = sys.argv[1:5]
manifest = os.path.join(here, "MANIFEST.json")
env = dict(mode=mode, device=device, host=platform.node(), cpu=platform.processor(),
           cores=os.cpu_count(), ld_library_path=os.environ.get("LD_LIBRARY_PATH", ""),
           bundle=json.load(open(manifest)) if os.path.exists(manifest) else None)
try:
    env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=20).stdout.strip()
except Exception:
    env["driver"] = None
json.dump(env, open(out, "w"), indent=1)
EOF

# ---- the steps: name, training seconds, arguments
if [ "$MODE" = gpu ]; then
    BUDGET=${BUDGET:-260}
    GRACE=75 # start-up, kernel compilation and autotuning, the final scoring
    COMMON=(--batch 64 --warmup 100 --steps 1000000 --schedule-over-time
        --eval-every 1000000 --checkpoint-every 0 --report-texts 64)
    K16=k16 K64=k64
else
    BUDGET=${BUDGET:-40}
    GRACE=60
    COMMON=(--batch 4 --warmup 2 --steps 1000000 --schedule-over-time
        --eval-every 1000000 --checkpoint-every 0 --report-texts 4 --eval-texts 8)
    K16=cpu-k8 K64=cpu-k16
fi
# shares of the budget per step (sum 1.0; with --only, the chosen steps share it alike)
STEPS=(
    "k64-mirror 0.22 --preset $K64 --decoder mirror --lr 1e-3"
    "k64-ar 0.30 --preset $K64 --decoder ar --lr 1e-3"
    "k16-ar 0.18 --preset $K16 --decoder ar --lr 1e-3"
    "k16-mirror 0.15 --preset $K16 --decoder mirror --lr 1e-3"
    "cllm2-soup 0.15 --init-from $WORK/k64-ar/model --family soup --replay-fraction 0.25 --lr 5e-4"
)
if [ -n "$ONLY" ]; then
    kept=()
    for s in "${STEPS[@]}"; do
        case "$ONLY" in *",${s%% *},"*) kept+=("$s") ;; esac
    done
    [ ${#kept[@]} -gt 0 ] || die "--only names no step (steps: k64-mirror k64-ar k16-ar k16-mirror cllm2-soup)"
    share=$(awk -v n=${#kept[@]} 'BEGIN { printf "%.3f", 1 / n }')
    STEPS=()
    for s in "${kept[@]}"; do
        read -r name _ rest <<<"$s"
        STEPS+=("$name $share $rest")
    done
fi

run_step() {
    local name=$1 share=$2
    shift 2
    local secs
    secs=$(awk -v b="$BUDGET" -v s="$share" 'BEGIN { printf "%.0f", b * s }')
    [ "$secs" -ge 2 ] || secs=2
    say "step $name: ${secs} s of training (watchdog $((secs + GRACE)) s): cllm train $*"
    local start rc
    start=$(date +%s.%N)
    timeout -k 10 $((secs + GRACE)) "$BIN" -v train --data "$DATA" --out "$WORK/$name" \
        --time-budget "$secs" "$@" "${COMMON[@]}" >"$OUTDIR/$name.log" 2>&1
    rc=$?
    local wall
    wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    tail -n 25 "$OUTDIR/$name.log"
    case $rc in
    0) say "step $name: done in ${wall} s" ;;
    124 | 137) say "step $name: WATCHDOG stopped it after ${wall} s (rc $rc)" ;;
    *) say "step $name: FAILED with rc $rc after ${wall} s (see $name.log)" ;;
    esac
    mkdir -p "$OUTDIR/$name"
    for f in eval.json report.json run.json; do
        [ -f "$WORK/$name/$f" ] && cp "$WORK/$name/$f" "$OUTDIR/$name/"
    done
    local first # "… first step done (…) seconds=12.3" from the training log
    first=$(grep -Eo 'first step done.*seconds=[0-9.]+' "$OUTDIR/$name.log" | head -1 | grep -Eo '[0-9.]+$')
    echo "{\"step\": \"$name\", \"rc\": $rc, \"wall_s\": $wall, \"train_budget_s\": $secs, \"first_step_s\": ${first:-null}}" \
        >>"$OUTDIR/steps.jsonl"
    python3 "$HERE/summarize.py" "$OUTDIR" >/dev/null || say "summary.json could not be written"
}

: >"$OUTDIR/steps.jsonl"
for s in "${STEPS[@]}"; do
    # shellcheck disable=SC2086 # the step's words are its arguments
    run_step $s
done

# ---- the PyTorch pilot, side by side on the same device
if [ "$PILOT" = 1 ] && [ -f "$HERE/pilot/cllm_pilot.py" ]; then
    if python3 -c "import torch, numpy" 2>/dev/null; then
        say "pilot: preparing its data from the bundle's token cache"
        python3 "$HERE/pilot/cllm_pilot_data.py" "$DATA" "$WORK/pilot-data" || say "pilot data preparation failed"
        PYPATH_EXTRA=""
        if ! python3 -c "import sklearn" 2>/dev/null; then
            PYPATH_EXTRA="$HERE/pilot/pyshim"
            say "pilot: scikit-learn missing; its roc_auc_score comes from pilot/pyshim"
        fi
        if [ "$MODE" = gpu ]; then
            PB=${PILOT_BUDGET:-$(awk -v b="$BUDGET" 'BEGIN { printf "%.0f", b * 0.15 }')}
            PILOT_ARGS=(--budget "$PB" --ft-budget "$(awk -v b="$PB" 'BEGIN { printf "%.0f", b / 4 }')" --ks "$PILOT_KS")
        else
            PB=4
            PILOT_ARGS=(--smoke)
        fi
        say "pilot: --budget $PB per CLLM1 (k = $PILOT_KS, batch 64, bf16 autocast)"
        start=$(date +%s.%N)
        PYTHONPATH="$PYPATH_EXTRA${PYTHONPATH:+:$PYTHONPATH}" timeout -k 10 $((PB * 3 + 150)) \
            python3 "$HERE/pilot/cllm_pilot.py" --data "$WORK/pilot-data" --out "$OUTDIR/pilot" \
            "${PILOT_ARGS[@]}" >"$OUTDIR/pilot.log" 2>&1
        rc=$?
        wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        tail -n 20 "$OUTDIR/pilot.log"
        echo "{\"step\": \"pytorch-pilot\", \"rc\": $rc, \"wall_s\": $wall, \"train_budget_s\": $PB, \"first_step_s\": null}" \
            >>"$OUTDIR/steps.jsonl"
    else
        say "pilot: SKIPPED (python3 has no torch/numpy here)"
    fi
else
    say "pilot: SKIPPED (not in the bundle, or --no-pilot)"
fi

python3 "$HERE/summarize.py" "$OUTDIR" || die "summary.json could not be written"
say "finished; summary: $OUTDIR/summary.json"
}

# everything the run prints also goes to run.log
main 2>&1 | tee -a "$OUTDIR/run.log"
exit "${PIPESTATUS[0]}"
