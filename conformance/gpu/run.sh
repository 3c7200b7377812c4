#!/usr/bin/env bash
# The prepared device check for a lent GPU machine (its image has torch, JAX, flax and timm, no
# TensorFlow, no network): the training bench on EfficientNetV2-S, batch 32: the step `effnet train`
# runs (engine) beside the bare step, for our torch and JAX engines and timm's train.py step, in bf16
# at 300 px (plus end to end on the built-in data, generated on the machine) and fp32 at 192 px,
# writing JSON (+ Markdown, PNG) to the output folder.
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
# Each run writes train_<model>_<device>_<precision>_engine.{json,md,png}: bare, engine and (bf16)
# end-to-end rows for our torch and JAX engines and timm's train.py step, side by side.
if [ "$device" = gpu ]; then
  common=(--step engine --backends torch,jax,timm --model efficientnetv2-s --batch-size 32 --device gpu --steps 10 --repeats 3 --timeout 240 --no-progress --modes "eager channels_last,jit depthwise=xla")
  python3 -m effnet bench train "${common[@]}" --sizes 300 --precision bf16 --data builtin --out "$out"
  python3 -m effnet bench train "${common[@]}" --sizes 192 --precision fp32 --out "$out"
else
  common=(--step engine --backends torch,jax,timm --model efficientnetv2-b0 --batch-size 2 --device cpu --steps 1 --repeats 1 --no-progress --modes "eager NCHW,jit depthwise=xla")
  python3 -m effnet bench train "${common[@]}" --sizes 33 --precision bf16 --data builtin --out "$out"
  # fp32: the second command line, torch alone (JAX's fp32 engine is tested throughout CI; each JAX row
  # here is a ~30 s compile)
  python3 -m effnet bench train "${common[@]}" --sizes 33 --precision fp32 --backends torch --modes "eager NCHW" --out "$out"
fi
ls "$out"
