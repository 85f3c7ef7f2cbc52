"""Many models as one: M models whose pyramids have the same plan train as one network.

At batch 1 a SinGAN-Seg scale is a few hundred small operations, so a CPU or a GPU spends most
of an iteration launching them. M independent models of one shape become one network of
grouped convolutions (``groups=M``; the HFTA idea, Wang et al., MLSys 2021): model m owns the
channel block ``[m*C, (m+1)*C)`` of every activation. This is exact, not an approximation:

- a grouped convolution computes each block from its own block only;
- BatchNorm at batch 1 normalises every channel by its own statistics, so M*C channels are
  M models' BatchNorms side by side (running statistics too);
- the losses are summed over the models, and the gradient of a sum of independent terms is
  each model's own gradient; Adam and the LR schedule are elementwise;
- what differs per model is kept per model: noise amplitudes, fixed noise, interpolation
  draws of the gradient penalty, the penalty's gradient norm, and every random stream (each
  model's own :class:`~singanseg_lib.singan.step.ScaleTrainer` draws its noise and its coarser
  scales' images, from its own seed, exactly as when it trains alone).

``tests/singan/test_fused.py`` holds every weight of a fused model equal to the model trained
alone (float64, to 1e-10; the convolution biases in front of a BatchNorm, whose gradient is 0
in exact arithmetic and only rounding noise in any code, to 1e-6), and in float32 no further
apart than a one-ulp change of the image moves the model trained alone. The fused form never
reaches disk: each model is committed to its own folder after every scale
(:func:`~singanseg_lib.singan.train.finish_scale`), so a killed fused run resumes like any
other. The iteration is the reference's (one generator update per iteration,
``g_update="once"``) in the plain batch-1 layout.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from singanseg_lib.singan.batchnorm import bn_updates_as
from singanseg_lib.singan.checkpoint import LoadedModel
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.layout import Layout
from singanseg_lib.singan.losses import LOSS_NAMES
from singanseg_lib.singan.models import pad
from singanseg_lib.singan.noise import draw
from singanseg_lib.singan.step import ScaleTrainer

__all__ = ["fuse", "unfuse", "FusedScaleTrainer", "train_fused"]


def fuse(modules: Sequence[nn.Module]) -> nn.Module:
    """One module computing ``modules`` (same design) side by side on channel blocks."""
    m = len(modules)
    fused = copy.deepcopy(modules[0])
    for name, layer in list(fused.named_modules()):
        parts = [mod.get_submodule(name) for mod in modules]
        if isinstance(layer, nn.Conv2d):
            new = nn.Conv2d(layer.in_channels * m, layer.out_channels * m, layer.kernel_size, layer.stride,
                            layer.padding, layer.dilation, layer.groups * m, layer.bias is not None)
        elif isinstance(layer, nn.BatchNorm2d):
            new = nn.BatchNorm2d(layer.num_features * m, layer.eps, layer.momentum, layer.affine,
                                 layer.track_running_stats)
        else:
            continue
        for key, value in layer.state_dict().items():
            if key == "num_batches_tracked":
                new.num_batches_tracked = value.clone()
            else:
                joined = torch.cat([p.state_dict()[key] for p in parts])
                target = getattr(new, key)
                if isinstance(target, nn.Parameter):
                    setattr(new, key, nn.Parameter(joined.clone()))
                else:
                    setattr(new, key, joined.clone())
        new.train(layer.training)
        fused.set_submodule(name, new)
    return fused


def unfuse(fused: nn.Module, modules: Sequence[nn.Module]) -> None:
    """Write the weights and BatchNorm statistics of :func:`fuse`'s result back into ``modules``."""
    m = len(modules)
    with torch.no_grad():
        for name, layer in fused.named_modules():
            if not isinstance(layer, (nn.Conv2d, nn.BatchNorm2d)):
                continue
            for key, value in layer.state_dict().items():
                for i, mod in enumerate(modules):
                    target = mod.get_submodule(name).state_dict()[key]
                    target.copy_(value if key == "num_batches_tracked" else value.chunk(m)[i])


class FusedScaleTrainer:
    """Trains one scale of M models at once; ``trainers`` are their own ScaleTrainers (plain layout).

    The trainers supply what is per model (noise streams, coarser-scale images, z_prev, noise
    amplitude); their G and D are replaced by one fused pair while training and receive the
    trained weights at :meth:`finish`. :meth:`step` returns the losses as M x ``LOSS_NAMES``.
    """

    def __init__(self, trainers: Sequence[ScaleTrainer], cfg: TrainConfig):
        if cfg.g_update != "once":
            raise ValueError(f"fused training runs the reference's iteration (g_update='once'), not {cfg.g_update!r}")
        t0 = trainers[0]
        if any(t.size != t0.size or t.scale != t0.scale or t.G.widths != t0.G.widths for t in trainers):
            raise ValueError("fused training needs models of one plan: "
                             + ", ".join(f"scale {t.scale} {t.size}" for t in trainers))
        self.trainers, self.cfg, self.m, self.c = list(trainers), cfg, len(trainers), t0.channels
        self.scale, self.size, self.p, self.device = t0.scale, t0.size, t0.p, t0.device
        self.G, self.D = fuse([t.G for t in trainers]).train(), fuse([t.D for t in trainers]).train()
        self.real = self._cat([t.real_g.contiguous() for t in trainers])
        self.z_prev_padded = self._cat([t.z_prev_padded.contiguous() for t in trainers])
        self.amp = self._per_channel([t.noise_amp for t in trainers])
        fused_kernel = True if self.device.type in ("cpu", "cuda") else None
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas), fused=fused_kernel)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), fused=fused_kernel)
        milestone = [round(cfg.lr_milestone * cfg.iters_per_scale)]
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestone, gamma=cfg.lr_gamma)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestone, gamma=cfg.lr_gamma)
        self.autocast, self._full = t0.autocast, t0._full

    def _cat(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(xs), dim=1)

    def _per_channel(self, values) -> torch.Tensor:
        """One value per model -> 1 x M*C x 1 x 1 (model m's value on its C channels)."""
        v = torch.as_tensor([float(x) for x in values], dtype=self.real.dtype, device=self.device)
        return v.repeat_interleave(self.c).view(1, -1, 1, 1)

    def _per_model_mean(self, scores: torch.Tensor) -> torch.Tensor:
        """D's score map (1 x M x h x w) -> each model's mean score (M)."""
        return scores.mean(dim=(0, 2, 3))

    def _critic(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self._full(self.D(x))

    def _generate(self, x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self._full(self.G(x, prev))

    def _penalty(self, fake: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Each model's WGAN-GP term (M): the per-pixel gradient norm over that model's channels."""
        x = (a * self.real + (1 - a) * fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self._critic(x).sum(), x, create_graph=True)
        norms = grad.view(self.m, self.c, *grad.shape[-2:]).norm(2, dim=1)
        return self.cfg.gp_weight * ((norms - 1) ** 2).mean(dim=(1, 2))

    def step(self) -> torch.Tensor:
        """One iteration of every model (ScaleTrainer.step's, batch-1 layout); M x 6 losses."""
        cfg, ts, d = self.cfg, self.trainers, self.cfg.d_steps
        if self.scale == 0:
            for t in ts:
                t.z_opt = draw(t.noise_gen, self.c, self.size, 0).contiguous(memory_format=t.fmt)
        noise = self._cat([pad(draw(t.noise_gen, self.c, self.size, self.scale), self.p) for t in ts])
        prevs = self._cat([pad(t._next_prevs().contiguous(), self.p) for t in ts])
        inputs = self.amp * noise + prevs
        fakes = []
        for j in range(d):
            with torch.set_grad_enabled(j == d - 1):  # the generator step needs the last graph
                fakes.append(self._generate(inputs[j:j + 1], prevs[j:j + 1]))
        for j in range(d):
            fake = fakes[j].detach()
            a = self._per_channel(torch.cat([torch.rand(1, generator=t.gp_gen, device=t.gp_gen.device) for t in ts]))
            d_real = self._per_model_mean(self._critic(self.real))
            d_fake = self._per_model_mean(self._critic(fake))
            gp = self._penalty(fake, a)
            d_loss = d_fake - d_real + gp
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        rec_mse = torch.zeros(self.m, device=self.device, dtype=self.real.dtype)
        loss = 0
        if cfg.rec_weight:
            z_opt = self._cat([t.z_opt.contiguous() for t in ts])
            with bn_updates_as(self.G, cfg.g_steps):
                rec = self._generate(self.amp * pad(z_opt, self.p) + self.z_prev_padded, self.z_prev_padded)
            rec_mse = ((rec - self.real) ** 2).view(self.m, -1).mean(dim=1)
            loss = cfg.rec_weight * rec_mse
        self.D.requires_grad_(False)
        try:
            with bn_updates_as(self.D, cfg.g_steps):
                g_adv = -self._per_model_mean(self._critic(fakes[-1]))
            (loss + g_adv).sum().backward()
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step()
        self.sched_d.step()
        self.sched_g.step()
        losses = torch.stack([d_loss, d_real, d_fake, gp, g_adv, rec_mse], dim=1).detach()
        for t, row in zip(ts, losses):
            t.history[t.iteration] = row
            t.iteration += 1
        return losses

    def finish(self) -> None:
        """Give every model's trainer its trained G and D (then commit them as usual)."""
        unfuse(self.G, [t.G for t in self.trainers])
        unfuse(self.D, [t.D for t in self.trainers])


def train_fused(models: Sequence[LoadedModel], model_dirs: Sequence[str | Path], cfg: TrainConfig, *,
                progress: bool = True, desc: str = "") -> list[LoadedModel]:
    """Train models opened with :func:`~singanseg_lib.singan.train.open_model` (same plan) fused,
    scale by scale, committing each model's scales to its folder; models further along
    (a resumed run) wait until the others reach their scale. Returns ``models``, trained."""
    from tqdm.auto import tqdm

    from singanseg_lib.singan.train import _cuda_flags, finish_scale, start_scale

    plans = {(tuple(map(tuple, m.pyramid.plan.sizes)), tuple(m.pyramid.plan.widths)) for m in models}
    if len(plans) != 1:
        raise ValueError(f"train_fused: the models have {len(plans)} different scale plans; fuse models of one plan")
    plan = models[0].pyramid.plan
    with _cuda_flags(models[0].reals[0].device, cfg):
        for scale in range(min(m.pyramid.num_trained for m in models), plan.num_scales):
            group = [i for i, m in enumerate(models) if m.pyramid.num_trained == scale]
            trainers = [start_scale(models[i], cfg, Layout()) for i in group]
            fused = FusedScaleTrainer(trainers, cfg)
            h, w = plan.sizes[scale]
            bar = tqdm(total=cfg.iters_per_scale, unit="it", leave=True, disable=not progress,
                       desc=f"{desc}{len(group)} models fused, scale {scale}/{plan.stop_scale} ({h}x{w})")
            start = time.perf_counter()
            for it in range(cfg.iters_per_scale):
                rows = fused.step()
                bar.update(1)
                if progress and (it % 50 == 0 or it == cfg.iters_per_scale - 1):
                    bar.set_postfix(rec=f"{rows[:, LOSS_NAMES.index('rec_mse')].mean().item():.4f}")
            bar.close()
            fused.finish()
            seconds = time.perf_counter() - start
            for i, t in zip(group, trainers):
                finish_scale(models[i], t, Path(model_dirs[i]), cfg, seconds / len(group), fused_models=len(group))
    return list(models)
