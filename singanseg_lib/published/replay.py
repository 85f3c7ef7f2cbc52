"""The reference code's numerics, replayed: the yardstick for imported checkpoints.

To show that an imported generator computes what the authors' code computed, we need what their
code computes, without running their code (it needs CUDA and executes pickles). This module
re-implements, from reading it, the reference's reconstruction path (``draw_concat(..., 'rec')``
plus the current scale, as in ``train_single_scale``) with its numerics, independently of the
kit's :class:`~singanseg_lib.singan.models.SinGANPyramid`:

- the resize goes through uint8 on the CPU: ``255 * (x + 1) / 2`` in float32, *truncated*
  (``astype(np.uint8)``), resized in float64 (cubic, a = -0.5, antialiased when shrinking,
  one axis after the other), then ``/ 255`` and back to [-1, 1];
- its source indices are cast to ``np.uint`` before the weights are computed, so an index left of
  (or above) the image becomes 2**64 - k, gets weight zero and the remaining weights are
  renormalised: that border is not mirrored (the right and bottom borders are);
- the generator is written functionally from the state dict (conv, eval-mode BatchNorm,
  LeakyReLU(0.2); tail conv, tanh; plus the centre crop of its second input).

All in float32 on the CPU. The kit's own path differs on purpose (float resize with mirrored
borders on any device; see :mod:`singanseg_lib.singan.pyramid`), which is why comparisons against
this replay carry a tolerance.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

PAD = 5  # the reference's ZeroPad2d(((ker_size - 1) * num_layer) / 2) for 3x3 kernels, 5 layers


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Reference ``torch2uint8``: 1 x C x H x W in [-1, 1] -> H x W x C uint8 (truncating)."""
    x = x[0].permute(1, 2, 0).float()
    x = 255 * ((x + 1) / 2).clamp(0, 1)
    return x.cpu().numpy().astype(np.uint8)


def from_uint8(a: np.ndarray) -> torch.Tensor:
    """Reference ``np2torch``: H x W x C (uint8 or float64 in 0..255) -> 1 x C x H x W float32 in [-1, 1]."""
    x = torch.from_numpy(a[:, :, :, None].transpose(3, 2, 0, 1) / 255).float()
    return ((x - 0.5) * 2).clamp(-1, 1)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2)))


def contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and source indices (out_len x taps) of a 1-D resize, border quirk included."""
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    out = np.arange(1, out_len + 1)
    centre = out / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centre - width / 2)
    taps = int(np.ceil(width) + 2)
    with np.errstate(invalid="ignore"):  # the reference's negative-to-unsigned cast
        fov = np.uint(left[:, None] + np.arange(taps) - 1)
    dist = centre[:, None] - fov - 1  # float64: the wrapped indices give huge distances, zero weight
    w = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    total = w.sum(axis=1)
    total[total == 0] = 1.0
    w = w / total[:, None]
    mirror = np.uint(np.concatenate((np.arange(in_len), np.arange(in_len - 1, -1, -1))))
    return w, mirror[np.mod(fov, mirror.shape[0])]


def _resize_axis(a: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    w, fov = contributions(a.shape[axis], out_len, scale)
    moved = np.swapaxes(a, axis, 0)
    out = np.sum(moved[fov.T] * w.T.reshape(w.shape[1], w.shape[0], *([1] * (moved.ndim - 1))), axis=0)
    return np.swapaxes(out, axis, 0)


def imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Reference ``imresize(x, scale)``: through uint8, output ``ceil(size * scale)``."""
    a = to_uint8(x)
    out_shape = [int(math.ceil(n * scale)) for n in a.shape[:2]]
    out = a
    if scale != 1.0:
        out = out.astype(np.float64)  # the reference multiplies the uint8 pixels by float64 weights
        for axis in (0, 1):
            out = _resize_axis(out, axis, out_shape[axis], scale)
    return from_uint8(out)


def _block(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    x = F.conv2d(x, state[f"{prefix}.conv.weight"], state[f"{prefix}.conv.bias"])
    x = F.batch_norm(x, state[f"{prefix}.norm.running_mean"], state[f"{prefix}.norm.running_var"],
                     state[f"{prefix}.norm.weight"], state[f"{prefix}.norm.bias"], training=False, eps=1e-5)
    return F.leaky_relu(x, 0.2)


def generator_forward(state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``GeneratorConcatSkip2CleanAdd.forward(x, y)`` from its state dict (eval mode)."""
    x = _block(state, "head", x)
    i = 1
    while f"body.block{i}.conv.weight" in state:
        x = _block(state, f"body.block{i}", x)
        i += 1
    x = torch.tanh(F.conv2d(x, state["tail.0.weight"], state["tail.0.bias"]))
    ind = (y.shape[2] - x.shape[2]) // 2
    return x + y[:, :, ind:y.shape[2] - ind, ind:y.shape[3] - ind]


def reconstruct(states: list[dict[str, torch.Tensor]], zs_padded: list[torch.Tensor], noise_amps: list[float],
                reals: list[torch.Tensor], scale_factor: float) -> tuple[list[torch.Tensor], list[float]]:
    """The reference's reconstruction at every trained scale, and the noise amplitudes it implies.

    ``zs_padded``: the reference's ``Zs`` as stored (padded by 5 px; bool zeros allowed).
    Returns the outputs (1 x C x h x w per scale) and, for scales >= 1, ``0.1 * RMSE(real_n,
    upsampled reconstruction of n-1)`` as ``train_single_scale`` computes it (scale 0: 1.0);
    matching the stored amplitudes proves this replay follows the reference's path.
    """
    outs, amps = [], [1.0]
    prev = torch.zeros(1, reals[0].shape[1], *reals[0].shape[2:])
    with torch.no_grad():
        for n, state in enumerate(states):
            if n > 0:
                prev = imresize(outs[-1], 1 / scale_factor)[:, :, :reals[n].shape[2], :reals[n].shape[3]]
                amps.append(0.1 * math.sqrt(F.mse_loss(reals[n], prev).item()))
            prev_padded = F.pad(prev, (PAD,) * 4)
            z_in = float(noise_amps[n]) * zs_padded[n].float() + prev_padded
            outs.append(generator_forward(state, z_in, prev_padded))
    return outs, amps


def compare_reconstructions(ref, pyramid) -> dict:
    """The reference's reconstruction (this replay) next to the kit's, for a notebook or a report.

    ``ref``: a :class:`~singanseg_lib.published.importer.ReferenceCheckpoint`; ``pyramid``: the kit's
    pyramid of the same model. Returns the finest real, both reconstructions (1 x C x h x w) and
    numbers: RMSE of each against the real image, RMSE between them, share of mask pixels on
    which they disagree, per-channel mean difference (kit - reference), and the largest relative
    error of the noise amplitudes the replay implies against the stored ones (the evidence that
    the replay follows the reference).
    """
    outs, amps = reconstruct(ref.states, ref.zs_padded, ref.noise_amps, ref.reals, pyramid.plan.scale_factor)
    with torch.no_grad():
        kit = pyramid.reconstruct()[-1].detach().cpu()
    theirs, real = outs[-1], ref.reals[len(outs) - 1]

    def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).pow(2).mean().sqrt())

    stored = torch.tensor(ref.noise_amps[1:len(amps)], dtype=torch.float64)
    implied = torch.tensor(amps[1:], dtype=torch.float64)
    amp_err = float(((implied - stored).abs() / stored).max()) if len(amps) > 1 else 0.0
    return {"real": real, "reference": theirs, "kit": kit,
            "rmse_reference": rmse(theirs, real), "rmse_kit": rmse(kit, real),
            "rmse_kit_vs_reference": rmse(kit, theirs),
            "mask_disagreement": float(((kit[:, 3] > 0) != (theirs[:, 3] > 0)).float().mean()),
            "mean_shift": (kit - theirs).mean(dim=(0, 2, 3)).tolist(), "noise_amp_rel_err": amp_err}
