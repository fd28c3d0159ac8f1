#!/usr/bin/env bash
# Runs test binaries of the default (Flex) build on an emulated CPU without AVX-512:
# `qemu-x86_64 -cpu EPYC-Rome` (AVX2 + FMA), so every run-time dispatch (gemm's kernels,
# burn-flex's element-wise ops, cllm_backend::simd) takes its AVX2 path, whatever the host has.
#
#   bash scripts/test_without_avx512.sh                      # the crates' unit tests + geometry
#   bash scripts/test_without_avx512.sh minilm_parity suite  # the named test targets
#
# Needs qemu-user (`apt install qemu-user`). Emulation is slow: the unit tests take seconds,
# `geometry` a minute or two, MiniLM's parity with transformers about half an hour and
# SmolLM2's longer; each binary is stopped after $TIMEOUT seconds (default 1800). Set
# CARGO_TARGET_DIR to reuse a build.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (apt install qemu-user)" >&2; exit 2; }
TIMEOUT=${TIMEOUT:-1800}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cllm_backend cllm_autoencoder cllm_backbone cllm_gguf cllm_void geometry)

list=$(mktemp)
cargo test --release --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["executable"], os.path.dirname(m["manifest_path"]))
' > "$list"

failed=0
for want in "${targets[@]}"; do
    found=0
    while read -r name exe dir; do
        [ "$name" = "$want" ] || continue
        found=1
        level=$(cd "$dir" && qemu-x86_64 -cpu EPYC-Rome "$exe" the_dispatched_copy --nocapture 2>&1 | grep -o 'simd level: [a-z0-9]*' | head -1)
        echo "== $name ($exe) ${level}"
        (cd "$dir" && timeout "$TIMEOUT" qemu-x86_64 -cpu EPYC-Rome "$exe" --test-threads 2 2>&1) \
            | grep -v '^qemu-x86_64: warning' | grep -E '^test result|FAILED|panicked'
        rc=${PIPESTATUS[0]}
        [ "$rc" -eq 0 ] || { echo "   exit status $rc"; failed=1; }
    done < "$list"
    [ $found -eq 1 ] || { echo "== $want: no such test binary"; failed=1; }
done
rm -f "$list"
exit $failed
