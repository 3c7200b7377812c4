"""The device's peak FLOP/s, for the MFU estimate (model FLOPs utilisation = img/s x 3 x forward
FLOPs / peak). CPU peak = cores x clock x fp32 FLOPs per cycle (two FMA units:
64 with AVX-512, 32 with AVX2); GPU peaks from the vendor's dense figures. An estimate, labelled so."""

from __future__ import annotations

import os
import re
from pathlib import Path

# GPU name fragment -> (fp32 TFLOP/s, bf16 dense TFLOP/s), NVIDIA datasheets (SXM)
GPU_PEAKS = {"H200": (67.0, 989.0), "H100": (67.0, 989.0), "A100": (19.5, 312.0)}


def cpu_peak_flops() -> tuple[float, str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)] or [2000.0]
    flags = re.search(r"flags\s*:(.*)", text)
    per_cycle = 64 if flags and "avx512f" in flags.group(1) else 32
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    peak = cores * max(mhz) * 1e6 * per_cycle
    return peak, f"{cores} cores x {max(mhz):.0f} MHz x {per_cycle} fp32 FLOP/cycle (estimate)"


def gpu_peak_flops(name: str, precision: str) -> tuple[float, str] | None:
    for fragment, (fp32, bf16) in GPU_PEAKS.items():
        if fragment in name:
            value = bf16 if precision == "bf16" else fp32
            return value * 1e12, f"{fragment} datasheet {precision} {value:g} TFLOP/s"
    return None
