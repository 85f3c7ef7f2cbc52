"""The memorisation audit: K samples per model at every start scale, with and without style
transfer, linked back to the real data set (notebook 05b).

For each model: :func:`audit_model` draws ``samples`` seeded samples at every start scale
(0 = all scales random, the paper's setting; ``num_scales`` = the reconstruction, the worst
case) and, optionally, styles each one from its own training image as notebook 04 does (Gatys,
VGG19; masks unchanged). :func:`summarise` pools the samples of all models per (start scale,
styled) and computes, in two feature spaces, the numbers of :mod:`.linkage`:

- ``pixels``: the image resized to ``size`` × ``size`` (antialiased bilinear), flattened, in
  [0, 1]: the plain pixel distance an attacker tries first;
- ``inception``: pool3 of the FID Inception, the features FID compares, on images resized to
  ``inception_size`` (FID: 299; smaller presets use less, since pool3 averages over whatever
  size comes in). Which weights and size were used is recorded (``RealSet.weights``); with
  random weights (no download) the distances are still a fixed non-linear embedding, but not
  the one FID means.

Masks are compared at ``size`` × ``size`` (nearest). Diversity is the pixel SD across one
model's samples (images in [0, 1] at ``size``), averaged over models, as notebook 02 measures
it. :func:`recommend` turns the table into one paragraph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from singanseg_lib.data.images import read_image, read_mask
from singanseg_lib.privacy.linkage import MASK_COPY_IOU, linkage, mask_iou
from singanseg_lib.sampling.generate import generate_samples
from singanseg_lib.singan.models import SinGANPyramid

__all__ = ["FEATURE_SPACES", "INCEPTION_SIZE", "RealSet", "image_features", "real_set", "add_reals", "load_pair",
           "load_reals", "SampleRecord", "audit_model", "summarise", "recommend"]

FEATURE_SPACES = ("pixels", "inception")
INCEPTION_SIZE = 299


def _resize(images01: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(images01.float(), size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def _resize_masks(masks: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5


def _inception(batch: torch.Tensor, net, batch_size: int) -> np.ndarray:
    device = next(net.parameters()).device
    feats = []
    with torch.no_grad():
        for i in range(0, len(batch), batch_size):
            feats.append(net(batch[i:i + batch_size].to(device), dims=(2048,))[2048].double().cpu().numpy())
    return np.concatenate(feats)


def image_features(images01: torch.Tensor, *, size: int = 32, net=None, inception_size: int = INCEPTION_SIZE,
                   batch_size: int = 16) -> dict[str, np.ndarray]:
    """``pixels`` (N × 3·size²) and, with an Inception ``net``, ``inception`` (N × 2048 pool3) features
    of N×3×H×W images in [0, 1]. ``inception_size``: the side images are resized to first (FID: 299;
    pool3 averages over whatever size comes in, so smaller is faster and still one fixed embedding)."""
    out = {"pixels": _resize(images01, size).flatten(1).double().numpy()}
    if net is not None:
        out["inception"] = _inception(_resize(images01, inception_size), net, batch_size)
    return out
@dataclass
class RealSet:
    """The real data set the attacker holds: ids, images (M×3×size×size in [0, 1]), masks
    (M×size×size bool) and their features (computed from each image at its own size);
    ``weights`` names the Inception used (or None)."""

    ids: list[str]
    images: torch.Tensor
    masks: torch.Tensor
    features: dict[str, np.ndarray]
    size: int
    weights: str | None
    inception_size: int = INCEPTION_SIZE

    def index(self, image_id: str) -> int:
        if image_id not in self.ids:
            raise KeyError(f"image {image_id!r} is not in the real set ({len(self.ids)} images: "
                           f"{', '.join(self.ids[:5])}{', ...' if len(self.ids) > 5 else ''})")
        return self.ids.index(image_id)


def _real_parts(images01: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], size: int, net,
                inception_size: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
    # each image resized once from its own size, for the pixels and for Inception alike, as the
    # samples are (a real image is not first shrunk to the pixel size and then blown up)
    images_t = torch.cat([_resize(x[None], size) for x in images01])
    masks_t = torch.cat([_resize_masks(m[None], size) for m in masks])
    features = {"pixels": images_t.flatten(1).double().numpy()}
    if net is not None:
        features["inception"] = _inception(torch.cat([_resize(x[None], inception_size) for x in images01]), net, 16)
    return images_t, masks_t, features


def real_set(ids: Sequence[str], images01: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], *, size: int = 32,
             net=None, inception_size: int = INCEPTION_SIZE) -> RealSet:
    """The real set from tensors: images 3×H×W in [0, 1] and masks H×W bool, any sizes."""
    if len(ids) < 2 or not len(ids) == len(images01) == len(masks):
        raise ValueError(f"the audit ranks real images against each other: need at least 2 ids with one image and "
                         f"one mask each, got {len(ids)} ids, {len(images01)} images, {len(masks)} masks")
    if len(set(ids)) != len(ids):
        raise ValueError(f"real image ids repeat: {sorted({i for i in ids if list(ids).count(i) > 1})}")
    images_t, masks_t, features = _real_parts(images01, masks, size, net, inception_size)
    label = f"{net.label}, images at {inception_size} px" if net is not None else None
    return RealSet(list(ids), images_t, masks_t, features, size, label, inception_size)


def add_reals(reals: RealSet, ids: Sequence[str], images01: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], *,
              net=None) -> RealSet:
    """``reals`` with more images, features computed for the new ones only (``net``: the one ``reals`` used)."""
    if set(ids) & set(reals.ids) or len(set(ids)) != len(ids) or not len(ids) == len(images01) == len(masks):
        raise ValueError(f"new real ids must be new, distinct and one per image and mask: {list(ids)}")
    if (net is None) != ("inception" not in reals.features):
        raise ValueError("add_reals: pass the Inception network the real set was made with (and only then)")
    images_t, masks_t, features = _real_parts(images01, masks, reals.size, net, reals.inception_size)
    return RealSet([*reals.ids, *ids], torch.cat([reals.images, images_t]), torch.cat([reals.masks, masks_t]),
                   {k: np.concatenate([v, features[k]]) for k, v in reals.features.items()},
                   reals.size, reals.weights, reals.inception_size)


def load_pair(image_path, mask_path=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One real image (3×H×W in [0, 1]) and mask (H×W bool), read by the kit's one image and mask
    reader; without ``mask_path`` the mask is the image's alpha channel > 127 (the reference
    fixture's ``polyp_with_4_channels.png``)."""
    if mask_path is not None:
        rgb, mask = read_image(image_path), read_mask(mask_path)
    else:
        from PIL import Image

        with Image.open(image_path) as im:
            if im.mode != "RGBA":
                raise ValueError(f"{image_path}: no mask file given and the image has no alpha channel "
                                 f"(mode {im.mode}) to take the mask from")
            rgba = np.asarray(im)
        rgb, mask = rgba[..., :3], rgba[..., 3] > 127
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255, torch.from_numpy(np.asarray(mask).copy())


def load_reals(pairs: Sequence[tuple[str, object, object]], *, size: int = 32, net=None,
               inception_size: int = INCEPTION_SIZE) -> RealSet:
    """The real set from (id, image file, mask file or None) triples (see :func:`load_pair`)."""
    loaded = [load_pair(p[1], p[2]) for p in pairs]
    return real_set([p[0] for p in pairs], [x for x, _ in loaded], [m for _, m in loaded], size=size, net=net,
                    inception_size=inception_size)


@dataclass
class SampleRecord:
    """The samples of one model at one start scale, styled or not, as the audit compares them."""

    model: str
    source: int
    start_scale: int
    styled: bool
    features: dict[str, np.ndarray]
    masks: np.ndarray  # K × size × size bool
    diversity: float  # pixel SD across the K samples, images in [0, 1] at the audit size


def audit_model(pyramid: SinGANPyramid, name: str, source: int, reals: RealSet, *, samples: int = 3, seed: int = 0,
                start_scales: Sequence[int] | None = None, net=None, vgg=None, st_ratio: str = "1:1000",
                st_steps: int = 20, st_size: int = 64) -> list[SampleRecord]:
    """Records of one model's ``samples`` samples (base seed ``seed``) at each start scale.

    ``start_scales``: default every one, 0 .. number of scales (a shareable export: 0 only).
    With ``vgg``, each sample is also styled from its training image (``reals.images[source]``)
    for ``st_steps`` Adam steps at ``st_size`` × ``st_size`` px (0: the model's finest size), as
    notebook 04 does; the styled image is compared as it comes out of the optimisation.
    """
    from singanseg_lib.style.transfer import transfer_style

    if samples < 2:
        raise ValueError(f"samples must be at least 2 (diversity is an SD across samples), got {samples}")
    if start_scales is None:
        start_scales = [0] if pyramid.shareable else range(pyramid.plan.num_scales + 1)
    start_scales = list(start_scales)
    gens = [generate_samples(pyramid, samples, seed=seed, start_scale=s) for s in start_scales]
    images01 = torch.cat([(g.images + 1) / 2 for g in gens])
    variants = [(False, images01)]
    if vgg is not None:  # all start scales in one batch: they share the style image, and batches are cheaper
        device = next(vgg.parameters()).device
        side = st_size or max(images01.shape[-2:])
        content = _resize(images01, side).to(device)
        style = _resize(reals.images[source:source + 1], side).expand_as(content).to(device)
        styled, _ = transfer_style(content, style, vgg, ratio=st_ratio, steps=st_steps)
        variants.append((True, styled.cpu()))
    out = []
    for styled_flag, x in variants:
        feats = image_features(x, size=reals.size, net=net, inception_size=reals.inception_size)
        for k, (s, g) in enumerate(zip(start_scales, gens)):
            part = slice(k * samples, (k + 1) * samples)
            div = float(_resize(x[part], reals.size).std(dim=0, correction=0).mean())
            out.append(SampleRecord(name, source, s, styled_flag, {sp: f[part] for sp, f in feats.items()},
                                    _resize_masks(g.masks, reals.size).numpy(), div))
    return out


def summarise(records: Sequence[SampleRecord], reals: RealSet) -> list[dict]:
    """One row per (start scale, styled), samples of all models pooled: linkage per feature
    space, mask IoU (median, near-copy share), diversity; sorted by styled, then start scale."""
    groups: dict[tuple[int, bool], list[SampleRecord]] = {}
    for r in records:
        groups.setdefault((r.start_scale, r.styled), []).append(r)
    rows = []
    for (s, styled), recs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        source = np.concatenate([[r.source] * len(r.masks) for r in recs])
        row = {"start_scale": s, "styled": styled, "models": len(recs), "samples": len(source),
               "diversity": float(np.mean([r.diversity for r in recs]))}
        for space in FEATURE_SPACES:
            if space in reals.features and all(space in r.features for r in recs):
                feats = np.concatenate([r.features[space] for r in recs])
                row[space] = linkage(feats, source, reals.features[space]).as_dict()
        iou = np.concatenate([mask_iou(r.masks, reals.masks[r.source].numpy()) for r in recs])
        row["mask_iou_median"] = float(np.median(iou))
        row["mask_copy"] = float((iou >= MASK_COPY_IOU).mean())
        row["flagged"] = any(row[sp]["linked"] or row[sp]["near_copy"] > 0 for sp in FEATURE_SPACES if sp in row) \
            or row["mask_copy"] > 0
        rows.append(row)
    return rows


def _safe(row: dict) -> bool:
    return not row["flagged"]


def recommend(rows: Sequence[dict]) -> str:
    """A plain paragraph: which start scale to share samples from, what it costs in diversity, and
    what style transfer changes. ``rows``: :func:`summarise`'s."""
    plain = sorted((r for r in rows if not r["styled"]), key=lambda r: r["start_scale"])
    if not plain:
        raise ValueError("no unstyled rows to recommend from")
    base = plain[0]
    safe = [r for r in plain if _safe(r)]
    px = base["pixels"]
    text = []
    if not safe:
        text.append(f"No start scale passes: even at start scale {base['start_scale']} the source image is the "
                    f"nearest real image for {px['top1']:.0%} of samples (chance {px['chance_top1']:.0%}) or samples "
                    "are near-copies. Do not present these samples as anonymous; share at most a shareable export "
                    "(start scale 0) with this caveat, and re-audit with more samples.")
    else:
        rec = safe[0]
        rec_px, top = rec["pixels"], rec
        for r in plain[plain.index(rec):]:  # up to the first flagged start scale above it
            if not _safe(r):
                break
            top = r
        cost = 1 - top["diversity"] / base["diversity"] if base["diversity"] > 0 else 0.0
        text.append(f"Share samples from start scale {rec['start_scale']} (top-1 linkage {rec_px['top1']:.0%}, chance "
                    f"{rec_px['chance_top1']:.0%}; no near-copies). Start scales up to {top['start_scale']} stay "
                    f"unflagged, at {cost:.0%} less pixel diversity than start scale {base['start_scale']}.")
        worse = [r for r in plain if not _safe(r) and r["start_scale"] > top["start_scale"]]
        if worse:
            w = worse[0]
            text.append(f"From start scale {w['start_scale']} on the samples give their source away (top-1 "
                        f"{w['pixels']['top1']:.0%}, chance {w['pixels']['chance_top1']:.0%}; mask near-copies "
                        f"{w['mask_copy']:.0%}).")
    styled = {r["start_scale"]: r for r in rows if r["styled"]}
    if base["start_scale"] in styled:
        st = styled[base["start_scale"]]["pixels"]
        change = "raises" if st["top1"] > px["top1"] else "does not raise"
        text.append(f"Style transfer from the training image {change} linkage at start scale {base['start_scale']} "
                    f"(top-1 {px['top1']:.0%} -> {st['top1']:.0%}, AUC {px['auc']:.2f} -> {st['auc']:.2f}).")
    text.append("A shareable export (singanseg export --shareable) can only generate from start scale 0.")
    return " ".join(text)
