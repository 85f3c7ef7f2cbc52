"""How a scale's arithmetic is laid out: memory formats, batching, compiling (same results up to rounding)."""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

import torch

from singanseg_lib.singan.config import TrainConfig

COMPILE_FAILURES: list[str] = []  # why torch.compile failed in this process (it is tried once)

# CPU layout rules, measured (whole iterations, interleaved, 622x529 polyp, widths 32/64/128):
# the generator runs faster channels-last from width 64 (10-18 %); the critic stays NCHW (its
# gradient penalty's BatchNorm double backward is 20-50 % slower channels-last at every width);
# the gradient penalty's forward with elementary-operation BatchNorm is 6 % faster at width
# 128, slower at 64, even at 32.
CPU_G_CHANNELS_LAST_MIN_WIDTH = 64
CPU_GP_COMPOSITE_BN_MIN_WIDTH = 128
# The compiled steps (Layout.compiled) cost 40-100 s of compiling per scale on 2 cores and save
# ~20 ms per iteration at 25x30, ~1.5 s at 213x250: they pay from ~1,000 iterations per scale.
CPU_COMPILE_MIN_ITERS = 1000


def import_cpp_extension_quietly() -> None:
    """Import torch.utils.cpp_extension (inductor will) without its CUDA warning on a CPU machine.

    With torch's CUDA build on a machine that has nvcc but no GPU, that module logs "No CUDA
    runtime is found" once at import: true, and irrelevant to compiling CPU kernels, and it
    looks like an error to a student. Only the import is quietened.
    """
    if torch.cuda.is_available():
        return
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        importlib.import_module("torch.utils.cpp_extension")
    finally:
        log.setLevel(level)


@dataclass(frozen=True)
class Layout:
    """How a scale's arithmetic is laid out; every choice gives the same results up to rounding.

    ``batched``: the generator's critic-step fakes in one forward, the critic's real and fake in
    one forward (per-sample BatchNorm, :mod:`~singanseg_lib.singan.batchnorm`), the generator step's
    fake and reconstruction in one forward: fewer, larger calls.
    """

    g_channels_last: bool = False  # generator weights and activations in NHWC
    d_channels_last: bool = False  # critic weights and activations in NHWC
    batched: bool = False
    gp_composite_bn: bool = False  # gradient-penalty forward with batchnorm.composite_bn
    # The critic step as one torch.compile'd batch-3 pass (real, fake, x_hat; per-sample
    # BatchNorm; the penalty's input gradient written out), its backward compiled with it: fused
    # kernels instead of ~150 small operations and PyTorch's double backward. With one G update
    # per iteration also the critic steps' fakes and the generator step, each one pass.
    compiled: bool = False

    def __post_init__(self):
        if self.compiled and self.batched:
            raise ValueError("Layout: the compiled steps make their own batches; batched must be False")


def layout_for(cfg: TrainConfig, width: int, device: torch.device) -> Layout:
    """Memory formats, batching and compilation for a scale of ``width`` channels on ``device``.

    ``auto`` on a CPU: the rules above, batch-1 calls (batching measured 3-6 % slower), the
    steps compiled for long trainings. On CUDA, where the reference is launch-bound, calls
    are batched and formats stay NCHW (not measured here: no GPU).
    """
    cpu = device.type == "cpu"
    compiled = cfg.compile_steps == "on" or (
        cfg.compile_steps == "auto" and cpu and cfg.iters_per_scale >= CPU_COMPILE_MIN_ITERS)
    # the compiled steps make their own batches, with their own BatchNorm
    batched, composite = not cpu and not compiled, cpu and not compiled and width >= CPU_GP_COMPOSITE_BN_MIN_WIDTH
    if cfg.channels_last != "auto":
        on = cfg.channels_last == "on"
        return Layout(on, on, batched, composite, compiled)
    return Layout(cpu and width >= CPU_G_CHANNELS_LAST_MIN_WIDTH, False, batched, composite, compiled)


