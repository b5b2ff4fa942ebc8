#!/usr/bin/env bash
# The GPU check of the project, in one command for a machine with a CUDA GPU and PyTorch
# (no TensorFlow or Jupyter needed): bash scripts/gpu-check.sh [OUTPUT_DIR]
#
# 1. the device tests (tests/test_device.py: xent.torch on CUDA against PyTorch's built-ins,
#    and the memory targets, read with torch.cuda.max_memory_allocated);
# 2. the full benchmark on CUDA, table on stdout and JSON in OUTPUT_DIR;
# 3. the PyTorch notebooks' code, cell by cell (scripts/run_notebook.py), on the GPU.
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
  || status=1

echo "== benchmark on CUDA"
"$python" -m bench --device cuda --memory per-framework --json "$out/bench-cuda.json" || status=1

for notebook in notebooks/05-pytorch-classifier.ipynb notebooks/09-cross-entropy-at-scale.ipynb; do
  echo "== $notebook"
  "$python" scripts/run_notebook.py "$notebook" || status=1
done
echo "gpu-check: $([ $status = 0 ] && echo all passed || echo FAILED)"
exit $status
