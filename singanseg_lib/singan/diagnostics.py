"""What a trained model tells about its training: reconstruction errors, time per scale, a timed
breakdown of one iteration, and the summary recorded in notebook 01's ``metrics.json``.

Used by notebook 01 and ``singanseg train``.
"""
from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F

from singanseg_lib.singan.checkpoint import LoadedModel
from singanseg_lib.singan.models import SinGANPyramid
from singanseg_lib.singan.step import PhaseTimer, ScaleTrainer


def reconstructions(model: LoadedModel) -> list[torch.Tensor]:
    """The model's reconstruction of the real image at every scale (fixed noise z_opt, eval mode)."""
    with torch.no_grad():
        return [r.float() for r in model.pyramid.reconstruct()]


def reconstruction_errors(model: LoadedModel) -> list[float]:
    """MSE between reconstruction and real image at every scale (all 4 channels, range [-1, 1])."""
    return [F.mse_loss(rec, real.to(rec.device)).item() for rec, real in zip(reconstructions(model), model.reals)]


def initial_reconstruction_error(model: LoadedModel, cfg, *, seed: int) -> float:
    """The finest-scale reconstruction MSE of the same pyramid with every generator at its seeded
    initial weights (what training started from, before any width-matched copy)."""
    from singanseg_lib.singan.train import init_networks

    plan, pyr = model.pyramid.plan, model.pyramid
    untrained = SinGANPyramid(plan, channels=pyr.channels)
    for s in range(pyr.num_trained):
        g, _ = init_networks(cfg, s, plan.widths[s], seed, None)
        untrained.add_scale(g, pyr.noise_amps[s], pyr.z_opt(s).cpu())
    untrained.to(pyr.device)
    with torch.no_grad():
        rec = untrained.reconstruct()[-1]
    return F.mse_loss(rec, model.reals[pyr.num_trained - 1].to(rec.device)).item()


def time_iteration(model: LoadedModel, cfg, *, scale: int | None = None, seed: int = 0,
                   iterations: int = 3) -> dict[str, float]:
    """Seconds per phase of one training iteration at ``scale`` (default: the finest trained).

    Runs ``iterations`` iterations (after one warm-up) on copies of that scale's trained G and D,
    on top of the model's coarser scales, with the layout training used; the model is unchanged.
    """
    from singanseg_lib.singan.layout import layout_for

    pyr, plan = model.pyramid, model.pyramid.plan
    scale = pyr.num_trained - 1 if scale is None else scale
    coarser = SinGANPyramid(plan, channels=pyr.channels)
    for s in range(scale):
        coarser.add_scale(pyr.generators[s], pyr.noise_amps[s], pyr.z_opt(s))
    G = copy.deepcopy(pyr.generators[scale]).requires_grad_(True)
    D = copy.deepcopy(model.discriminators[scale]).requires_grad_(True)
    real = model.reals[scale]
    run_cfg = dataclasses.replace(cfg, iters_per_scale=iterations + 1)
    trainer = ScaleTrainer(coarser, real, G, D, run_cfg, seed=seed, layout=layout_for(cfg, plan.widths[scale], real.device))
    trainer.step()
    timer = PhaseTimer(real.device)
    for _ in range(iterations):
        trainer.step(timer)
    return {name: seconds / iterations for name, seconds in timer.seconds.items()}


def model_summary(model: LoadedModel, cfg, *, seed: int) -> dict:
    """Per-model numbers for metrics.json: reconstruction error before/after, time and noise per scale."""
    meta, plan = model.meta, model.pyramid.plan
    errors = reconstruction_errors(model)
    return {
        "image_id": meta["source"].get("image_id"),
        "seed": meta["seed"],
        "scales": [{"size": list(plan.sizes[s]), "width": plan.widths[s], "noise_amp": e["noise_amp"],
                    "seconds": e["seconds"], "ms_per_iteration": 1000 * e["seconds_per_iteration"],
                    "rec_mse": errors[s], "rec_mse_first_iteration": e["rec_mse_first_iteration"]}
                   for s, e in enumerate(meta["scales"])],
        "seconds_total": sum(e["seconds"] for e in meta["scales"]),
        "rec_mse_finest": errors[-1],
        "rec_mse_finest_at_initialisation": initial_reconstruction_error(model, cfg, seed=seed),
    }
