"""Seeded noise: one independent random stream per (seed, scale, purpose), and the noise maps drawn from it."""
from __future__ import annotations

import numpy as np
import torch


def scale_seed(seed: int, scale: int, stream: int) -> int:
    """An independent 63-bit seed for one random stream of one scale.

    Every scale re-seeds from (seed, scale), so a run resumed at scale n draws exactly what an
    uninterrupted run draws there.
    """
    state = np.random.SeedSequence([seed, scale, stream]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def draw(gen: torch.Generator | None, channels: int, size: tuple[int, int], scale: int) -> torch.Tensor:
    """1 x C x h x w standard normal noise on ``gen``'s device (None: torch's global generator and
    default device); at scale 0 one channel repeated over all channels (as the reference).

    The one noise drawer of the kit: training (:mod:`step`, :mod:`algorithm`) and sampling
    (:func:`draw_noise`, ``sampling.generate.sample_noises``) all draw through it.
    """
    h, w = size
    device = gen.device if gen is not None else None
    if scale == 0:
        return torch.randn(1, 1, h, w, generator=gen, device=device).expand(1, channels, h, w)
    return torch.randn(1, channels, h, w, generator=gen, device=device)


def draw_noise(shape: tuple[int, int, int], scale: int, *, generator: torch.Generator | None = None,
               device=None) -> torch.Tensor:
    """Noise for one sample at one scale: C x h x w (:func:`draw` on ``generator``), moved to ``device``."""
    c, h, w = shape
    return draw(generator, c, (h, w), scale)[0].to(device)


