"""Training a SinGAN-Seg model on one image + mask: the config, the scale loop, checkpoints, resuming.

:func:`train_model` trains the scales coarsest first (each scale's iteration is
:class:`~singanseg_lib.singan.step.ScaleTrainer`) and commits every finished scale to the model
folder (:mod:`~singanseg_lib.singan.checkpoint`). A run that is interrupted (Ctrl-C, a kill, a power
cut) and started again with the same image, config and seed continues after the last finished
scale, or inside the unfinished one from its last saved state (every ``state_every`` iterations,
:mod:`~singanseg_lib.singan.resume`), and ends with the same weights as an uninterrupted run:
every scale re-seeds its random streams from (seed, scale) and the next scale needs only what
the checkpoint holds (the frozen generators, and G/D of the previous scale for the
width-matched weight copy).

Used by notebook 01 and ``singanseg train``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from singanseg_lib.data.images import read_image, read_mask
from singanseg_lib.kit.env import resolve_device
from singanseg_lib.kit.files import atomic_write_json, read_json
from singanseg_lib.singan.checkpoint import META_FILE, LoadedModel, load_model, new_meta, read_meta, save_scale
from singanseg_lib.singan.config import EXECUTION_FIELDS, TrainConfig
from singanseg_lib.singan.layout import Layout, layout_for
from singanseg_lib.singan.losses import LOSS_NAMES
from singanseg_lib.singan.models import ScaleDiscriminator, ScaleGenerator, init_weights, pad
from singanseg_lib.singan.noise import scale_seed
from singanseg_lib.singan.pyramid import build_pyramid
from singanseg_lib.singan.resume import load_state, save_state, state_path
from singanseg_lib.singan.step import ScaleTrainer


def to_training_tensor(rgb, mask) -> torch.Tensor:
    """RGB (H x W x 3 uint8) and mask (H x W bool) -> 1 x 4 x H x W float32 in [-1, 1].

    Channels 1-3 are the image (x / 127.5 - 1, as the reference's ``norm(x / 255)``), channel 4
    the mask as +1 (polyp) / -1 (background): the 4-channel input of docs/algorithm.md §2.1.
    """
    # a copy: images read by PIL are read-only arrays, which torch warns about sharing
    rgb, mask = torch.tensor(np.asarray(rgb)), torch.tensor(np.asarray(mask))
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != torch.uint8:
        raise ValueError(f"image must be H x W x 3 uint8, got {tuple(rgb.shape)} {rgb.dtype}")
    if mask.shape != rgb.shape[:2] or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool array of the image's size {tuple(rgb.shape[:2])}, "
                         f"got {tuple(mask.shape)} {mask.dtype}")
    img = rgb.permute(2, 0, 1).float() / 255 * 2 - 1
    m = mask.float()[None] * 2 - 1
    return torch.cat([img, m])[None].contiguous()


def load_training_image(image_path: str | Path, mask_path: str | Path) -> torch.Tensor:
    """The 1 x 4 x H x W training tensor of an image file and its mask file (binarised by ``data.images.read_mask``)."""
    rgb, mask = read_image(image_path), read_mask(mask_path)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} px, "
                         f"image {image_path} is {rgb.shape[1]}x{rgb.shape[0]}")
    return to_training_tensor(rgb, mask)


def model_status(model_dir: str | Path) -> str:
    """``"complete"``, ``"partial"`` (finished scales, more to train) or ``"absent"``."""
    if not (Path(model_dir) / META_FILE).exists():
        return "absent"
    meta = read_meta(model_dir)
    return "complete" if len(meta["scales"]) == len(meta["plan"]["sizes"]) else "partial"


def trained_config(model_dir: str | Path, **overrides) -> TrainConfig:
    """The :class:`TrainConfig` a model was trained with (its model.json), with ``overrides``.

    Used where a later step trains again "as notebook 01 did" (notebook 03's comparison model).
    """
    from singanseg_lib.kit.presets import make_config

    config = read_meta(model_dir).get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{Path(model_dir) / META_FILE}: no training config recorded")
    return make_config(TrainConfig, config, **overrides)


def tensor_sha256(x: torch.Tensor) -> str:
    """Fingerprint of a training tensor: a model folder records it to refuse resuming on another image."""
    return hashlib.sha256(x.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


@dataclass
class TrainEvent:
    """Passed to ``callback`` after every iteration (``done`` after a scale's last one)."""

    scale: int
    num_scales: int
    iteration: int          # iterations finished at this scale
    iters_per_scale: int
    row: torch.Tensor       # this iteration's losses (LOSS_NAMES), on the device
    seconds: float          # time at this scale so far
    done: bool = False

    @property
    def losses(self) -> dict[str, float]:
        return dict(zip(LOSS_NAMES, self.row.tolist()))


@contextlib.contextmanager
def _cuda_flags(device: torch.device, cfg: TrainConfig):
    """TF32 only when asked (PyTorch enables it for convolutions by default); deterministic cuDNN."""
    if device.type != "cuda":
        if cfg.precision == "tf32":
            raise ValueError(f"precision 'tf32' needs a CUDA device, training runs on {device}; use fp32 or bf16")
        yield
        return
    b = torch.backends
    saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, b.cudnn.deterministic, b.cudnn.benchmark)
    b.cuda.matmul.allow_tf32 = b.cudnn.allow_tf32 = cfg.precision == "tf32"
    b.cudnn.deterministic, b.cudnn.benchmark = cfg.deterministic, not cfg.deterministic
    try:
        yield
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, b.cudnn.deterministic, b.cudnn.benchmark = saved


def _check_resumable(meta: dict, expected: dict, model_dir: Path) -> None:
    """Refuse to continue a model made from another image, config or seed."""
    def algorithmic(cfg: dict) -> dict:
        return {k: v for k, v in cfg.items() if k not in EXECUTION_FIELDS}

    diffs = []
    old_cfg, new_cfg = algorithmic(meta.get("config", {})), algorithmic(expected["config"])
    for k in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(k) != new_cfg.get(k):
            diffs.append(f"{k}: {old_cfg.get(k)!r} there, {new_cfg.get(k)!r} now")
    if meta.get("seed") != expected["seed"]:
        diffs.append(f"seed: {meta.get('seed')!r} there, {expected['seed']!r} now")
    if meta.get("source", {}).get("tensor_sha256") != expected["source"]["tensor_sha256"]:
        diffs.append(f"training image: {meta.get('source', {}).get('image_path') or 'another image'} there, "
                     f"{expected['source'].get('image_path') or 'this image'} now (pixels differ)")
    if diffs:
        raise ValueError(f"{model_dir} holds a model trained differently ({'; '.join(diffs)}); to retrain it "
                         "there pass overwrite=True (CLI: --overwrite), or choose another folder")


def _clear_model_dir(model_dir: Path) -> None:
    """Remove a model's own files (and nothing else) before retraining it."""
    for pattern in (META_FILE, "scale_*.safetensors", "scale_*_history.json", "scale_*_state.pt"):
        for path in model_dir.glob(pattern):
            path.unlink()


def history_path(model_dir: str | Path, scale: int) -> Path:
    return Path(model_dir) / f"scale_{scale:02d}_history.json"


def load_history(model_dir: str | Path) -> list[dict[str, list[float]]]:
    """Per finished scale: the losses of every iteration ({name: [values]}, LOSS_NAMES)."""
    meta = read_meta(model_dir)
    return [read_json(Path(model_dir) / entry["history"])["losses"] for entry in meta["scales"]]


def train_model(image: torch.Tensor, model_dir: str | Path, cfg: TrainConfig = TrainConfig(), *, seed: int,
                source: dict | None = None, progress: bool = True,
                callback: Callable[[TrainEvent], None] | None = None, overwrite: bool = False) -> LoadedModel:
    """Train (or resume, or just load) the model of ``image`` in ``model_dir``.

    ``image``: 1 x 4 x H x W in [-1, 1], RGB + mask as +-1 (:func:`to_training_tensor`).
    ``source``: recorded in model.json (``image_id``, ``image_path``, ``mask_path``).
    A folder with finished scales of the same training continues after them; one from another
    image, config or seed raises ``ValueError`` unless ``overwrite``. Returns the trained model
    (frozen generators, eval mode) with its discriminators and real pyramid.
    """
    model = open_model(image, model_dir, cfg, seed=seed, source=source, overwrite=overwrite)
    with _cuda_flags(model.reals[0].device, cfg):
        for _ in range(model.pyramid.num_trained, model.pyramid.plan.num_scales):
            _train_scale(model, Path(model_dir), cfg, progress=progress, callback=callback)
    return model


def open_model(image: torch.Tensor, model_dir: str | Path, cfg: TrainConfig, *, seed: int,
               source: dict | None = None, overwrite: bool = False) -> LoadedModel:
    """The model of ``image`` as far as ``model_dir`` holds it (a new model.json if none): checks
    the image, refuses a folder trained differently (unless ``overwrite``), loads the finished
    scales with their discriminators and builds the real pyramid on the config's device."""
    if image.ndim != 4 or image.shape[:2] != (1, 4):
        raise ValueError(f"image must be 1 x 4 x H x W (RGB + mask), got {tuple(image.shape)}")
    if image.min() < -1 or image.max() > 1:
        raise ValueError("image values must lie in [-1, 1] (use to_training_tensor)")
    device = resolve_device(cfg.device)
    model_dir = Path(model_dir)
    plan = cfg.plan(*image.shape[-2:])
    source = {**(source or {}), "tensor_sha256": tensor_sha256(image)}
    meta = new_meta(plan, channels=4, seed=seed, config=cfg.to_dict(), source=source)
    if (model_dir / META_FILE).exists():
        if overwrite:
            _clear_model_dir(model_dir)
        else:
            _check_resumable(read_meta(model_dir), meta, model_dir)
            meta = read_meta(model_dir)
    if not meta["scales"]:
        atomic_write_json(model_dir / META_FILE, meta)
    loaded = load_model(model_dir, device=device, with_discriminators=True)
    loaded.reals = build_pyramid(image.to(device, torch.get_default_dtype()), plan)  # float32 unless a test asks float64
    return loaded


def init_networks(cfg: TrainConfig, scale: int, width: int, seed: int,
                  previous: tuple[ScaleGenerator, ScaleDiscriminator] | None = None):
    """G and D of a scale (on the CPU): seeded from (seed, scale), or the previous scale's
    weights when the widths match, as the reference does."""
    widths = (width,) * (cfg.num_layers - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(scale_seed(seed, scale, 3))
        G, D = ScaleGenerator(4, widths, cfg.kernel_size), ScaleDiscriminator(4, widths, cfg.kernel_size)
        init_weights(G), init_weights(D)
    if previous is not None and previous[0].widths == widths:
        G.load_state_dict(previous[0].state_dict())
        D.load_state_dict(previous[1].state_dict())
    return G, D


def start_scale(model: LoadedModel, cfg: TrainConfig, layout: Layout | None = None) -> ScaleTrainer:
    """The trainer of the model's next scale: G and D initialised (:func:`init_networks`), the
    frozen scales in the memory format they were trained with, the layout for this width."""
    pyramid, plan, device = model.pyramid, model.pyramid.plan, model.reals[0].device
    scale = pyramid.num_trained
    previous = (pyramid.generators[-1], model.discriminators[-1]) if scale else None
    G, D = init_networks(cfg, scale, plan.widths[scale], model.meta["seed"], previous)
    for s, g in enumerate(pyramid.generators):
        cl = layout_for(cfg, plan.widths[s], device).g_channels_last
        g.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
    layout = layout if layout is not None else layout_for(cfg, plan.widths[scale], device)
    return ScaleTrainer(pyramid, model.reals[scale], G.to(device), D.to(device), cfg, seed=model.meta["seed"],
                        layout=layout)


def finish_scale(model: LoadedModel, trainer: ScaleTrainer, model_dir: Path, cfg: TrainConfig, seconds: float,
                 **info) -> None:
    """Commit the scale ``trainer`` trained (weights, noise, history, timings, ``info``) to
    ``model_dir`` and add it to ``model`` (its meta, frozen pyramid and discriminators)."""
    scale, G, D, device = trainer.scale, trainer.G, trainer.D, trainer.device
    G.eval()
    with torch.no_grad():
        rec = G(trainer.noise_amp * pad(trainer.z_opt, G.pad_size) + trainer.z_prev_padded, trainer.z_prev_padded)
        rec_mse = F.mse_loss(rec, trainer.real_g).item()
    history = trainer.history.cpu()
    atomic_write_json(history_path(model_dir, scale), {
        "scale": scale, "loss_names": list(LOSS_NAMES),
        "losses": {name: history[:, k].tolist() for k, name in enumerate(LOSS_NAMES)}})
    info = {"seconds": round(seconds, 3), "iterations": cfg.iters_per_scale,
            "seconds_per_iteration": seconds / cfg.iters_per_scale, "device": str(device),
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "precision": cfg.precision, "layout": dataclasses.asdict(trainer.layout), **info,
            "rec_mse_first_iteration": history[0, LOSS_NAMES.index("rec_mse")].item(),
            "rec_mse": rec_mse, "history": history_path(model_dir, scale).name}
    model.meta = save_scale(model_dir, model.meta, scale, G, noise_amp=trainer.noise_amp, z_opt=trainer.z_opt,
                            real=model.reals[scale], discriminator=D, info=info)
    model.pyramid.add_scale(G, trainer.noise_amp, trainer.z_opt)
    model.discriminators.append(D.eval())


def _train_scale(model: LoadedModel, model_dir: Path, cfg: TrainConfig, *, progress: bool, callback) -> None:
    """Train the model's next scale and commit it (:func:`finish_scale`). The scale continues
    from its saved state if a previous run left one, and saves it every ``cfg.state_every``
    iterations (:mod:`~singanseg_lib.singan.resume`). Not on Ctrl-C: an interrupt inside an
    iteration leaves the networks half-updated, which a state must never hold."""
    from tqdm.auto import tqdm

    trainer = start_scale(model, cfg)
    plan, scale = model.pyramid.plan, trainer.scale
    state = state_path(model_dir, scale)
    before = load_state(trainer, state) if state.exists() else 0.0
    h, w = plan.sizes[scale]
    bar = tqdm(total=cfg.iters_per_scale, initial=trainer.iteration, leave=True, unit="it", disable=not progress,
               desc=f"scale {scale}/{plan.stop_scale} ({h}x{w}, width {plan.widths[scale]})")
    start = time.perf_counter()
    try:
        for it in range(trainer.iteration, cfg.iters_per_scale):
            row = trainer.step()
            bar.update(1)
            if progress and (it % 50 == 0 or it == cfg.iters_per_scale - 1):
                bar.set_postfix(d=f"{row[0].item():.3f}", rec=f"{row[5].item():.4f}")
            if cfg.state_every and (it + 1) % cfg.state_every == 0 and it + 1 < cfg.iters_per_scale:
                save_state(trainer, state, before + time.perf_counter() - start)
            if callback is not None:
                callback(TrainEvent(scale, plan.num_scales, it + 1, cfg.iters_per_scale, row,
                                    before + time.perf_counter() - start, done=it == cfg.iters_per_scale - 1))
    finally:
        bar.close()
    finish_scale(model, trainer, model_dir, cfg, before + time.perf_counter() - start)
    state.unlink(missing_ok=True)
