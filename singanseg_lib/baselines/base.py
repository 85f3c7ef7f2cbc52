"""What every baseline GAN is to the rest of the kit: one ``nn.Module`` holding its generator,
discriminator and optimisers, with a seeded latent draw, a generator pass and one training step.

The trainer (:mod:`singanseg_lib.baselines.train`) only talks to this interface: it feeds
``train_step`` batches of real 4-channel tensors ``N x 4 x size x size`` in ``[-1, 1]`` (RGB, then
the mask as -1 background / +1 polyp), saves ``state_dict()`` and ``optimizer_states()``, and
samples through ``latent`` and ``generate``. A GAN's hyper-parameters are its constructor's
keyword arguments; their defaults are those of its paper, and ``config`` (JSON-able) is what
rebuilds it, saved beside the weights.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["Baseline", "threshold_masks"]


class Baseline(nn.Module):
    """A 4-channel data-set GAN (see the module docstring for the contract).

    Subclasses set ``name`` (the row key of the paper's Table 4), ``paper`` (the citation their
    architecture follows) and ``deviations`` (what differs from that paper and from the SinGAN-Seg
    authors' 4-channel runs, said in plain words), call ``super().__init__(size, z_dim, options)``
    and implement :meth:`generate` and :meth:`train_step`.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    deviations: ClassVar[tuple[str, ...]] = ()

    def __init__(self, size: int, z_dim: int, options: dict[str, Any]):
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"{type(self).__name__}: size must be a power of two >= 8, got {size}")
        self.size, self.z_dim = int(size), int(z_dim)
        self.options = dict(options)

    @property
    def config(self) -> dict[str, Any]:
        """What rebuilds this GAN: ``type(gan)(**gan.config)``."""
        return {"size": self.size, **self.options}

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes drawn from ``generator`` (on the CPU, so a seed names the same codes
        on every device), moved to the GAN's device."""
        z = torch.randn(n, self.z_dim, generator=generator)
        return z.to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """``N x 4 x size x size`` in ``[-1, 1]`` for latent codes ``z`` (the sampling generator:
        the averaged one where the GAN keeps an average). No gradients needed."""
        raise NotImplementedError

    def train_step(self, reals: torch.Tensor, step: int, total_steps: int) -> dict[str, float]:
        """One update of D and G on a batch of reals (``N x 4 x size x size``); returns the losses
        (plain floats) to log. ``step`` counts from 0; ``total_steps`` lets schedules (fade-in)
        know where they are."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by name, for checkpoints (their state is saved and restored)."""
        raise NotImplementedError


def threshold_masks(samples: torch.Tensor) -> torch.Tensor:
    """The generated masks as bool ``N x H x W``: the 4th channel above 0 (the middle of [-1, 1])."""
    return samples[:, 3] > 0
