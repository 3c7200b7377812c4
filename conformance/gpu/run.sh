#!/usr/bin/env bash
# The prepared device check for a lent GPU machine (its image has torch, JAX, flax and timm, no
# TensorFlow, no network): runs the training bench for torch and JAX on EfficientNetV2-S at
# 128/192/256/300 px in bf16, and fp32 at 192 px, writing JSON (+ Markdown, PNG) to the output folder.
# Nothing is downloaded: the project runs from this working tree via PYTHONPATH.
#
#   conformance/gpu/run.sh [--device gpu|cpu] [--out DIR]
#
# `--device cpu` runs the same path at tiny sizes, so CI exercises the script on every commit.
set -euo pipefail
device=gpu
out=${OUT:-out/gpu}
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--device gpu|cpu] [--out DIR]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
python3 - <<'PY'
import importlib, sys
missing = [m for m in ("numpy", "yaml", "jsonschema", "safetensors", "tqdm", "matplotlib", "torch", "jax", "flax")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages on this machine: {', '.join(missing)} (carry them as wheels)")
PY
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"; } > "$out/device.txt"
python3 -c "import torch, jax, flax; print('torch', torch.__version__, 'cuda', torch.version.cuda); print('jax', jax.__version__, jax.devices()); print('flax', flax.__version__)" >> "$out/device.txt"
if [ "$device" = gpu ]; then
  common=(--backends torch,jax --model efficientnetv2-s --batch-size 32 --device gpu --steps 10 --repeats 3 --timeout 240 --no-progress)
  python3 -m effnet bench train "${common[@]}" --sizes 128,192,256,300 --precision bf16 --modes "eager channels_last,jit depthwise=xla" --out "$out"
  python3 -m effnet bench train "${common[@]}" --sizes 192 --precision fp32 --modes "eager channels_last,jit depthwise=xla" --out "$out"
else
  common=(--backends torch,jax --model efficientnetv2-b0 --batch-size 2 --device cpu --steps 1 --repeats 1 --no-progress)
  python3 -m effnet bench train "${common[@]}" --sizes 33 --precision bf16 --modes "eager NCHW,jit depthwise=xla" --out "$out"
  python3 -m effnet bench train "${common[@]}" --sizes 33 --precision fp32 --modes "eager NCHW,jit depthwise=xla" --out "$out"
fi
ls "$out"
