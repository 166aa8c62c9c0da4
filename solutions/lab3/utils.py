"""Small helpers shared by the whole lab: seeding, devices, AMP support, quick mode, run folders."""

from __future__ import annotations

import platform
import random
from pathlib import Path

import numpy as np
import torch

from .settings import value


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device) for reproducible runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(prefer_cuda: bool = True) -> torch.device:
    """``cuda`` when a GPU is present (and wanted), else ``cpu``."""
    if prefer_cuda and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def quick_mode() -> bool:
    """True when ``LAB3_QUICK=1``: experiments shrink so that they finish on a laptop CPU."""
    return value("LAB3_QUICK")


def amp_dtype_for(device: torch.device | str) -> torch.dtype:
    """The autocast dtype the lab uses: float16 on CUDA, bfloat16 on CPU."""
    device = torch.device(device)
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def bf16_supported(device: torch.device | str = "cpu") -> bool:
    """Whether bfloat16 autocast runs *natively* on ``device`` (it always runs, maybe slowly, on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # CPUs with AVX512-BF16 or AMX run bfloat16 matmuls natively; others emulate it (slower than fp32).
    flags = _cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def device_report() -> str:
    """A human-readable report: torch and CUDA versions, GPU name, memory, capability, AMP support.

    Works without a GPU (then it says so and describes the CPU path).
    """
    lines = [
        f"python {platform.python_version()}, torch {torch.__version__}",
        f"CPU threads: {torch.get_num_threads()}; native bf16 on CPU: {bf16_supported('cpu')}",
    ]
    if torch.cuda.is_available():
        lines.append(f"CUDA available: yes (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})")
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(
                f"  GPU {i}: {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}"
            )
        lines.append(f"  AMP: float16 yes, bfloat16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    else:
        lines.append("CUDA available: no — running on CPU; AMP uses bfloat16 autocast (float16 needs CUDA)")
    return "\n".join(lines)


def runs_dir(name: str) -> Path:
    """A TensorBoard log folder ``runs/<name>`` (``LAB3_RUNS_DIR`` overrides ``runs``), created on demand."""
    path = value("LAB3_RUNS_DIR") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
