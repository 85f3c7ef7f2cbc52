"""The execution environment: seeds, the compute device, and a record of versions.

Resolve the device once, at the edge (a notebook's setup cell, a CLI command) and pass it on;
library functions take ``device`` or follow their input tensor.
"""
from __future__ import annotations

import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from singanseg_lib import __version__
from singanseg_lib.kit.paths import PACKAGE_DIR

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same.

    The generator is for sampling functions that take one, so a batch can be reproduced
    sample by sample.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else Apple MPS, else the CPU; a named device is checked."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but this machine has no usable CUDA GPU; use --device cpu")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    return torch.device(name)


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the kit's checkout (``+dirty`` when it has changes), or None outside git."""
    where = Path(path) if path else PACKAGE_DIR
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=where,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def environment_info(device: str | torch.device | None = None) -> dict:
    """Versions and hardware, recorded next to every result."""
    info = {
        "singanseg_kit": __version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if device is not None:
        info["device"] = str(device)
    return info
