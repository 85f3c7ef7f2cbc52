"""Resuming inside a scale: the state of a :class:`~singanseg_lib.singan.step.ScaleTrainer` on disk.

Finished scales are committed to the model folder (:mod:`~singanseg_lib.singan.checkpoint`); a
scale in training is written every ``TrainConfig.state_every`` iterations as
``scale_NN_state.pt``: both networks (BatchNorm statistics included), both optimisers and LR
schedules, the three random streams, the iteration, the losses so far and the fixed noise. The
coarser scales' images made ahead in one batch are not stored (up to 256 MB): the state holds
the random stream and iteration of the batch in use, and restoring makes that batch again,
the same values. A run resumed from the state therefore continues exactly as if it had not
stopped (``tests/singan/test_train.py``: killed at random moments, resumed bit for bit).

The file is written atomically and read with ``torch.load(weights_only=True)`` (tensors and
plain values only, nothing unpickled); it is removed once its scale is committed.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from singanseg_lib.kit.files import atomic_write_bytes
from singanseg_lib.singan.step import ScaleTrainer

__all__ = ["state_path", "save_state", "load_state"]


def state_path(model_dir: str | Path, scale: int) -> Path:
    return Path(model_dir) / f"scale_{scale:02d}_state.pt"


def save_state(trainer: ScaleTrainer, path: str | Path, seconds: float) -> Path:
    """Write ``trainer``'s state after its last finished iteration (and the seconds spent so far)."""
    t = trainer
    state = {
        "scale": t.scale, "iteration": t.iteration, "seconds": float(seconds), "noise_amp": float(t.noise_amp),
        "G": t.G.state_dict(), "D": t.D.state_dict(), "opt_g": t.opt_g.state_dict(), "opt_d": t.opt_d.state_dict(),
        "sched_g": t.sched_g.state_dict(), "sched_d": t.sched_d.state_dict(),
        "streams": [g.get_state() for g in (t.noise_gen, t.prev_gen, t.gp_gen)],
        "history": t.history[:t.iteration].cpu(), "z_opt": t.z_opt.cpu(),
        "refill": None if t._refilled is None else [t._refilled[0], t._refilled[1]], "prev_pos": t._prev_pos,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_state(trainer: ScaleTrainer, path: str | Path) -> float:
    """Restore ``trainer`` (made as for a fresh start of the same scale) from ``path``; returns
    the seconds the scale had taken. A damaged or foreign file is an error naming it."""
    path, t = Path(path), trainer
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # torch's own message suggests weights_only=False: never for a file like this
            raise ValueError("not a training state the kit wrote (damaged or foreign)") from None
        if state["scale"] != t.scale or not 0 < state["iteration"] < t.cfg.iters_per_scale:
            raise ValueError(f"it is the state of scale {state['scale']} at iteration {state['iteration']}, "
                             f"not of scale {t.scale} within its {t.cfg.iters_per_scale} iterations")
        if abs(state["noise_amp"] - t.noise_amp) > 1e-6 * max(1.0, abs(t.noise_amp)):
            raise ValueError("its noise amplitude differs from this model's (another image or coarser scales)")
        t.G.load_state_dict(state["G"])
        t.D.load_state_dict(state["D"])
        t.opt_g.load_state_dict(state["opt_g"])
        t.opt_d.load_state_dict(state["opt_d"])
        t.sched_g.load_state_dict(state["sched_g"])
        t.sched_d.load_state_dict(state["sched_d"])
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"{path}: cannot resume from this state ({reason}); delete it to "
                         f"restart scale {t.scale} from its first iteration") from err
    k = state["iteration"]
    t.history[:k] = state["history"].to(t.history.device)
    t.z_opt = state["z_opt"].to(t.device).contiguous(memory_format=t.fmt)
    if state["refill"] is not None and t.scale > 0:  # make the batch of coarser-scale images again
        t.iteration = state["refill"][0]
        t.prev_gen.set_state(state["refill"][1])
        t._refill_prevs()
        t._prev_pos = state["prev_pos"]
    for gen, saved in zip((t.noise_gen, t.prev_gen, t.gp_gen), state["streams"]):
        gen.set_state(saved)
    t.iteration = k
    return state["seconds"]
