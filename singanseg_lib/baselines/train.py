"""Training a baseline GAN on a folder of image/mask pairs, with checkpoints that resume exactly.

One GAN folder holds::

    gan.json             what it is: name, config, seed, data, schedule, losses, deviations, progress
    weights.safetensors  the trained networks (written when training ends; tensors only)
    train_state.pt       while training: networks, optimisers, random state and losses at the last
                         checkpoint (read with ``torch.load(weights_only=True)``; removed at the end)

Every file is written atomically. ``train_state.pt`` is the one file a resume trusts, so a run
killed at any moment continues from its last checkpoint exactly as if it had not stopped: the
GANs draw all their randomness from torch's global generator (:mod:`base`), which the trainer
seeds, saves and restores inside :func:`torch.random.fork_rng` (the caller's random state is left
alone), and the batches come from a generator of their own. The reals are the data set's images
and masks stretched to ``size x size`` (the authors' data loaders resize the same way), the mask as
channel 3 with -1 background and +1 polyp.
"""
from __future__ import annotations

import io
import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from singanseg_lib import __version__
from singanseg_lib.baselines import get
from singanseg_lib.baselines.base import Baseline
from singanseg_lib.kit.files import OutputExistsError, atomic_write_bytes, atomic_write_json, read_json, sha256_file

__all__ = ["GAN_FILE", "WEIGHTS_FILE", "STATE_FILE", "load_reals", "train_gan", "load_gan", "TrainedGAN"]

GAN_FILE, WEIGHTS_FILE, STATE_FILE = "gan.json", "weights.safetensors", "train_state.pt"
FORMAT = 1
LOSS_EVERY = 10  # steps between the losses kept in gan.json (their mean over those steps)


def load_reals(dataset, size: int) -> torch.Tensor:
    """``N x 4 x size x size`` in [-1, 1] from a :class:`~singanseg_lib.data.Dataset`: RGB resized
    with an antialiased bilinear filter, the mask resized as grey levels and thresholded at half, so
    it stays binary (-1 background, +1 polyp)."""
    out = []
    for pair in dataset:
        image, mask = dataset.read(pair.id)
        rgba = np.concatenate([image / 127.5 - 1, mask[..., None] * 2.0 - 1], -1).astype(np.float32)
        x = torch.from_numpy(rgba)
        x = F.interpolate(x.permute(2, 0, 1)[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x[:, 3] = torch.where(x[:, 3] > 0, 1.0, -1.0)
        out.append(x.clamp(-1, 1))
    if not out:
        raise ValueError(f"{getattr(dataset, 'root', 'data set')}: no image/mask pairs to train on")
    return torch.cat(out)


@dataclass
class TrainedGAN:
    """A GAN loaded from its folder: the module (in eval mode), its ``gan.json`` and where it lives."""

    gan: Baseline
    meta: dict[str, Any]
    path: Path

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete"))


def _state_bytes(gan: Baseline, step: int, losses: dict[str, list[float]], pending: dict[str, list[float]],
                 batches: torch.Generator, seconds: float) -> bytes:
    buf = io.BytesIO()
    torch.save({"step": step, "gan": gan.state_dict(), "seconds": float(seconds),
                "optimizers": {k: o.state_dict() for k, o in gan.optimizers().items()},
                "rng": torch.get_rng_state(), "batches": batches.get_state(),
                "losses": losses, "pending": pending}, buf)
    return buf.getvalue()


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's own message suggests weights_only=False: never for a file like this
        raise ValueError(f"{path}: not a training state the kit wrote (damaged or foreign); delete it to "
                         "restart this GAN from its first step") from None


def _tensors_and_rest(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A state dict split into its tensors (for safetensors) and the JSON-able rest (extra states)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    return tensors, {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}


def _new_meta(name: str, gan: Baseline, *, seed: int, iters: int, batch_size: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "kit_version": __version__, "kind": "baseline_gan", "name": name, "paper": gan.paper,
            "deviations": list(gan.deviations), "config": gan.config, "seed": seed, "iters": iters,
            "batch_size": batch_size, "data": data, "step": 0, "complete": False, "seconds": 0.0, "losses": {},
            "loss_every": LOSS_EVERY}


def _check_same_run(meta: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    new = json.loads(json.dumps(new))  # as read back (tuples become lists)
    for key in ("name", "config", "seed", "iters", "batch_size", "data"):
        if meta.get(key) != new[key]:
            was, asked = (textwrap.shorten(repr(v), 160) for v in (meta.get(key), new[key]))
            raise OutputExistsError(f"{path}: holds a GAN trained with another {key} ({was}, asked {asked}); "
                                    "pass overwrite=True (CLI: --overwrite) or use another folder")


def train_gan(name: str, reals: torch.Tensor, out_dir: str | Path, *, iters: int, batch_size: int = 8, seed: int = 0,
              options: dict[str, Any] | None = None, data: dict[str, Any] | None = None, checkpoint_every: int = 100,
              device: str | torch.device = "cpu", overwrite: bool = False, progress: bool = True,
              stop_after: int | None = None) -> TrainedGAN:
    """Train baseline ``name`` (:func:`singanseg_lib.baselines.get`) on ``reals`` (``N x 4 x S x S``,
    S the GAN's size) for ``iters`` steps of ``batch_size`` images drawn with replacement; resume
    from ``out_dir`` when it holds the same run, return it when that run is finished.

    ``options``: the GAN's constructor arguments besides ``size`` (defaults: its paper's).
    ``data``: what the reals are (ids, folder), recorded in gan.json and checked on resume.
    ``stop_after``: stop (checkpointed) after that many steps in this call, as a kill would: for
    tests and for splitting a long run.
    """
    from tqdm.auto import tqdm

    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    if reals.ndim != 4 or reals.shape[1] != 4 or reals.shape[2] != reals.shape[3]:
        raise ValueError(f"reals must be N x 4 x S x S (RGB + mask, square), got {tuple(reals.shape)}")
    out_dir = Path(out_dir)
    data = {"n_images": int(reals.shape[0]), **(data or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gan = get(name)(size=int(reals.shape[-1]), **(options or {})).to(device)
        meta = _new_meta(name, gan, seed=seed, iters=iters, batch_size=batch_size, data=data)
        meta_path, state_path = out_dir / GAN_FILE, out_dir / STATE_FILE
        if meta_path.exists() and not overwrite:
            old = read_json(meta_path)
            _check_same_run(old, meta, meta_path)
            if old.get("complete"):
                return load_gan(out_dir, device=device)
        elif overwrite:
            state_path.unlink(missing_ok=True)
            (out_dir / WEIGHTS_FILE).unlink(missing_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)

        batches = torch.Generator().manual_seed(seed + 1)
        step, losses, pending, seconds = 0, {}, {}, 0.0
        if state_path.exists() and not overwrite:
            state = _read_state(state_path)
            gan.load_state_dict(state["gan"])
            for k, opt in gan.optimizers().items():
                opt.load_state_dict(state["optimizers"][k])
            torch.set_rng_state(state["rng"])
            batches.set_state(state["batches"])
            step, losses, pending, seconds = state["step"], state["losses"], state["pending"], state["seconds"]
        atomic_write_json(meta_path, {**meta, "step": step, "seconds": seconds, "losses": losses})

        end = iters if stop_after is None else min(iters, step + stop_after)
        bar = tqdm(total=iters, initial=step, unit="step", desc=f"{name} {reals.shape[-1]}px", disable=not progress)
        start = time.perf_counter() - seconds
        reals = reals.to(device)

        def checkpoint() -> None:
            spent = time.perf_counter() - start
            atomic_write_bytes(state_path, _state_bytes(gan, step, losses, pending, batches, spent))
            atomic_write_json(meta_path, {**meta, "step": step, "seconds": spent, "losses": losses})

        try:
            while step < end:
                idx = torch.randint(0, reals.shape[0], (batch_size,), generator=batches)
                logged = gan.train_step(reals[idx.to(reals.device)], step, iters)
                for k, v in logged.items():
                    pending.setdefault(k, []).append(float(v))
                step += 1
                if step % LOSS_EVERY == 0 or step == iters:
                    for k, v in pending.items():
                        losses.setdefault(k, []).append(sum(v) / len(v))
                    pending = {}
                    bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in losses.items()}, refresh=False)
                bar.update(1)
                if step % checkpoint_every == 0 and step < iters:
                    checkpoint()
        finally:
            bar.close()
        if step < iters:
            checkpoint()
            return TrainedGAN(gan.eval(), read_json(meta_path), out_dir)
        tensors, rest = _tensors_and_rest(gan.state_dict())
        atomic_write_bytes(out_dir / WEIGHTS_FILE, save(tensors, metadata={"format": str(FORMAT), "name": name}))
        meta.update(step=step, seconds=time.perf_counter() - start, losses=losses, complete=True, extra_state=rest,
                    weights_sha256=sha256_file(out_dir / WEIGHTS_FILE))
        atomic_write_json(meta_path, meta)
        state_path.unlink(missing_ok=True)
    return TrainedGAN(gan.eval(), meta, out_dir)


def load_gan(gan_dir: str | Path, *, device: str | torch.device = "cpu") -> TrainedGAN:
    """A trained GAN from its folder (rebuilt from gan.json, weights checked against their hash).
    An unfinished one raises, saying how far it got."""
    gan_dir = Path(gan_dir)
    meta = read_json(gan_dir / GAN_FILE)
    if meta.get("kind") != "baseline_gan" or meta.get("format", 0) > FORMAT:
        raise ValueError(f"{gan_dir / GAN_FILE}: not a baseline GAN folder of format <= {FORMAT} (found kind "
                         f"{meta.get('kind')!r}, format {meta.get('format')!r})")
    if not meta.get("complete"):
        raise ValueError(f"{gan_dir}: training stopped at step {meta.get('step')} of {meta.get('iters')}; rerun the "
                         "same training to finish it")
    weights = gan_dir / WEIGHTS_FILE
    if not weights.is_file() or sha256_file(weights) != meta.get("weights_sha256"):
        raise ValueError(f"{weights}: missing or not the file gan.json lists (sha256 differs); the folder is damaged")
    try:
        tensors = load_file(weights)
    except SafetensorError as e:
        raise ValueError(f"{weights}: not a readable safetensors file ({e})") from None
    with torch.random.fork_rng(devices=[]):  # building draws initial weights, which the file replaces
        gan = get(meta["name"])(**meta["config"])
    gan.load_state_dict({**tensors, **meta.get("extra_state", {})})
    return TrainedGAN(gan.to(device).eval(), meta, gan_dir)
