#!/usr/bin/env bash
# One GPU, one short run (benchmarks/gpu_check.py): under 8 minutes, so that a rerun fits in the
# GPU machine's 15 minutes. Writes gpu_check.json and gpu_check_samples.safetensors to $OUT (the
# device machine's return folder) or benchmarks/results/.
#   benchmarks/gpu_check.sh              on the GPU machine (its own python3 with torch)
#   benchmarks/gpu_check.sh --dry-run    tiny sizes, on any machine
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 470 "$PY" benchmarks/gpu_check.py "$@"
