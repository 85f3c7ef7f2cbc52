"""The WGAN-GP losses of SinGAN-Seg (docs/algorithm.md §4): the critic's gradient penalty, the loss names."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from singanseg_lib.singan.batchnorm import composite_bn

# what ScaleTrainer.step returns, in this order (and what the training history records)
LOSS_NAMES = ("d_loss", "d_real", "d_fake", "gp", "g_adv", "rec_mse")


def penalty(grad: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * mean_pixels((||grad||_2 over channels - 1)^2)``: the norm per pixel, as the reference."""
    return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, a: torch.Tensor,
                     weight: float, *, composite: bool = False) -> torch.Tensor:
    """WGAN-GP term: :func:`penalty` of ``dD/dx`` at x = a * real + (1 - a) * fake.

    ``a`` is one scalar per call, as in the reference; the result keeps its graph (create_graph)
    so that its backward reaches D's weights. ``composite``: D's BatchNorm as elementary
    operations (:func:`~singanseg_lib.singan.batchnorm.composite_bn`), a faster double backward.
    """
    x = (a * real + (1 - a) * fake).detach().requires_grad_(True)
    with composite_bn(D) if composite else contextlib.nullcontext():
        scores = D(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return penalty(grad, weight)
