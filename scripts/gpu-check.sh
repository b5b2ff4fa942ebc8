#!/usr/bin/env bash
# The GPU check of the project, in one command for a machine with a CUDA GPU and PyTorch
# (no TensorFlow or Jupyter needed): bash scripts/gpu-check.sh [OUTPUT_DIR]
#
# 1. the device tests (tests/test_device.py: xent.torch on CUDA against PyTorch's built-ins,
#    and the memory targets, read with torch.cuda.max_memory_allocated);
# 2. no synchronisation: every loss, eager and under torch.compile(fullgraph=True), forward
#    and backward, under torch.cuda.set_sync_debug_mode("error"), where any host-device
#    synchronisation raises; and the compile tests (tests/test_compile.py) on this machine;
# 3. the benchmark on CUDA with its compiled rows (torch.compile of xent's cross_entropy and
#    linear_cross_entropy beside compiled F.cross_entropy), table on stdout and JSON in
#    OUTPUT_DIR (BENCH_FLAGS=--full for the language-model sizes);
# 4. the PyTorch notebooks' code, cell by cell (scripts/run_notebook.py), on the GPU.
# Each step runs even if an earlier one failed; the exit status says whether all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-_build/gpu-check}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export WANDB_MODE=offline WANDB_SILENT=true WANDB_DIR="$out" MPLBACKEND=agg
python=${PYTHON:-python3}
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || status=1
"$python" -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" || exit 1

echo "== device tests"
XENT_TEST_DEVICE=cuda "$python" -m pytest -q -p no:cacheprovider tests/test_device.py -o addopts="" --durations=5 \
  -k "not test_no_call_waits_for_the_device" \
  || status=1

echo "== no host-device synchronisation (set_sync_debug_mode('error')), eager and compiled"
XENT_TEST_DEVICE=cuda "$python" -m pytest -q -p no:cacheprovider tests/test_device.py -o addopts="" \
  -k test_no_call_waits_for_the_device -rs || status=1
"$python" -m pytest -q -p no:cacheprovider tests/test_compile.py -o addopts="" || status=1

echo "== benchmark on CUDA, with the compiled rows"
# shellcheck disable=SC2086  # BENCH_FLAGS is a list of flags
"$python" -m xent.bench --device cuda --memory per-framework ${BENCH_FLAGS:-} \
  --json "$out/bench-cuda.json" | tee "$out/bench-cuda.txt" || status=1
echo "-- compiled rows (x compiled: time over compiled F.cross_entropy's)"
grep -E "compile" "$out/bench-cuda.txt" || status=1

for notebook in notebooks/05-pytorch-classifier.ipynb notebooks/09-cross-entropy-at-scale.ipynb; do
  echo "== $notebook"
  "$python" scripts/run_notebook.py "$notebook" || status=1
done
echo "gpu-check: $([ $status = 0 ] && echo all passed || echo FAILED)"
exit $status
