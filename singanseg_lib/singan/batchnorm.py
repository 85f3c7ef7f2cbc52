"""BatchNorm exactly as the reference's batch-1 forwards use it, with fewer or batched forwards.

During training every forward of the scale being trained runs in train mode with one image:
BatchNorm normalises with that image's own statistics and moves its running statistics
(``r <- (1 - m) r + m x``, unbiased variance) once per forward. The running statistics of G
are what eval-mode generation uses later, so they must come out as the reference's.

- :func:`bn_updates_as`: one forward standing for k identical forwards (the reference's
  repeated generator passes): momentum ``1 - (1 - m) ** k``, the k-fold update in closed form.
- :func:`per_sample_bn`: one batch-N forward standing for N batch-1 forwards in order. Each
  sample is normalised by its own statistics (instance-norm computation with BatchNorm's
  affine parameters: the same kernel as a batch-1 BatchNorm) and the running statistics
  receive the N sequential updates in closed form, sample i counted ``repeats[i]`` times.

- :func:`composite_bn`: BatchNorm written as elementary differentiable operations. Same
  function, but its second derivative (the gradient penalty differentiates through the
  critic's input gradient) runs as a few whole-tensor operations instead of PyTorch's generic
  BatchNorm double backward, which is slower on large activations.

All agree with the sequential native forwards up to float rounding (``tests/singan/test_batchnorm.py``).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


def _train_bns(module: nn.Module) -> list[nn.BatchNorm2d]:
    bns = [m for m in module.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    if any(m.momentum is None for m in bns):
        raise ValueError("BatchNorm with momentum=None (cumulative average) is not supported")
    return bns


@contextlib.contextmanager
def bn_updates_as(module: nn.Module, times: int):
    """Inside, one forward updates running statistics as ``times`` identical forwards would."""
    bns = _train_bns(module)
    if times == 1 or not bns:
        yield
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1 - (1 - m.momentum) ** times
    try:
        yield
        for m in bns:
            m.num_batches_tracked += times - 1
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


def _update_coefficients(momentum: float, repeats: list[int], device, dtype) -> tuple[float, torch.Tensor]:
    """(decay, coef) with ``r_after = decay * r + sum_i coef[i] * x_i`` for the sequential updates."""
    keep = [(1 - momentum) ** k for k in repeats]
    coef, decay = [], 1.0
    for i in range(len(repeats) - 1, -1, -1):  # later samples are decayed less
        coef.append(decay * (1 - keep[i]))
        decay *= keep[i]
    return decay, torch.tensor(coef[::-1], device=device, dtype=dtype)


def _per_sample_forward(bn: nn.BatchNorm2d, repeats: list[int]):
    def forward(x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        if n != len(repeats):
            raise ValueError(f"per_sample_bn: batch of {n}, {len(repeats)} repeat counts given")
        # BatchNorm over the N*C "channels" of one image: each sample by its own statistics (what
        # instance_norm does); with momentum 1 the buffers receive exactly those statistics.
        stats = torch.zeros(2, n * c, device=x.device, dtype=bn.running_mean.dtype)
        y = F.batch_norm(x.reshape(1, n * c, *x.shape[2:]), stats[0], stats[1], bn.weight.repeat(n),
                         bn.bias.repeat(n), training=True, momentum=1.0, eps=bn.eps)
        if any(repeats):
            with torch.no_grad():
                decay, coef = _update_coefficients(bn.momentum, repeats, x.device, bn.running_mean.dtype)
                # .data: like the native kernel, move the statistics without bumping their version
                # counter (native BatchNorm nodes of earlier forwards saved them for backward)
                bn.running_mean.data.mul_(decay).add_(coef @ stats[0].view(n, c))
                bn.running_var.data.mul_(decay).add_(coef @ stats[1].view(n, c))
                bn.num_batches_tracked += sum(repeats)
        return y.view_as(x)
    return forward


def per_sample_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, repeats: list[int] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A train-mode BatchNorm of N samples as N batch-1 calls in order, written out: ``(y, a, xhat)``.

    Each sample normalised by its own statistics (``xhat``, N x C x h x w; ``a``: N x C x 1 x 1,
    ``1 / sqrt(var + eps)``; ``y = weight * xhat + bias``), the running statistics moved by the
    sequential updates in closed form, sample i counted ``repeats[i]`` times (default once; as
    :func:`per_sample_bn`). Elementary operations only: torch.compile fuses them (the compiled
    steps of :mod:`~singanseg_lib.singan.step`), and the critic step differentiates through them.
    """
    if not (bn.training and bn.track_running_stats) or bn.momentum is None:
        raise ValueError("per_sample_batch_norm: a train-mode BatchNorm with running statistics and a momentum")
    n, c = x.shape[:2]
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    inv_std = torch.rsqrt(var + bn.eps)
    xhat = (x - mean) * inv_std
    with torch.no_grad():
        repeats = [1] * n if repeats is None else list(repeats)
        decay, coef = _update_coefficients(bn.momentum, repeats, x.device, bn.running_mean.dtype)
        pixels = x.shape[2] * x.shape[3]
        bn.running_mean.mul_(decay).add_(coef @ mean.view(n, c).to(coef.dtype))
        bn.running_var.mul_(decay).add_(coef @ var.view(n, c).to(coef.dtype) * (pixels / (pixels - 1)))
        bn.num_batches_tracked += sum(repeats)
    return xhat * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1), inv_std, xhat


@contextlib.contextmanager
def per_sample_bn(module: nn.Module, repeats: list[int]):
    """Inside, a batch-N forward of ``module`` computes what N batch-1 train-mode forwards would.

    ``repeats[i]``: how many sequential running-statistics updates sample i stands for (0: it
    was already counted, e.g. a recomputed output). Gradients are those of the separate forwards.
    """
    bns = _train_bns(module)
    for bn in bns:
        bn.forward = _per_sample_forward(bn, list(repeats))
    try:
        yield
    finally:
        for bn in bns:
            del bn.forward


def _composite_forward(bn: nn.BatchNorm2d):
    def forward(x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=(0, 2, 3), keepdim=True, correction=0)
        y = (x - mean) * (torch.rsqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1)) + bn.bias.view(1, -1, 1, 1)
        with torch.no_grad():
            n = x.numel() // x.shape[1]
            bn.running_mean.data.mul_(1 - bn.momentum).add_(mean.flatten(), alpha=bn.momentum)  # .data: see above
            bn.running_var.data.mul_(1 - bn.momentum).add_(var.flatten() * (n / (n - 1)), alpha=bn.momentum)
            bn.num_batches_tracked += 1
        return y
    return forward


@contextlib.contextmanager
def composite_bn(module: nn.Module):
    """Inside, ``module``'s train-mode BatchNorms compute as elementary operations (same results)."""
    bns = _train_bns(module)
    for bn in bns:
        bn.forward = _composite_forward(bn)
    try:
        yield
    finally:
        for bn in bns:
            del bn.forward
