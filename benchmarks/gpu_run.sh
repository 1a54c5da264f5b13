#!/usr/bin/env bash
# The benchmarks on a GPU: the same scripts as on the CPU box, with `--device cuda`.
#
#   bash benchmarks/gpu_run.sh OUT_DIR MODEL [DATASET ...]
#
# 1. `speed.py --model MODEL --device cuda` alone on the machine (timings are only comparable when nothing else runs);
# 2. `model_quality.py --dataset D --device cuda` for every DATASET (default: all seven), all at once: each trains the
#    default configuration on the GPU (accelerate picks it) and samples there. They share the card, so their training
#    times are those of N jobs on one GPU; the JSON says which device trained and sampled.
#
# Each phase has its own time limit (SPEED_SECONDS, QUALITY_SECONDS), so one slow phase cannot take the other's
# results with it; a job stopped at its limit leaves its log. Results: OUT_DIR/speed_cuda.json,
# OUT_DIR/quality_D_cuda.json, OUT_DIR/*.log, OUT_DIR/gpu.csv. Trained models go to RUN_ROOT (default
# OUT_DIR/runs). DEVICE=cpu QUICK=1 runs the same plumbing on a CPU in a few minutes.
set -u
out=${1:?usage: gpu_run.sh OUT_DIR MODEL [DATASET ...]}
model=${2:?usage: gpu_run.sh OUT_DIR MODEL [DATASET ...]}
shift 2
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(bike metro pm25 hurricane airquality etth1 stocks)
python=${PYTHON:-python}
device=${DEVICE:-cuda}
quick=()
[ -n "${QUICK:-}" ] && quick=(--quick)
run_root=${RUN_ROOT:-$out/runs}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" "$run_root"

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.csv" 2>&1
fi
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee "$out/torch.txt"

started=$(date +%s)
timeout "${SPEED_SECONDS:-300}" "$python" "$here/speed.py" --model "$model" --device "$device" --repeats 3 \
    "${quick[@]}" --output "$out/speed_$device.json" >"$out/speed.log" 2>&1
echo "speed.py: exit $? after $(($(date +%s) - started)) s"

started=$(date +%s)
for dataset in "${datasets[@]}"; do
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} timeout "${QUALITY_SECONDS:-330}" "$python" "$here/model_quality.py" \
        --dataset "$dataset" --device "$device" "${quick[@]}" --run-dir "$run_root/$dataset" \
        --output "$out/quality_${dataset}_$device.json" >"$out/quality_$dataset.log" 2>&1 &
done
failed=0
for job in $(jobs -p); do
    wait "$job" || failed=$((failed + 1))
done
echo "model_quality.py: ${#datasets[@]} data sets, $failed failed or stopped, $(($(date +%s) - started)) s"
