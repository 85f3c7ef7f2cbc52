"""UNet++ polyp segmentation as in the paper's baseline experiments, on segmentation-models-pytorch.

The experiments themselves are described in docs/algorithm.md §8.

Fidelity choices, each also recorded with every result:

- **Model**: ``smp.UnetPlusPlus`` with one output channel; encoder ``se_resnext50_32x4d`` in the
  paper preset (ImageNet weights, found through :func:`find_encoder_weights`), a smaller encoder
  in smoke/classroom. The paper put ``softmax2d`` on its last layer, which over one channel is the
  constant 1; we use a **sigmoid** (the model outputs logits; predictions are
  ``sigmoid(logit) > threshold``).
- **Loss**: smp's single-channel Dice loss (``DiceLoss("binary", from_logits=True)``), per batch.
- **Inputs** 128 x 128 (aspect ratio not kept), ImageNet mean/std normalisation, as smp encoders
  expect. Augmentation: the Albumentations pipeline of :mod:`segdata` (the paper: PYRA + Albumentations).
- **Schedule**: Adam, lr 1e-4 for the first 50 epochs, then 1e-5; the checkpoint of the epoch with
  the best validation IoU is kept, and its validation metrics are the result (as the paper does:
  the selection and the report use the same validation fold).
- **Metrics** for the polyp class with smp's functions (``get_stats`` then ``iou_score``,
  ``f1_score``, ``accuracy``, ``recall``, ``precision``), **micro-averaged over the whole validation
  set** (pixel counts summed over all images, then one ratio; the paper does not say which
  reduction it used). The Dice loss reported is smp's soft Dice loss over the whole set at once.
- **Memory layout**: channels-last (``benchmarks/bench_segment.py``, one training step, NCHW time /
  channels-last time on this shared 2-core CPU: classroom encoder 1.40 with 1 thread, median 1.02
  (0.70-1.85) over five runs with 2 threads under load; paper encoder 0.95-1.06: never clearly
  slower, often faster).

Training state is saved (atomically) at epoch ends, so an interrupted training resumes at the
last saved epoch with identical results on the CPU: shuffling and augmentation are reseeded every
epoch from ``(seed, epoch)`` (on a GPU, cuDNN's non-deterministic kernels may change the last
digits). Checkpoints are safetensors (best model, with its config as metadata)
and ``torch.save`` dicts read back with ``weights_only=True`` (training state).
"""
from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from singanseg_lib.kit.files import atomic_write_bytes, atomic_write_json
from singanseg_lib.kit.weights import WEIGHTS, resolve_weights
from singanseg_lib.segmentation.pairs import AUGMENTATIONS, SegmentationArrays, augmentation

__all__ = ["SegmentConfig", "SegmentResult", "ENCODER_WEIGHT_MODES", "METRIC_NAMES", "config_from_params",
           "find_encoder_weights", "encoder_start",
           "build_model", "polyp_metrics", "predict", "evaluate", "train_segmentation", "write_result", "load_segmenter"]

ENCODER_WEIGHT_MODES = ("imagenet", "auto", "none")
METRIC_NAMES = ("dice_loss", "iou", "f_score", "accuracy", "recall", "precision")  # the paper's table columns
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BEST_FILE, STATE_FILE = "best.safetensors", "last.pt"


@dataclass(frozen=True)
class SegmentConfig:
    """UNet++ training settings; defaults are the paper's. Presets set them as ``seg_<field>``."""

    encoder: str = "se_resnext50_32x4d"  # smp encoder name (paper: se_resnext50_32x4d)
    encoder_weights: str = "imagenet"  # imagenet (required) | auto (imagenet if found, else random init) | none
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)  # smp's UNet++ default
    image_size: int = 128  # inputs resized to image_size x image_size (paper: 128)
    epochs: int = 300  # paper: 300 (real vs synthetic), 100 (small data)
    lr: float = 1e-4  # Adam learning rate for the first lr_drop_epoch epochs (paper: 1e-4)
    lr_drop_epoch: int = 50  # from this epoch on, lr_after_drop (paper: 50)
    lr_after_drop: float = 1e-5  # paper: 1e-5
    batch_size: int = 8  # the paper does not say
    augment: bool = True  # Albumentations on training images (segdata.AUGMENTATIONS)
    threshold: float = 0.5  # sigmoid probability above which a pixel is polyp
    channels_last: bool = True  # NHWC memory layout (faster on CPU here, same results up to rounding)

    def __post_init__(self):
        if self.encoder_weights not in ENCODER_WEIGHT_MODES:
            raise ValueError(f"encoder_weights {self.encoder_weights!r}: choose one of {', '.join(ENCODER_WEIGHT_MODES)}")
        for name in ("image_size", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (the encoder downsamples 5 times), got {self.image_size}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass
class SegmentResult:
    """One training: the validation metrics of the best epoch (by IoU) and the per-epoch history."""

    metrics: dict[str, float]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    weights: str = ""  # which encoder weights it started from
    seconds: float = 0.0


def config_from_params(params: dict[str, Any], /, **overrides: Any) -> SegmentConfig:
    """The config from a notebook's parameters: every ``seg_<field>`` entry, then ``overrides``."""
    from singanseg_lib.kit.presets import make_config

    names = {f.name for f in dataclasses.fields(SegmentConfig)}
    values = {k[4:]: v for k, v in params.items() if k.startswith("seg_") and k[4:] in names}
    return make_config(SegmentConfig, values, **overrides)


def find_encoder_weights(encoder: str) -> tuple[Path, str]:
    """The local file with ImageNet weights for ``encoder`` and a label saying what it is.

    The one place weights are looked up: the ``weights`` module's registry finds the
    file offline (or downloads it when online). Raises ``FileNotFoundError`` saying what is needed.
    """
    if encoder not in WEIGHTS:
        raise FileNotFoundError(f"no ImageNet weights registered for the encoder {encoder}\n"
                                f"weights.WEIGHTS has {', '.join(WEIGHTS)}; use seg_encoder_weights 'none' or 'auto'")
    found = resolve_weights(encoder, progress=False)
    return found.path, found.label


def _load_encoder_state(model: nn.Module, path: Path) -> None:
    """Load an ImageNet state dict into ``model.encoder`` (classifier keys dropped); mismatches raise."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    # classification heads: torchvision/pretrainedmodels (fc, last_linear), timm (classifier, and the
    # 1x1 conv_head of MobileNetV3/EfficientNet that sits after the last feature stage)
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "last_linear.", "classifier.", "conv_head."))}
    target = model.encoder
    if not set(state) & set(target.state_dict()) and hasattr(target, "model"):  # timm ("tu-") encoders
        target = target.model
    missing, unexpected = target.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not weights of this encoder ({len(missing)} missing keys, e.g. "
                         f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]})")


def encoder_start(config: SegmentConfig) -> tuple[Path | None, str]:
    """The ImageNet file the encoder starts from (None: random init) and a label saying which.

    ``encoder_weights="imagenet"`` raises when no weights file is found; ``"auto"`` falls back to
    random init and the label says so (every result carries it).
    """
    label = "random init (not comparable with the paper)"
    if config.encoder_weights == "none":
        return None, label
    try:
        path, found = find_encoder_weights(config.encoder)
    except FileNotFoundError as e:
        if config.encoder_weights == "imagenet":
            raise
        return None, f"{label}; ImageNet weights not found: {str(e).splitlines()[0]}"
    return path, f"imagenet ({found})"


def build_model(config: SegmentConfig) -> tuple[nn.Module, str]:
    """A UNet++ with one logit channel, and a label of the weights it starts from (:func:`encoder_start`)."""
    import segmentation_models_pytorch as smp

    model = smp.UnetPlusPlus(config.encoder, encoder_weights=None, classes=1, activation=None,
                             decoder_channels=tuple(config.decoder_channels))
    path, label = encoder_start(config)
    if path is not None:
        _load_encoder_state(model, path)
    return model, label


def _to_input(images: np.ndarray, config: SegmentConfig, device: torch.device) -> torch.Tensor:
    """uint8 N x S x S x 3 -> normalised float N x 3 x S x S on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255)
    x = (x - x.new_tensor(IMAGENET_MEAN)[:, None, None]) / x.new_tensor(IMAGENET_STD)[:, None, None]
    return x.contiguous(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)


def polyp_metrics(probs: torch.Tensor, targets: torch.Tensor, *, threshold: float = 0.5) -> dict[str, float]:
    """The paper's six numbers for the polyp class, micro-averaged over all images.

    ``probs``: N x H x W polyp probabilities in [0, 1]; ``targets``: N x H x W bool or {0, 1}.
    IoU = TP/(TP+FP+FN), F = 2TP/(2TP+FP+FN), accuracy = (TP+TN)/all, recall = TP/(TP+FN),
    precision = TP/(TP+FP), with pixel counts summed over the set (smp ``reduction="micro"``; an
    empty denominator gives 1, smp's default). ``dice_loss``: smp's soft Dice loss of the
    probabilities over the whole set at once.
    """
    import segmentation_models_pytorch as smp

    if probs.shape != targets.shape or probs.ndim != 3:
        raise ValueError(f"probs and targets must both be N x H x W; got {tuple(probs.shape)} and {tuple(targets.shape)}")
    t = targets.long()[:, None]
    p = probs.float()[:, None]
    tp, fp, fn, tn = smp.metrics.get_stats(p, t, mode="binary", threshold=threshold)
    out = {"dice_loss": float(smp.losses.DiceLoss("binary", from_logits=False)(p.reshape(1, 1, -1), t.reshape(1, 1, -1)))}
    for name, fn_ in (("iou", smp.metrics.iou_score), ("f_score", smp.metrics.f1_score),
                      ("accuracy", smp.metrics.accuracy), ("recall", smp.metrics.recall),
                      ("precision", smp.metrics.precision)):
        out[name] = float(fn_(tp, fp, fn, tn, reduction="micro"))
    return out


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, config: SegmentConfig, *, device: torch.device | str = "cpu",
            batch_size: int = 32) -> torch.Tensor:
    """Polyp probabilities N x S x S (CPU float) for uint8 images N x S x S x 3 (already at config size)."""
    device = torch.device(device)
    model.eval()
    out = [torch.sigmoid(model(_to_input(images[i:i + batch_size], config, device)))[:, 0].float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def evaluate(model: nn.Module, data: SegmentationArrays, config: SegmentConfig, *,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """:func:`polyp_metrics` of the model's predictions on ``data``."""
    probs = predict(model, data.images, config, device=device)
    return polyp_metrics(probs, torch.from_numpy(data.masks), threshold=config.threshold)


def _epoch_batches(data: SegmentationArrays, config: SegmentConfig, seed: int, epoch: int, aug):
    """Shuffled (and augmented) uint8 batches of one epoch, reproducible from (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(data), generator=g).tolist()
    if aug is not None:
        aug.set_random_seed(seed * 100_003 + epoch)
    starts = list(range(0, len(order), config.batch_size))
    if len(starts) > 1 and len(order) - starts[-1] == 1:
        starts.pop()  # a last batch of one image joins the one before: batch norm needs two values per channel
    for i, j in zip(starts, starts[1:] + [len(order)]):
        idx = order[i:j]
        images, masks = data.images[idx], data.masks[idx]
        if aug is not None:
            done = [aug(image=im, mask=m.astype(np.uint8)) for im, m in zip(images, masks)]
            images = np.stack([d["image"] for d in done])
            masks = np.stack([d["mask"] for d in done]).astype(bool)
        yield images, masks


def _save_best(model: nn.Module, path: Path, config: SegmentConfig, epoch: int, metrics: dict, weights: str) -> None:
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(config.to_dict()), "epoch": str(epoch), "metrics": json.dumps(metrics),
            "weights": weights}
    # serialised here and written by Python, so a full disk is a DiskFullError naming the file (safetensors'
    # own writer reports it as an opaque SafetensorError)
    atomic_write_bytes(path, save(state, metadata=meta))


def load_segmenter(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[nn.Module, SegmentConfig, dict]:
    """Rebuild a saved best model from its own file: (model in eval mode, config, metadata)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from singanseg_lib.kit.presets import make_config

    path = Path(path)
    if path.is_dir():
        path = path / BEST_FILE
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        config = make_config(SegmentConfig, json.loads(meta["config"]), encoder_weights="none")
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a segmentation checkpoint of this kit ({e})") from None
    model, _ = build_model(config)
    model.load_state_dict(load_file(str(path)))
    meta = {"epoch": int(meta["epoch"]), "metrics": json.loads(meta["metrics"]), "weights": meta.get("weights", "")}
    return model.to(device).eval(), config, meta


def train_segmentation(train: SegmentationArrays, val: SegmentationArrays, config: SegmentConfig, *, seed: int,
                       device: torch.device | str = "cpu", state_dir: str | Path | None = None,
                       progress: bool = True, save_every_s: float = 300.0,
                       on_epoch: Callable[[int, dict], None] | None = None) -> SegmentResult:
    """Train a UNet++ on ``train``, validating on ``val`` after every epoch; keep the best epoch by IoU.

    With ``state_dir``, the best model (``best.safetensors``) and the training state (``last.pt``,
    at most every ``save_every_s`` seconds and when interrupted by an exception) are written
    there, and a call with the same arguments resumes from the saved epoch. ``on_epoch(epoch,
    record)`` sees each epoch's record (e.g. for a live plot).
    """
    import segmentation_models_pytorch as smp
    from tqdm.auto import tqdm

    if len(train) == 1 and config.image_size < 64:
        raise ValueError(f"one training image at {config.image_size} px: the encoder's last feature map is 1 x 1 and "
                         "batch norm needs two values per channel; use image_size >= 64 or more images")
    device = torch.device(device)
    torch.manual_seed(seed)
    model, weights = build_model(config)
    model = model.to(device, memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = smp.losses.DiceLoss("binary", from_logits=True)
    aug = augmentation(seed) if config.augment else None
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": -1, "iou": -1.0, "metrics": {}}
    start, spent = 0, 0.0
    state_dir = Path(state_dir) if state_dir else None
    if state_dir and (state_dir / STATE_FILE).is_file():
        try:
            saved = torch.load(state_dir / STATE_FILE, map_location=device, weights_only=True)
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            history, best, start, spent, weights = (saved["history"], saved["best"], saved["epoch"] + 1,
                                                    saved["seconds"], saved["weights"])
        except Exception as e:  # torch.load raises several unrelated types for a damaged file
            raise ValueError(f"{state_dir / STATE_FILE}: damaged resume state ({type(e).__name__}: {e}); delete it "
                             "to train this run from its first epoch") from None
    t0, last_save = time.perf_counter() - spent, time.perf_counter()

    def save_state(epoch: int) -> None:
        buf = io.BytesIO()  # written by Python: a full disk is a DiskFullError, not torch's RuntimeError
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                    "best": best, "epoch": epoch, "seconds": time.perf_counter() - t0, "weights": weights}, buf)
        atomic_write_bytes(state_dir / STATE_FILE, buf.getvalue())

    bar = tqdm(range(start, config.epochs), desc=f"UNet++ {config.encoder}", disable=not progress, leave=False,
               initial=start, total=config.epochs)
    epoch = start - 1
    try:
        for epoch in bar:
            lr = config.lr if epoch < config.lr_drop_epoch else config.lr_after_drop
            for group in opt.param_groups:
                group["lr"] = lr
            model.train()
            losses = []
            for images, masks in _epoch_batches(train, config, seed, epoch, aug):
                x = _to_input(images, config, device)
                y = torch.from_numpy(masks).to(device)[:, None].float()
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item() * len(images))
            metrics = evaluate(model, val, config, device=device)
            record = {"epoch": epoch, "lr": lr, "train_dice_loss": sum(losses) / len(train),
                      **{f"val_{k}": v for k, v in metrics.items()}}
            history.append(record)
            if metrics["iou"] > best["iou"]:
                best = {"epoch": epoch, "iou": metrics["iou"], "metrics": metrics}
                if state_dir:
                    _save_best(model, state_dir / BEST_FILE, config, epoch, metrics, weights)
            bar.set_postfix(loss=f"{record['train_dice_loss']:.3f}", val_iou=f"{metrics['iou']:.3f}")
            if on_epoch:
                on_epoch(epoch, record)
            if state_dir and time.perf_counter() - last_save > save_every_s:
                save_state(epoch)
                last_save = time.perf_counter()
    except BaseException:
        if state_dir and history and history[-1]["epoch"] == epoch:
            save_state(epoch)  # the epoch finished before the interruption: keep it
        raise
    finally:
        bar.close()
    if state_dir:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    return SegmentResult(best["metrics"], best["epoch"], history, weights, time.perf_counter() - t0)


def write_result(path: str | Path, result: SegmentResult, **extra: Any) -> Path:
    """Write a training's result as JSON (atomically), with ``extra`` fields (config, data, seed...)."""
    return atomic_write_json(path, {**extra, **dataclasses.asdict(result), "augmentations": list(AUGMENTATIONS)})
