"""One scale of SinGAN-Seg training: the WGAN-GP iteration (docs/algorithm.md §3-4), without the waste.

:class:`ScaleTrainer` trains the generator G and critic D of scale n on top of the frozen,
eval-mode scales 0..n-1. It computes the iteration of
:meth:`singanseg_lib.singan.algorithm.ReferenceIteration.step` (the plain version, read that
first): noise map once per iteration, ``d_steps`` WGAN-GP critic steps on fresh coarser images,
one generator update (adversarial + ``rec_weight`` x reconstruction MSE), one LR-schedule step.

Done differently, with the same result (``tests/singan/test_step.py``: every gradient and
BatchNorm statistic equal to 1e-15 in float64):

- The coarser scales are frozen and eval-mode (their BatchNorm uses running statistics), so
  the rand images of all critic steps, and of several iterations ahead, are one batched
  forward without autograd, resized on the device in float (the reference re-runs the coarser
  generators and a CPU uint8 resize at every critic step).
- G does not change during the critic steps, so its fakes are made up front (only the last
  keeps its autograd graph, for the generator step).
- The reference's ``g_steps`` generator passes zero the gradients before each pass and step
  the optimiser once: ``g_steps`` identical gradients of which one is used. We compute it
  once. The passes' only other effect, ``g_steps`` identical BatchNorm running-statistics
  updates of G (which matter in eval-mode generation) and of D, is applied in closed form
  (:func:`~singanseg_lib.singan.batchnorm.bn_updates_as`).
- D's weight gradients are not computed in the generator step (the reference computes and
  discards them); the critic's three losses take one backward pass instead of three; Adam
  is the fused implementation (one kernel for all tensors).
- :class:`Layout` picks memory formats per network and whether calls are batched (with
  per-sample BatchNorm, :func:`~singanseg_lib.singan.batchnorm.per_sample_bn`); otherwise every
  network forward runs with batch size 1, exactly as the reference's.
- For long trainings the steps are compiled (``Layout.compiled``): the penalty's input gradient
  is written out (:meth:`~singanseg_lib.singan.models.ScaleDiscriminator.scores_and_input_gradient`)
  and each step is one traceable batch pass with per-sample BatchNorm
  (:func:`~singanseg_lib.singan.batchnorm.per_sample_batch_norm`), which torch.compile fuses.

``g_update="per_step"`` is the original SinGAN's three optimiser steps per iteration (each
pass after the first regenerates the fake with the current weights).
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from singanseg_lib.singan.batchnorm import bn_updates_as, per_sample_bn
from singanseg_lib.singan.layout import COMPILE_FAILURES, Layout, import_cpp_extension_quietly
from singanseg_lib.singan.losses import LOSS_NAMES, gradient_penalty, penalty
from singanseg_lib.singan.models import SinGANPyramid, pad
from singanseg_lib.singan.noise import draw, make_generator, scale_seed
from singanseg_lib.singan.pyramid import upsample_to

PREV_BATCH_BYTES = 256 * 2**20   # memory for the batched rand images of the coarser scales
PREV_BATCH_MAX = 48              # samples per batched rand forward



class PhaseTimer:
    """Wall time per phase of an iteration (``with timer("gradient penalty"): ...``)."""

    def __init__(self, device: torch.device):
        self.sync = device.type == "cuda"
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self.sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        yield
        if self.sync:
            torch.cuda.synchronize()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _no_timer(name: str):
    return contextlib.nullcontext()


class ScaleTrainer:
    """Trains ``G`` and ``D`` of scale ``pyramid.num_trained`` on ``real`` (1 x C x h x w, [-1, 1]).

    ``cfg`` is a :class:`~singanseg_lib.singan.config.TrainConfig`. The networks are trained in place;
    after ``cfg.iters_per_scale`` calls of :meth:`step`, ``z_opt`` and ``noise_amp`` complete
    the scale. ``layout`` chooses memory formats and batching (same results up to rounding).
    """

    def __init__(self, pyramid: SinGANPyramid, real: torch.Tensor, G: nn.Module, D: nn.Module, cfg: Any, *,
                 seed: int, layout: Layout = Layout()):
        self.pyr, self.cfg, self.G, self.D = pyramid, cfg, G, D
        self.scale = pyramid.num_trained
        self.device = real.device
        self.layout, self.batched = layout, layout.batched
        self.fmt = torch.channels_last if layout.g_channels_last else torch.contiguous_format  # G's side
        self.dfmt = torch.channels_last if layout.d_channels_last else torch.contiguous_format
        self.real = real.contiguous(memory_format=self.dfmt)
        self.real_g = real.contiguous(memory_format=self.fmt)
        self.channels, self.size = real.shape[1], tuple(real.shape[-2:])
        self.p = G.pad_size
        self.noise_gen, self.prev_gen, self.gp_gen = (
            make_generator(scale_seed(seed, self.scale, k), self.device) for k in range(3))
        self._bf16 = cfg.precision == "bf16"
        G.train().to(memory_format=self.fmt)
        D.train().to(memory_format=self.dfmt)
        with torch.no_grad():
            if self.scale == 0:
                self.z_prev = torch.zeros_like(self.real_g)
                self.noise_amp = 1.0
            else:
                coarser = pyramid.reconstruct()[-1]
                self.z_prev = upsample_to(coarser, pyramid.plan, self.scale).contiguous(memory_format=self.fmt)
                self.noise_amp = cfg.noise_amp_factor * math.sqrt(F.mse_loss(self.z_prev, self.real_g).item())
        self.z_prev_padded = pad(self.z_prev, self.p)
        self.z_opt = torch.zeros_like(self.real_g)
        fused = True if self.device.type in ("cpu", "cuda") else None  # one kernel for all tensors
        self.opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas), fused=fused)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), fused=fused)
        milestone = [round(cfg.lr_milestone * cfg.iters_per_scale)]
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestone, gamma=cfg.lr_gamma)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestone, gamma=cfg.lr_gamma)
        self.history = torch.zeros(cfg.iters_per_scale, len(LOSS_NAMES), device=self.device)
        self.iteration = 0
        self._prevs, self._prev_pos, self._refilled = torch.empty(0), 0, None
        self._last_inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self._fake_graph: torch.Tensor | None = None
        # The compiled layout's steps as one-pass functions: critic losses, and with the
        # reference's one generator update per iteration also the critic steps' fakes and the
        # generator losses. Compiled unless compiling failed (then they run uncompiled).
        self._one_pass = {"critic": self._critic_losses_one_pass}
        if cfg.g_update == "once":
            self._one_pass.update(fakes=self._fakes_one_pass, generator=self._generator_losses_one_pass)
        self._steps, self._ran = {}, set()
        if layout.compiled and COMPILE_FAILURES:  # failed before in this process: not again per scale
            self.layout = replace(layout, compiled=False)
        elif layout.compiled:
            # Each scale has new shapes and networks, so the previous scale's compiled code is
            # never used again; dropping it also keeps dynamo under its recompilation limit
            # (8 per function: a model has up to ~10 scales).
            torch.compiler.reset()
            import_cpp_extension_quietly()
            self._steps = {name: torch.compile(fn, dynamic=False) for name, fn in self._one_pass.items()}
        self._compiling = bool(self._steps)  # stays True if compiling fails: the one-pass steps then run uncompiled

    def _full(self, x: torch.Tensor) -> torch.Tensor:
        """Autocast outputs back to the training dtype (losses and images stay in full precision)."""
        return x.to(self.real.dtype) if self._bf16 else x

    def autocast(self):
        """bfloat16 autocast when ``precision="bf16"`` (never the default), else nothing."""
        if self._bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- the rand path of the coarser scales ---------------------------------------------------

    def _chunk_iterations(self) -> int:
        """How many iterations' rand images to make in one batched forward (memory-bounded)."""
        plan, p = self.pyr.plan, self.p
        per_sample = max(w * (h + 2 * p) * (ww + 2 * p) for w, (h, ww) in
                         zip(plan.widths[:self.scale], plan.sizes[:self.scale])) * 4 * 3
        samples = max(self.cfg.d_steps, min(PREV_BATCH_MAX, PREV_BATCH_BYTES // per_sample))
        left = self.cfg.iters_per_scale - self.iteration
        return max(1, min(samples // self.cfg.d_steps, left))

    def _refill_prevs(self) -> None:
        """Rand images for the next iterations: fresh noise at every coarser scale, frozen generators.

        Noise is drawn per (iteration, critic step, scale) in that order, so the values do not
        depend on how many iterations are batched.
        """
        n, plan = self.scale, self.pyr.plan
        self._refilled = (self.iteration, self.prev_gen.get_state())  # a resumed run redoes this refill
        count = self._chunk_iterations() * self.cfg.d_steps
        per_scale: list[list[torch.Tensor]] = [[] for _ in range(n)]
        for _ in range(count):
            for s in range(n):
                per_scale[s].append(draw(self.prev_gen, self.channels, plan.sizes[s], s))
        noises = [torch.cat(z) for z in per_scale]
        with torch.no_grad(), self.autocast():
            out = self.pyr.generate(noises, upto=n - 1)
            self._prevs = upsample_to(self._full(out), plan, n).contiguous(memory_format=self.fmt)
        self._prev_pos = 0

    def _next_prevs(self) -> torch.Tensor:
        d = self.cfg.d_steps
        if self.scale == 0:
            if len(self._prevs) != d:
                self._prevs = torch.zeros(d, *self.real.shape[1:], device=self.device,
                                          dtype=self.real.dtype).contiguous(memory_format=self.fmt)
            return self._prevs
        if self._prev_pos >= len(self._prevs):
            self._refill_prevs()
        out = self._prevs[self._prev_pos:self._prev_pos + d]
        self._prev_pos += d
        return out

    # -- one iteration ----------------------------------------------------------------------------

    def _generate(self, x: torch.Tensor, prev_padded: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self._full(self.G(x, prev_padded))

    def _critic(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self._full(self.D(x))

    def _critic_real_fake(self, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batched:
            with per_sample_bn(self.D, [1, 1]):
                scores = self._critic(torch.cat([self.real, fake]))
            return scores[0].mean(), scores[1].mean()
        return self._critic(self.real).mean(), self._critic(fake).mean()

    def _gradient_penalty(self, fake: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self._full(gradient_penalty(self.D, self.real, fake, a, self.cfg.gp_weight,
                                               composite=self.layout.gp_composite_bn))

    def _critic_losses(self, fake: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One critic step's loss and its parts (d_loss, d_real, d_fake, gp)."""
        d_real, d_fake = self._critic_real_fake(fake)
        gp = self._gradient_penalty(fake, a)
        return d_fake - d_real + gp, d_real, d_fake, gp

    def _critic_losses_one_pass(self, fake: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`_critic_losses` as one batch-3 pass, what gets compiled: D(real), D(fake) and the
        penalty's D(x) with per-sample BatchNorm in that order (what the three batch-1 calls
        compute, running statistics included), x's input gradient written out."""
        x = a * self.real + (1 - a) * fake
        with self.autocast():
            scores, grad = self.D.scores_and_input_gradient(torch.cat([self.real, fake, x]), per_sample=True,
                                                            rows=slice(2, 3))
        scores, grad = self._full(scores), self._full(grad)
        d_real, d_fake, gp = scores[0].mean(), scores[1].mean(), penalty(grad, self.cfg.gp_weight)
        return d_fake - d_real + gp, d_real, d_fake, gp

    def _fakes_one_pass(self, inputs: torch.Tensor, prevs: torch.Tensor) -> torch.Tensor:
        """The critic steps' fakes, one pass without autograd (G is fixed during the critic
        steps); BatchNorm statistics move as the reference's batch-1 forwards move them."""
        with torch.no_grad(), self.autocast():
            return self._full(self.G.forward_per_sample(inputs, prevs, [1] * len(inputs)))

    def _generator_losses_one_pass(self, x: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(loss, g_adv, rec_mse) of the generator step in one pass: the last critic step's fake,
        recomputed with autograd (its BatchNorm update already counted) together with the
        reconstruction (counted ``g_steps`` times, as the reference's passes), then D(fake)
        (counted ``g_steps`` times); D's weights are frozen by the caller."""
        times, rec_weight = self.cfg.g_steps, self.cfg.rec_weight
        repeats = [0]
        if rec_weight:
            x = torch.cat([x, self.noise_amp * pad(self.z_opt, self.p) + self.z_prev_padded])
            prev = torch.cat([prev, self.z_prev_padded])
            repeats.append(times)
        with self.autocast():
            out = self._full(self.G.forward_per_sample(x, prev, repeats))
            fake = out[:1].contiguous(memory_format=self.dfmt)
            g_adv = -self._full(self.D.forward_per_sample(fake, [times])).mean()
        rec_mse = F.mse_loss(out[1:], self.real_g) if rec_weight else torch.zeros((), device=self.device)
        return g_adv + rec_weight * rec_mse, g_adv, rec_mse

    def _one_pass_step(self, name: str, *args) -> Any:
        """A step of the compiled layout. If compiling fails on a step's first call (no C++
        compiler, a backend torch.compile lacks): one warning, this scale runs the steps
        uncompiled (same results up to rounding) and so does every later scale in this process.
        Compilation happens before anything runs, so nothing is half-updated."""
        fn = self._steps.get(name) or self._one_pass[name]
        if not self._steps or name in self._ran:
            return fn(*args)
        try:
            out = fn(*args)
        except Exception as err:
            reason = (str(err).strip().splitlines() or [""])[0][:300]
            COMPILE_FAILURES.append(f"{type(err).__name__}: {reason}")
            warnings.warn(f"scale {self.scale}: torch.compile of the training steps failed ({COMPILE_FAILURES[-1]}); "
                          "training without it", RuntimeWarning, stacklevel=2)
            self._steps = {}
            self.layout = replace(self.layout, compiled=False)
            return self._one_pass[name](*args)
        self._ran.add(name)
        return out

    def step(self, timer=None) -> torch.Tensor:
        """One training iteration; returns its losses (``LOSS_NAMES``) as a tensor on the device."""
        if self.iteration >= self.cfg.iters_per_scale:
            raise RuntimeError(f"scale {self.scale} already ran its {self.cfg.iters_per_scale} iterations")
        cfg, timer, d = self.cfg, timer or _no_timer, self.cfg.d_steps
        with timer("noise"):
            if self.scale == 0:
                self.z_opt = draw(self.noise_gen, self.channels, self.size, 0).contiguous(memory_format=self.fmt)
            noise = pad(draw(self.noise_gen, self.channels, self.size, self.scale), self.p)
        with timer("coarser scales (rand path)"):
            prevs = pad(self._next_prevs(), self.p)
        with timer("G forward (critic steps)"):
            inputs = self.noise_amp * noise + prevs
            self._last_inputs = (inputs[-1:], prevs[-1:])
            if "fakes" in self._one_pass and self._compiling:
                fakes = self._one_pass_step("fakes", inputs, prevs)
            elif self.batched:  # G does not change during the critic steps: all fakes at once
                with torch.no_grad(), per_sample_bn(self.G, [1] * d):
                    fakes = self._generate(inputs, prevs)
            else:
                fakes = []
                for j in range(d):
                    with torch.set_grad_enabled(j == d - 1):  # the generator step needs this graph
                        fakes.append(self._generate(inputs[j:j + 1], prevs[j:j + 1]))
                self._fake_graph = fakes[-1]
        for j in range(d):
            fake = (fakes[j] if isinstance(fakes, list) else fakes[j:j + 1]).detach().contiguous(memory_format=self.dfmt)
            a = torch.rand(1, generator=self.gp_gen, device=self.gp_gen.device)
            if self._compiling:
                with timer("critic losses (one pass: D real + fake, gradient penalty)"):
                    d_loss, d_real, d_fake, gp = self._one_pass_step("critic", fake, a)
            else:
                with timer("D forward real + fake"):
                    d_real, d_fake = self._critic_real_fake(fake)
                with timer("gradient penalty (forward, input gradient)"):
                    gp = self._gradient_penalty(fake, a)
                d_loss = d_fake - d_real + gp
            with timer("D backward (incl. gradient-penalty double backward)"):
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
            with timer("optimiser steps"):
                self.opt_d.step()
        with timer("G step (forward, backward)"):
            if "generator" in self._one_pass and self._compiling:
                g_adv, rec_mse = self._g_pass_one(*self._last_inputs)
            elif cfg.g_update == "once":
                g_adv, rec_mse = self._g_pass(first=True, times=cfg.g_steps)
            else:
                for k in range(cfg.g_steps):
                    if k:
                        self.opt_g.step()
                    g_adv, rec_mse = self._g_pass(first=k == 0, times=1)
        with timer("optimiser steps"):
            self.opt_g.step()
            self.sched_d.step()
            self.sched_g.step()
        self._fake_graph = None
        losses = torch.stack([d_loss, d_real, d_fake, gp, g_adv, rec_mse]).detach()
        self.history[self.iteration] = losses
        self.iteration += 1
        return losses

    def _g_outputs(self, first: bool, times: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last critic step's fake (with graph) and the reconstruction (None if rec_weight is 0).

        BatchNorm statistics move as in the reference: the reconstruction counts ``times``
        passes; the fake counts only when regenerated with changed weights (not ``first``).
        """
        x, prev = self._last_inputs
        rec_in = self.noise_amp * pad(self.z_opt, self.p) + self.z_prev_padded if self.cfg.rec_weight else None
        if self.batched:
            repeats = [0 if first else 1] + ([times] if rec_in is not None else [])
            if rec_in is not None:
                x, prev = torch.cat([x, rec_in]), torch.cat([prev, self.z_prev_padded])
            with per_sample_bn(self.G, repeats):
                out = self._generate(x, prev)
            return out[:1], (out[1:] if rec_in is not None else None)
        fake = self._fake_graph if first else self._generate(x, prev)
        if rec_in is None:
            return fake, None
        with bn_updates_as(self.G, times):
            rec = self._generate(rec_in, self.z_prev_padded)
        return fake, rec

    def _g_pass_one(self, x: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        try:
            loss, g_adv, rec_mse = self._one_pass_step("generator", x, prev)
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        return g_adv.detach(), rec_mse.detach()

    def _g_pass(self, *, first: bool, times: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator loss and backward; BatchNorm statistics move as ``times`` identical passes would.

        ``first``: the fake of the last critic step is still current (the weights did not change
        since); later passes of ``per_step`` mode regenerate it with the current weights.
        """
        self.opt_g.zero_grad(set_to_none=True)
        fake, rec = self._g_outputs(first, times)
        self.D.requires_grad_(False)  # the reference also computes D's weight gradients here, unused
        try:
            with bn_updates_as(self.D, times):
                g_adv = -self._critic(fake.contiguous(memory_format=self.dfmt)).mean()
            loss, rec_mse = g_adv, torch.zeros((), device=self.device)
            if rec is not None:
                rec_mse = F.mse_loss(rec, self.real_g)
                loss = loss + self.cfg.rec_weight * rec_mse
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        return g_adv.detach(), rec_mse.detach()
