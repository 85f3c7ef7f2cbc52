"""The SinGAN-Seg training iteration, written plainly: what the reference code computes, waste included.

Notebook 01 shows :meth:`ReferenceIteration.step` to students as "the algorithm" (one critic
and generator update at one scale, docs/algorithm.md §3 and §4). The kit trains with
:class:`~singanseg_lib.singan.step.ScaleTrainer`, which computes the same numbers faster;
``tests/singan/test_step.py`` holds the two equal in float64 and ``benchmarks/bench_train.py`` times
them against each other. Written from the description in docs/algorithm.md (no reference code
copied). Per iteration, like the reference:

- every critic step re-runs all frozen coarser generators (grad mode on, batch 1) and, with
  ``uint8_resize=True``, passes each coarser output through a CPU uint8 round trip and a
  NumPy MATLAB-style bicubic resize whose weights are recomputed on every call;
- three separate backward calls per critic step (real, fake, gradient penalty);
- ``g_steps`` full generator passes (D forward and backward with D's weight gradients, the
  reconstruction forward and backward), the gradients zeroed before each, one optimiser step;
- per-parameter (for-loop) Adam.

It draws its random numbers from the same streams in the same order as ScaleTrainer, so with
``uint8_resize=False`` both give the same networks up to float rounding.
"""
from __future__ import annotations

import copy
import inspect
import math
import textwrap

import numpy as np
import torch
import torch.nn.functional as F

from singanseg_lib.singan.models import pad
from singanseg_lib.singan.noise import draw, make_generator, scale_seed
from singanseg_lib.singan.pyramid import upsample_to


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of a 1-D MATLAB-style cubic resize, recomputed per call as the reference does."""
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    centre = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    pos = left[:, None] + np.arange(taps)[None, :] - 1
    dist = centre[:, None] - pos - 1
    w = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    period = 2 * in_len
    idx = np.mod(pos.astype(np.int64), period)
    idx = np.where(idx >= in_len, period - 1 - idx, idx)
    return idx, w


def numpy_uint8_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """1 x C x h x w in [-1, 1] -> uint8 on the CPU -> NumPy resize -> uint8 -> back to x's device."""
    img = ((x[0].detach().permute(1, 2, 0).clamp(-1, 1) + 1) / 2 * 255).cpu().numpy().astype(np.uint8)
    out = img.astype(np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        idx, w = _weights(n, math.ceil(n * scale), scale)
        gathered = np.take(out, idx, axis=axis)  # out_len x taps along `axis`
        shape = [1] * gathered.ndim
        shape[axis], shape[axis + 1] = w.shape
        out = (gathered * w.reshape(shape)).sum(axis=axis + 1)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    t = torch.from_numpy(out.astype(np.float32) / 255).permute(2, 0, 1)[None].to(x.device)
    return (t * 2 - 1).clamp(-1, 1)


class ReferenceIteration:
    """The reference's iteration at scale ``pyramid.num_trained`` (same interface as ScaleTrainer.step)."""

    def __init__(self, pyramid, real, G, D, cfg, *, seed: int, uint8_resize: bool = True):
        self.pyr, self.real, self.G, self.D, self.cfg = pyramid, real, G, D, cfg
        self.scale, self.uint8 = pyramid.num_trained, uint8_resize
        self.channels, self.size = real.shape[1], tuple(real.shape[-2:])
        self.p = G.pad_size
        self.noise_gen, self.prev_gen, self.gp_gen = (
            make_generator(scale_seed(seed, self.scale, k), real.device) for k in range(3))
        G.train(), D.train()
        if self.scale == 0:
            self.z_prev, self.noise_amp = torch.zeros_like(real), 1.0
        else:
            self.z_prev = self._coarser(rand=False)
            self.noise_amp = cfg.noise_amp_factor * math.sqrt(F.mse_loss(self.z_prev, real).item())
        self.z_opt = torch.zeros_like(real)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas), foreach=False)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), foreach=False)
        milestone = [round(cfg.lr_milestone * cfg.iters_per_scale)]
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestone, gamma=cfg.lr_gamma)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestone, gamma=cfg.lr_gamma)

    def _up(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        if not self.uint8:
            return upsample_to(x, self.pyr.plan, scale)
        h, w = self.pyr.plan.sizes[scale]
        return numpy_uint8_resize(x, 1 / self.pyr.plan.scale_factor)[..., :h, :w]

    def _coarser(self, *, rand: bool) -> torch.Tensor:
        """The coarser scales' image at this scale: fresh noise ('rand') or the stored z_opt ('rec')."""
        out = None
        for s in range(self.scale):
            prev = torch.zeros(1, self.channels, *self.pyr.plan.sizes[0], device=self.real.device) if s == 0 \
                else self._up(out, s)
            z = draw(self.prev_gen, self.channels, self.pyr.plan.sizes[s], s) if rand else self.pyr.z_opt(s)
            out = self.pyr.run_scale(s, z, prev)
        return self._up(out, self.scale)

    def step(self) -> torch.Tensor:
        cfg, p = self.cfg, self.p
        if self.scale == 0:
            self.z_opt = draw(self.noise_gen, self.channels, self.size, 0)
        noise = pad(draw(self.noise_gen, self.channels, self.size, self.scale), p)
        prevs = [self._coarser(rand=True) if self.scale else torch.zeros_like(self.real)
                 for _ in range(cfg.d_steps)]
        for j in range(cfg.d_steps):
            self.D.zero_grad()
            err_real = -self.D(self.real).mean()
            err_real.backward(retain_graph=True)
            prev = pad(prevs[j], p)
            fake = self.G(self.noise_amp * noise + prev, prev)
            err_fake = self.D(fake.detach()).mean()
            err_fake.backward(retain_graph=True)
            a = torch.rand(1, generator=self.gp_gen, device=self.gp_gen.device)
            x = (a * self.real + (1 - a) * fake).detach().requires_grad_(True)
            out = self.D(x)
            (grad,) = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True, retain_graph=True)
            gp = cfg.gp_weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()
            gp.backward()
            self.opt_d.step()
        z_prev = pad(self.z_prev, p)
        for _ in range(cfg.g_steps):
            self.G.zero_grad()
            err_g = -self.D(fake).mean()
            err_g.backward(retain_graph=True)
            rec = self.G(self.noise_amp * pad(self.z_opt, p) + z_prev, z_prev)
            rec_mse = F.mse_loss(rec, self.real)
            (cfg.rec_weight * rec_mse).backward(retain_graph=True)
        self.opt_g.step()
        self.sched_d.step()
        self.sched_g.step()
        d_loss = err_real + err_fake + gp
        return torch.stack([d_loss, -err_real, err_fake, gp, err_g, rec_mse]).detach()



def iteration_source() -> str:
    """The source of :meth:`ReferenceIteration.step`, for notebook 01 to show."""
    return textwrap.dedent(inspect.getsource(ReferenceIteration.step))


def compare_with_kit(image: torch.Tensor, cfg, *, seed: int = 0, iterations: int = 3) -> dict[str, float]:
    """Train scale 0 of ``image`` (1 x 4 x H x W in [-1, 1]) with both iterations from the same weights.

    Defined for notebook 01. ``cfg`` is a :class:`~singanseg_lib.singan.config.TrainConfig`. Both
    run in float64 with the float resize, so what differs is rounding only. Returns the largest
    difference of the losses and of the networks' weights after ``iterations`` (convolution biases
    just before a BatchNorm are left out: their exact gradient is 0, so they hold rounding noise
    that Adam scales up to its step size), and the seconds of each.
    """
    import time

    from singanseg_lib.singan.layout import Layout
    from singanseg_lib.singan.models import SinGANPyramid
    from singanseg_lib.singan.pyramid import build_pyramid
    from singanseg_lib.singan.step import ScaleTrainer
    from singanseg_lib.singan.train import init_networks

    plan = cfg.plan(*image.shape[-2:])
    real = build_pyramid(image.double(), plan)[0]
    pyramid = SinGANPyramid(plan).double()
    G, D = (net.double() for net in init_networks(cfg, 0, plan.widths[0], seed, None))
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    kit = ScaleTrainer(pyramid, real, G, D, cfg, seed=seed, layout=Layout())
    plain = ReferenceIteration(pyramid, real, G2, D2, cfg, seed=seed, uint8_resize=False)
    seconds, loss_diff = {"kit": 0.0, "plain": 0.0}, 0.0
    for _ in range(iterations):
        start = time.perf_counter()
        ours = kit.step()
        seconds["kit"] += time.perf_counter() - start
        start = time.perf_counter()
        theirs = plain.step()
        seconds["plain"] += time.perf_counter() - start
        loss_diff = max(loss_diff, float((ours - theirs).abs().max()))
    weight_diff = max(float((a - b).abs().max()) for net, twin in ((G, G2), (D, D2))
                      for (name, a), b in zip(net.named_parameters(), twin.parameters())
                      if not name.endswith(("conv.bias", "tail.bias")))
    return {"iterations": iterations, "max_loss_difference": loss_diff, "max_weight_difference": weight_diff,
            "seconds_kit": seconds["kit"], "seconds_plain": seconds["plain"]}
