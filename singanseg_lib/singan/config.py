"""TrainConfig: every setting of SinGAN-Seg training, with the reference code's defaults."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from singanseg_lib.singan.pyramid import ScalePlan

# Config fields that choose how the arithmetic runs, not what is computed: a model may be
# resumed with other values (results then agree up to rounding, not bit for bit).
EXECUTION_FIELDS = ("device", "channels_last", "compile_steps", "deterministic", "state_every")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of SinGAN-Seg training; defaults are the reference code's (docs/algorithm.md §2-4).

    Reference option names in brackets. Presets change fields by name
    (``presets.config_from_preset(TrainConfig, "classroom")``).
    """

    # the pyramid
    min_size: int = 25               # short side of the coarsest scale, px [min_size]
    max_size: int = 250              # long side of the finest scale, px [max_size]
    scale_factor_init: float = 0.75  # factor between scales before the per-image adjustment [scale_factor]
    # the networks (5 conv layers: head, 3 body blocks, tail; same width within a scale)
    nfc: int = 32                    # channels per layer at scales 0-3, doubling every 4 scales [nfc]
    max_nfc: int = 128               # cap on channels per layer [min(..., 128) in train()]
    kernel_size: int = 3             # convolution kernel, unpadded [ker_size]
    num_layers: int = 5              # conv layers per network [num_layer]
    # the optimisation
    iters_per_scale: int = 2000      # iterations per scale [niter]
    lr_g: float = 5e-4               # Adam learning rate of G [lr_g]
    lr_d: float = 5e-4               # Adam learning rate of D [lr_d]
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas [beta1, 0.999]
    # MultiStepLR: the learning rates drop by lr_gamma after this fraction of iters_per_scale.
    # The reference hard-codes iteration 1600 of 2000 (= 0.8); a fraction keeps that schedule
    # when a preset trains fewer iterations (milestone = round(lr_milestone * iters_per_scale)).
    lr_milestone: float = 0.8
    lr_gamma: float = 0.1            # [gamma]
    d_steps: int = 3                 # critic steps per iteration [Dsteps]
    g_steps: int = 3                 # generator passes per iteration [Gsteps]
    # "once": the SinGAN-Seg code (zero_grad inside the g_steps passes, one Adam step after
    # them = one update per iteration; docs/algorithm.md §4.4). "per_step": the original
    # SinGAN, an Adam step after every pass (the paper's description).
    g_update: Literal["once", "per_step"] = "once"
    rec_weight: float = 10.0         # weight of the reconstruction MSE in G's loss [alpha]
    gp_weight: float = 0.1           # weight of the gradient penalty [lambda_grad]
    noise_amp_factor: float = 0.1    # noise_amp = this * RMSE(real, upsampled reconstruction) [noise_amp]
    # how it runs (not what it computes)
    device: str = "auto"             # auto | cpu | cuda | cuda:N | mps
    # fp32 (default): full float32, also on CUDA (TF32 off). tf32: CUDA TF32 matmul/conv.
    # bf16: bfloat16 autocast (CPU or CUDA). Both options change results; measure before use.
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    # memory layout of the networks (same arithmetic up to rounding): auto = what measured
    # fastest (layout_for); on/off = both networks channels-last / NCHW
    channels_last: Literal["auto", "on", "off"] = "auto"
    # torch.compile the training steps (Layout.compiled; needs a C++ compiler on a CPU, else it
    # warns and runs without): auto = on a CPU when iters_per_scale >= CPU_COMPILE_MIN_ITERS
    compile_steps: Literal["auto", "on", "off"] = "auto"
    deterministic: bool = True       # CUDA: deterministic cuDNN kernels (identical reruns); CPU always is
    # write a resumable state of the scale in training every N iterations (0: only at finished
    # scales); a killed run then loses at most N iterations (singan/resume.py)
    state_every: int = 100

    def __post_init__(self):
        checks = [(self.min_size > 2 * (self.kernel_size - 1) * self.num_layers // 2, "min_size",
                   "larger than what the networks' unpadded convolutions take off (2 x pad)"),
                  (self.max_size >= self.min_size, "max_size", "at least min_size"),
                  (0 < self.scale_factor_init < 1, "scale_factor_init", "in (0, 1)"),
                  (self.nfc >= 1 and self.max_nfc >= self.nfc, "nfc/max_nfc", "positive with max_nfc >= nfc"),
                  (self.kernel_size % 2 == 1, "kernel_size", "odd"),
                  (self.num_layers >= 2, "num_layers", "at least 2 (head and tail)"),
                  (self.iters_per_scale >= 1, "iters_per_scale", "at least 1"),
                  (self.state_every >= 0, "state_every", "0 or more"),
                  (self.d_steps >= 1 and self.g_steps >= 1, "d_steps/g_steps", "at least 1"),
                  (0 < self.lr_milestone <= 1, "lr_milestone", "a fraction in (0, 1]"),
                  (self.rec_weight >= 0 and self.gp_weight >= 0, "rec_weight/gp_weight", "non-negative")]
        for ok, name, what in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} must be {what}; got {self}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def plan(self, height: int, width: int) -> ScalePlan:
        """The scale plan of an image of ``height`` x ``width`` px under these settings (the one
        place the pyramid fields reach :func:`~singanseg_lib.singan.pyramid.plan_scales`)."""
        from singanseg_lib.singan.pyramid import plan_scales

        return plan_scales(height, width, min_size=self.min_size, max_size=self.max_size,
                           scale_factor_init=self.scale_factor_init, nfc=self.nfc, max_nfc=self.max_nfc)


