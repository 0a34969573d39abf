#!/usr/bin/env bash
# The GPU check of issue 11: one GRPO run of a Qwen3-0.6B-shaped model (random weights, LoRA r64) through
# training/grpo.py, timed by phase (benchmarks/gpu_check.py says what is measured and how).
#
# 1. Here, with the project's venv active, once per TRL/datasets version: fetch the wheels the GPU machine lacks
#    (trl, datasets, dill, multiprocess, at the versions installed here, for its Python 3.12) into .whl/, which
#    git ignores:
#        bash benchmarks/gpu_check.sh wheels
# 2. On the GPU machine, from the repository root, with .whl carried (about 2 MB):
#        bash benchmarks/gpu_check.sh [gpu_check.py options]
#    It installs the wheels and the project (from this working tree, without dependencies) into a folder of its
#    own, prints the versions it runs on, and runs gpu_check.py for at most TIMEOUT seconds (default 360: the
#    whole run stays under ~7 minutes). gpu_check.json, the config it trained on and the log go to $OUT
#    (default runs/gpu-check); the model and trainer output to WORK (default /tmp/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}

if [ "${1:-}" = wheels ]; then
    pins=()
    for name in trl datasets dill multiprocess; do
        pins+=("$name==$(python3 -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")")
    done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$WHEELS" "${pins[@]}"
    ls -l "$WHEELS"
    exit 0
fi

OUT=${OUT:-runs/gpu-check}
WORK=${WORK:-/tmp/gpu-check}
SITE=$WORK/site
mkdir -p "$OUT" "$WORK"
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELS"/*.whl .
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1  # nothing is fetched: fail, don't wait
python3 -c "
import importlib.metadata as m, torch
print(*(f'{n} {m.version(n)}' for n in ('torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets',
    'pyarrow', 'huggingface_hub')), sep=', ')
print('GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')
"
timeout "${TIMEOUT:-360}" python3 benchmarks/gpu_check.py --out "$OUT" --work "$WORK" "$@" 2>&1 |
    tee "$OUT/gpu_check.log"
