"""Gatys style transfer: step 2 of SinGAN-Seg, from each real image onto its synthetic images.

As the reference (``singan-seg/style_transfer.py``) and docs/algorithm.md §6:

- features of torchvision's VGG19 ``features`` at indices 0/5/10/19/21/28 (conv1_1, conv2_1,
  conv3_1, conv4_1, conv4_2, conv5_1), taken after the ReLU that follows each (the reference
  stores the conv output and the next, in-place ReLU overwrites it);
- content loss: MSE at conv5_1; style loss: Σ wₗ · MSE(Gₗ, Ĝₗ) / (c·h·w) over conv1_1…conv5_1
  with wₗ = 0.75, 0.5, 0.25, 0.25, 0.25 and the unnormalised Gram G = F·Fᵀ of one image;
- images in [0, 1] normalised with ImageNet's mean and std; Adam, lr 0.01, on the normalised
  pixels, starting from the content image; 1,000 steps; loss = content_w · content + style_w · style
  with content:style 1:1 or 1:1000; output de-normalised and clamped to [0, 1];
- RGB only: the mask is copied byte for byte; content = the synthetic image, style = its real
  training image resized to the same size (PIL bilinear, as the reference's ``Resize`` on PIL).

A batch holds several images of one size. The reference's Gram over (n·c, h·w) would mix the
images of a batch; here the Gram and both losses are per image and the batch loss is their
sum, so each image gets exactly the gradient (and, Adam being elementwise, the update) it would
get alone. The output is rounded to uint8 (the reference truncates). Images here are in [0, 1],
not the kit's usual [-1, 1].
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn

from singanseg_lib.data.images import read_image
from singanseg_lib.kit.files import OutputExistsError, atomic_write_bytes, save_image
from singanseg_lib.kit.lock import folder_lock
from singanseg_lib.kit.weights import ResolvedWeights, random_init, resolve_weights
from singanseg_lib.sampling.manifest import (
    MANIFEST,
    manifest_columns,
    read_manifest,
    source_of,
    styled_set_name,
    write_manifest,
)

VGG19_TAPS = {"conv1_1": 0, "conv2_1": 5, "conv3_1": 10, "conv4_1": 19, "conv4_2": 21, "conv5_1": 28}
STYLE_LAYERS = {"conv1_1": 0.75, "conv2_1": 0.5, "conv3_1": 0.25, "conv4_1": 0.25, "conv5_1": 0.25}
CONTENT_LAYER = "conv5_1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_RATIOS = ("1:1", "1:1000")
MIN_SIZE = 16  # conv5_1 sits after four 2x max-pools


def parse_ratio(ratio: str) -> tuple[float, float]:
    """``"1:1000"`` → (content weight 1.0, style weight 1000.0)."""
    try:
        content, style = (float(x) for x in str(ratio).split(":"))
    except ValueError:
        raise ValueError(f"ratio {ratio!r} is not content:style, e.g. '1:1000' (the paper's: "
                         f"{', '.join(PAPER_RATIOS)})") from None
    if content < 0 or style < 0 or content + style == 0:
        raise ValueError(f"ratio {ratio!r}: weights must be non-negative and not both 0")
    return content, style


def ratio_tag(ratio: str) -> str:
    """``"1:1000"`` → ``"1_1000"``, the tag of folder names (:func:`styled_set_dir`)."""
    return "_".join(f"{w:g}" for w in parse_ratio(ratio))


class VGGFeatures(nn.Module):
    """VGG19 ``features`` up to the ReLU after conv5_1; ``forward`` gives {layer: N×C×h×w} (post-ReLU).

    ``label`` names the weights (with the random-weights note when they are random).
    """

    def __init__(self, features: nn.Sequential, weights: ResolvedWeights):
        super().__init__()
        self.layers = features[:VGG19_TAPS["conv5_1"] + 2]
        self.weights = weights
        self.taps = {index + 1: name for name, index in VGG19_TAPS.items()}  # the ReLU after each conv
        self.eval().requires_grad_(False)

    @property
    def label(self) -> str:
        return f"VGG19 ({self.weights.label})"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                out[self.taps[i]] = x
        return out


def load_vgg19(*, weights: ResolvedWeights | None = None, weights_path=None, allow_random: bool = False,
               download: bool = True, device: str | torch.device = "cpu", progress: bool = True) -> VGGFeatures:
    """VGG19 with weights from :func:`weights.resolve_weights` ("vgg19"); random (seed 0) only if allowed.
    ``progress``: the download's bar, if one is needed."""
    weights = weights or resolve_weights("vgg19", path=weights_path, allow_random=allow_random, download=download,
                                         progress=progress)
    with random_init(0):
        net = torchvision.models.vgg19(weights=None)
    if not weights.random:
        try:
            net.load_state_dict(weights.state_dict())
        except RuntimeError as e:
            raise ValueError(f"{weights.path}: not torchvision VGG19 weights ({e})") from None
    for m in net.features:
        if isinstance(m, nn.ReLU):
            m.inplace = False  # taps are the ReLU outputs themselves, so no later layer may overwrite them
    return VGGFeatures(net.features, weights).to(device)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrices N×C×C of N×C×h×w features (unnormalised, as the reference)."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2)


def content_loss(features: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-image MSE at conv5_1 (N-vector)."""
    return (features[CONTENT_LAYER] - target[CONTENT_LAYER]).pow(2).flatten(1).mean(1)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-image Σ wₗ · MSE(Gram) / (c·h·w) over the style layers (N-vector)."""
    total = 0
    for name, w in STYLE_LAYERS.items():
        f = features[name]
        _, c, h, wd = f.shape
        total = total + w * (gram(f) - target_grams[name]).pow(2).flatten(1).mean(1) / (c * h * wd)
    return total


def _normalise(images01: torch.Tensor) -> torch.Tensor:
    mean = images01.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images01.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images01 - mean) / std


def _denormalise(x: torch.Tensor) -> torch.Tensor:
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x * std + mean


@dataclass
class StyleHistory:
    """Losses per image while optimising: ``steps`` (S) and S×N arrays; the last entry is the result's."""

    steps: list[int] = field(default_factory=list)
    content: list[np.ndarray] = field(default_factory=list)
    style: list[np.ndarray] = field(default_factory=list)

    def add(self, step: int, content: torch.Tensor, style: torch.Tensor) -> None:
        self.steps.append(step)
        self.content.append(content.detach().cpu().numpy().astype(np.float64))
        self.style.append(style.detach().cpu().numpy().astype(np.float64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps S, content S×N, style S×N)."""
        return np.array(self.steps), np.stack(self.content), np.stack(self.style)


def transfer_style(content01: torch.Tensor, style01: torch.Tensor, vgg: VGGFeatures, *, ratio: str = "1:1000",
                   steps: int = 1000, lr: float = 0.01, record_every: int = 10,
                   progress: bool = False) -> tuple[torch.Tensor, StyleHistory]:
    """Optimise the pixels of ``content01`` (N×3×H×W in [0, 1]) towards the style of ``style01``.

    Returns the styled images (N×3×H×W in [0, 1]) and the losses every ``record_every`` steps,
    plus those of the final images. ``ratio`` is content:style ("1:1", "1:1000").
    """
    from tqdm.auto import tqdm

    if content01.shape != style01.shape or content01.ndim != 4 or content01.shape[1] != 3:
        raise ValueError(f"content and style must both be N×3×H×W, got {tuple(content01.shape)} and "
                         f"{tuple(style01.shape)}")
    if min(content01.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"images of {content01.shape[-1]}×{content01.shape[-2]} px are too small: conv5_1 comes "
                         f"after 4 max-pools, so both sides need at least {MIN_SIZE} px")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    content_w, style_w = parse_ratio(ratio)
    with torch.no_grad():
        target = vgg(_normalise(content01))
        grams = {name: gram(f) for name, f in vgg(_normalise(style01)).items() if name in STYLE_LAYERS}
    x = _normalise(content01).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    history = StyleHistory()
    bar = tqdm(range(steps), desc=f"style {ratio}", unit="step", disable=not progress, leave=False)
    for step in bar:
        optimiser.zero_grad(set_to_none=True)
        features = vgg(x)
        c, s = content_loss(features, target), style_loss(features, grams)
        (content_w * c + style_w * s).sum().backward()  # a sum: each image's gradient is its own
        c, s = c.detach(), s.detach()
        if step % record_every == 0:
            history.add(step, c, s)
            bar.set_postfix(content=f"{c.mean().item():.3g}", style=f"{s.mean().item():.3g}", refresh=False)
        optimiser.step()
    with torch.no_grad():
        features = vgg(x)
        history.add(steps, content_loss(features, target), style_loss(features, grams))
        return _denormalise(x).clamp(0, 1), history


ST_COLUMNS = ("st_ratio", "st_steps", "st_size", "st_weights")


@dataclass
class StyleSummary:
    """What :func:`style_set` did: images styled now (with their first and last losses) or skipped."""

    out_dir: Path
    written: int = 0
    skipped: int = 0
    seconds: float = 0.0
    losses: dict[str, dict[str, float]] = field(default_factory=dict)


def styled_set_dir(set_dir: str | Path, ratio: str) -> Path:
    """Where the styled copy of a set goes: ``<set>_ST-<content>_<style>`` beside it
    (the name is :func:`singanseg_lib.sampling.manifest.styled_set_name`'s)."""
    set_dir = Path(set_dir)
    return set_dir.parent / styled_set_name(set_dir.name, ratio_tag(ratio))


def _work_size(hw: tuple[int, int], size: int | None) -> tuple[int, int]:
    """(h, w) to optimise at: the image's own, or with its longer side ``size`` (aspect kept)."""
    if size is None or max(hw) == size:
        return hw
    scale = size / max(hw)
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def _image_hw(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: listed in the manifest but missing") from None


def _to_tensor(image: np.ndarray, hw: tuple[int, int]) -> torch.Tensor:
    if image.shape[:2] != hw:
        image = np.asarray(Image.fromarray(image).resize((hw[1], hw[0]), Image.Resampling.BICUBIC))
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)


def _at_image_size(styled: torch.Tensor, content: torch.Tensor, image: np.ndarray) -> np.ndarray:
    """The styled image at the size of ``image`` (H×W×3 uint8).

    Optimised at a smaller working size, only the change style transfer made (styled − content)
    is upsampled (bilinear) and added to the full-size generated image: colours and coarse
    texture follow the real image while the generated image's fine detail is kept (resizing the
    small result itself would blur it away, which SIFID would punish).
    """
    if tuple(styled.shape[-2:]) != image.shape[:2]:
        delta = F.interpolate((styled - content)[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0]
        styled = (torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255).to(delta.device) + delta).clamp(0, 1)
    return (styled.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def style_set(set_dir: str | Path, *, ratio: str = "1:1000", steps: int = 1000, size: int | None = None,
              batch_size: int = 4, samples: int | None = None, real_dir: str | Path | None = None,
              out_dir: str | Path | None = None, vgg: VGGFeatures | None = None, allow_random: bool = False,
              weights_path=None, overwrite: bool = False, device: str | torch.device = "cpu",
              progress: bool = True, backend="local") -> StyleSummary:
    """Style every image of a synthetic set with its real image; write ``<set>_ST-<ratio>/``.

    ``size``: optimise at this longer side, then add the upsampled change to the full-size
    image (so it still fits its mask and keeps its detail), None = at the image's own size (the
    reference). ``samples``: only samples 0…N-1 of
    each real image (FAKE-N). Images already styled with the same settings are skipped; one
    styled with other settings raises unless ``overwrite``. The manifest gets ``st_ratio,
    st_steps, st_size, st_weights`` and is rewritten (atomically) after every batch, so an
    interrupted run resumes (files written but not yet listed are made again). ``backend``:
    ``"local"`` (this process) or ``"ray"`` / a :class:`~singanseg_lib.kit.backends.RayBackend`
    (one Ray task per batch: :mod:`~singanseg_lib.style.backends`; the same images).
    """
    from tqdm.auto import tqdm

    from singanseg_lib.kit.backends import resolve_backend

    backend = resolve_backend(backend)
    set_dir = Path(set_dir)
    rows = [r for r in read_manifest(set_dir) if samples is None or r["sample"] < samples]
    if not rows:
        raise ValueError(f"{set_dir}: no synthetic images listed in {MANIFEST} (a set needs one; see CONTRIBUTING.md)")
    columns = manifest_columns(set_dir)
    if set(ST_COLUMNS) & set(columns):
        raise ValueError(f"{set_dir} is already a styled set; style the generated set instead")
    out_dir = Path(out_dir) if out_dir else styled_set_dir(set_dir, ratio)
    with folder_lock(out_dir, "styling a synthetic set"):  # one writer at a time (kit/lock.py)
        vgg = vgg or load_vgg19(weights_path=weights_path, allow_random=allow_random, device=device, progress=progress)
        settings = {"st_ratio": ratio, "st_steps": str(steps), "st_size": str(size or "native"), "st_weights": vgg.label}
        done = {r["image"]: r for r in read_manifest(out_dir)} if out_dir.exists() else {}
        summary, todo = StyleSummary(out_dir), []
        for row in rows:
            old = done.get(row["image"])
            if old and all(old.get(k) == v for k, v in settings.items()) and (out_dir / row["image"]).is_file():
                summary.skipped += 1
            elif old and not overwrite:
                raise OutputExistsError(f"{out_dir / row['image']} was styled with other settings "
                                        f"({', '.join(f'{k}={old.get(k)}' for k in settings)}); pass overwrite=True "
                                        "(CLI: --overwrite) or write to another folder")
            else:
                todo.append(row)
        groups: dict[tuple[int, int], list[dict]] = {}
        for row in todo:
            groups.setdefault(_work_size(_image_hw(set_dir / row["image"]), size), []).append(row)
        batches = [(items[i:i + batch_size], hw) for hw, items in groups.items() for i in range(0, len(items), batch_size)]
        task = dict(ratio=ratio, steps=steps, real_dir=real_dir, out_dir=out_dir)
        if backend == "local":
            results = ((rows, style_batch(set_dir, rows, hw, vgg, **task)) for rows, hw in batches)
        else:
            from singanseg_lib.style.backends import style_batches_on_ray

            results = style_batches_on_ray(set_dir, batches, vgg.weights, backend=backend, **task)
        bar = tqdm(total=len(todo), desc=f"style transfer {ratio}", unit="image", disable=not progress)
        start = time.perf_counter()
        try:
            for batch, losses in results:
                for row in batch:
                    done[row["image"]] = {**row, **settings}
                summary.losses.update(losses)
                summary.written += len(batch)
                write_manifest(out_dir, done.values(), columns + ST_COLUMNS)
                bar.update(len(batch))
        finally:
            summary.seconds = time.perf_counter() - start
            bar.close()
        return summary


def style_batch(set_dir: str | Path, rows: list[dict], hw: tuple[int, int], vgg: VGGFeatures, *, ratio: str,
                steps: int, out_dir: str | Path, real_dir: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Style the images of manifest ``rows`` (all optimised at ``hw``) together and write them and
    their masks to ``out_dir``; returns their first and last losses by image name."""
    set_dir, out_dir = Path(set_dir), Path(out_dir)
    device = next(vgg.parameters()).device
    batch = [(r, read_image(set_dir / r["image"])) for r in rows]
    styles = [_style_image(set_dir, r, real_dir, img.shape[:2]) for r, img in batch]
    content = torch.stack([_to_tensor(img, hw) for _, img in batch]).to(device)
    style = torch.stack([_to_tensor(s, hw) for s in styles]).to(device)
    result, history = transfer_style(content, style, vgg, ratio=ratio, steps=steps, record_every=steps)
    losses = {}
    for j, (row, img) in enumerate(batch):
        save_image(out_dir / row["image"], Image.fromarray(_at_image_size(result[j], content[j], img)))
        atomic_write_bytes(out_dir / row["mask"], (set_dir / row["mask"]).read_bytes())
        losses[row["image"]] = {"content_first": float(history.content[0][j]), "style_first": float(history.style[0][j]),
                                "content_last": float(history.content[-1][j]), "style_last": float(history.style[-1][j])}
    return losses


def _style_image(set_dir: Path, row: dict, real_dir, hw: tuple[int, int]) -> np.ndarray:
    """The row's real image resized to (h, w) as the style step sees it (PIL bilinear)."""
    real = read_image(source_of(set_dir, row, real_dir))
    return np.asarray(Image.fromarray(real).resize((hw[1], hw[0]), Image.Resampling.BILINEAR))
