#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md in one run (~8-12 minutes on
# one H100/H200): the switch ablation on a synthetic batch at the recipe's
# batch 256 with bf16 autocast, then end to end from a JPEG folder through
# the recipe's dataloader. Results (JSON + markdown) go to $OUT (default
# work_dirs/gpu_check).
#
#   bash tools/benchmarks/gpu_check.sh [all|synthetic|compile|e2e]
#
# Each part fits in a 10-minute command: run them one by one where a
# command's time is limited.
set -uo pipefail  # a failed step does not stop the later ones
PART=${1:-all}
case "$PART" in all|synthetic|compile|e2e) ;;
    -h|--help) echo "usage: $0 [all|synthetic|compile|e2e]" \
        "(results in \$OUT, default work_dirs/gpu_check)"; exit 0;;
    *) echo "usage: $0 [all|synthetic|compile|e2e]" >&2; exit 2;; esac
want() { [ "$PART" = all ] || [ "$PART" = "$1" ]; }
cd "$(dirname "$0")/../.."
OUT=${OUT:-work_dirs/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    | tee "$OUT/device.txt"
python -c "import torch; print('torch', torch.__version__)" \
    | tee -a "$OUT/device.txt"

if want synthetic; then
# 1. exactness of the switches still holds on this machine (CPU tests, ~1 min)
timeout 120 python -m pytest tests/test_reference_step.py \
    tests/test_speed_switches.py -q -m "not slow" 2>&1 | tail -3 \
    | tee "$OUT/tests.txt"

# 2. ablation: every switch alone and all together; MAE alongside
timeout 300 python tools/benchmarks/tec_bench.py --device cuda \
    --batch-size 256 --amp bf16 --iters 10 --warmup 3 \
    --variants plain,bf16_base,fused_adamw,all \
    --profile "TEC plain,TEC all" --out "$OUT/synthetic_b256" 2>&1 | tail -80

fi

if want compile; then
# 2b. torch.compile of encoder, decoder and base (compile time reported)
timeout 300 python tools/benchmarks/tec_bench.py --device cuda \
    --batch-size 256 --amp bf16 --iters 10 --warmup 3 --no-mae \
    --variants all,all+compile --out "$OUT/compile_b256" 2>&1 | tail -20

fi

if want e2e; then
# 3. end to end: JPEG folder -> recipe dataloader (PIL, 14 workers) -> step
python tools/benchmarks/make_jpeg_folder.py "$OUT/jpegs" -n 4096 \
    --procs 16 | tail -1
timeout 180 python tools/benchmarks/tec_bench.py --device cuda \
    --batch-size 256 --amp bf16 --iters 10 --warmup 3 --variants all --no-mae \
    --data-root "$OUT/jpegs" --data-prefix train --workers 14 \
    --out "$OUT/e2e_b256" 2>&1 | tail -20
# 4. the same with gpu_decode=True (nvJPEG decode + crop/flip on the GPU)
timeout 180 python tools/benchmarks/tec_bench.py --device cuda \
    --batch-size 256 --amp bf16 --iters 10 --warmup 3 --variants all --no-mae \
    --data-root "$OUT/jpegs" --data-prefix train --workers 14 --gpu-decode \
    --out "$OUT/e2e_gpu_decode_b256" 2>&1 | tail -20
rm -rf "$OUT/jpegs"
fi
