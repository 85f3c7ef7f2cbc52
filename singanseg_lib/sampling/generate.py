"""Sampling from a trained SinGAN-Seg model: batched, seeded per sample, and what the samples show.

A sample is one run of the pyramid from fresh noise (docs/algorithm.md §5): the coarsest
generator turns noise into a rough layout, every finer one adds detail to the upsampled output of the one below. The
4-channel result is split into an RGB image and a binary mask (channel 4 mapped to [0, 1] and
thresholded at > 0.5, as the reference package does with ``mask_post_processing=True``).

``start_scale`` is the reference's ``gen_start_scale``: scales below it follow the
reconstruction path (stored z_opt), fresh noise is used from it on. 0 (the paper's samples) gives
the most diverse samples; the published package ``singan-seg-polyp`` defaults to 5, which keeps
the training image's layout and varies only details; ``start_scale = number of scales`` is the
reconstruction itself.

Seeds: sample ``k`` of a call with base seed ``s`` draws all its noise from its own
``torch.Generator`` seeded with :func:`sample_seed` ``(s, k)``, scale by scale, on the CPU. So a
batch equals its samples made one by one, any sample can be made again alone from its recorded
seed, and the noise of a seed at a scale is the same whatever the start scale or the device.

Speed: :func:`sampling_copy` folds each BatchNorm (eval mode: a fixed affine map) into its
convolution and stores activations channels-last, the fastest exact layout for these 3x3
convolutions on CPU and GPU (float rounding changes by ~1e-7). ``precision="bfloat16"`` runs the
convolutions in bfloat16 (autocast; residual sums, resizing and thresholds stay float32): on a
CPU with AMX about 2.5x faster, images change by about 1e-3 on average (see the benchmark);
never the default.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from singanseg_lib.singan.models import PAD, SinGANPyramid
from singanseg_lib.singan.noise import draw_noise
from singanseg_lib.singan.pyramid import ScalePlan, resize

__all__ = ["PRECISIONS", "Samples", "sample_seed", "sample_noises", "sampling_copy", "default_batch_size",
           "iter_sample_batches", "generate_from_seeds", "generate_samples", "start_scale_sweep", "to_uint8",
           "polyp_shares",
           "mask_mean_sd", "mask_diversity", "real_mask", "share_summary"]

PRECISIONS = ("float32", "bfloat16")
MAX_SEED = 2**63 - 1


@dataclass
class Samples:
    """Generated samples, on the CPU.

    ``images``: N x 3 x H x W float in [-1, 1]; ``masks``: N x H x W bool; ``seeds[i]`` is the
    seed that regenerates sample i alone, ``indices[i]`` its index k within its call.
    """

    images: torch.Tensor
    masks: torch.Tensor
    seeds: list[int]
    indices: list[int]
    start_scale: int

    def __len__(self) -> int:
        return len(self.seeds)

    @staticmethod
    def concat(parts: Sequence["Samples"]) -> "Samples":
        if not parts:
            raise ValueError("no samples to concatenate")
        return Samples(torch.cat([p.images for p in parts]), torch.cat([p.masks for p in parts]),
                       [s for p in parts for s in p.seeds], [k for p in parts for k in p.indices],
                       parts[0].start_scale)


def sample_seed(base_seed: int, index: int) -> int:
    """The seed of sample ``index`` of a call with ``base_seed``.

    The first 8 bytes of BLAKE2b over ``"singanseg-sample:<base_seed>:<index>"``, big-endian,
    shifted right by one bit: a 63-bit integer that fits every CSV/JSON reader and int64. Nearby
    (base, index) pairs give unrelated seeds, unlike ``base + index``.
    """
    for name, v in (("base_seed", base_seed), ("index", index)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    digest = hashlib.blake2b(f"singanseg-sample:{base_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def sample_noises(plan: ScalePlan, seed: int, *, channels: int = 4, upto: int | None = None) -> list[torch.Tensor]:
    """Noise maps of one sample for scales 0..``upto`` (C x h_s x w_s each), drawn in scale order.

    All scales are drawn even when a start scale makes the coarse ones unused, so that a seed
    gives the same noise at each scale whatever the start scale.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**63 - 1], got {seed!r}")
    upto = plan.stop_scale if upto is None else upto
    gen = torch.Generator().manual_seed(seed)
    return [draw_noise((channels, *plan.sizes[s]), s, generator=gen) for s in range(upto + 1)]


class _Autocast(nn.Module):
    """Runs a generator's convolutions in bfloat16; its residual sum comes back float32."""

    def __init__(self, generator: nn.Module, device_type: str):
        super().__init__()
        self.generator, self.device_type = generator, device_type
        self.pad_size = generator.pad_size

    def forward(self, x: torch.Tensor, prev_padded: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.generator(x, prev_padded).float()


def _fold_batchnorm(block: nn.Module) -> None:
    """conv -> BN(eval) becomes one conv: w * g / sqrt(var + eps), (b - mean) * g / sqrt(var + eps) + beta."""
    conv, bn = block.conv, block.norm
    k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.data.mul_(k[:, None, None, None])
    bias = conv.bias.data if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = nn.Parameter((bias - bn.running_mean) * k + bn.bias, requires_grad=False)
    block.norm = nn.Identity()


def sampling_copy(pyramid: SinGANPyramid, *, precision: str = "float32", fuse: bool = True) -> SinGANPyramid:
    """The pyramid made ready for fast sampling (a copy; ``pyramid`` is untouched).

    ``fuse``: BatchNorm folded into the convolutions and channels-last layout (same maths,
    float rounding differs by ~1e-7). ``fuse=False`` with float32 returns ``pyramid`` itself:
    the exact path of :meth:`SinGANPyramid.generate`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if not fuse and precision == "float32":
        return pyramid
    fast = copy.deepcopy(pyramid)
    for i, g in enumerate(fast.generators):
        if fuse:
            for block in [g.head, *g.body]:
                _fold_batchnorm(block)
            g.to(memory_format=torch.channels_last)
        if precision == "bfloat16":
            fast.generators[i] = _Autocast(g, fast.device.type)
    return fast


def default_batch_size(plan: ScalePlan, device: str | torch.device = "cpu", *, original_size: bool = False) -> int:
    """How many samples to run at once: what fits a memory budget, capped.

    The estimate is the finest scale's live activations (3 maps of its width at the padded size)
    plus the 4-channel outputs. On CUDA the budget is half the free memory (cap 256). On the CPU
    it is 512 MiB, capped at 8: measured here, larger batches bring nothing on a CPU (the finest
    scale is compute-bound and its activations no longer fit the cache), while small batches
    still save the per-call overhead of the small scales.
    """
    device = torch.device(device)
    h, w = plan.sizes[-1]
    per_sample = 4 * (3 * max(plan.widths) * (h + 2 * PAD) * (w + 2 * PAD) + 8 * 4 * h * w)
    if original_size:
        per_sample += 4 * 3 * 4 * plan.original_size[0] * plan.original_size[1]
    if device.type == "cuda":
        budget, cap = torch.cuda.mem_get_info(device)[0] // 2, 256
    else:
        budget, cap = 512 * 2**20, 8
    return int(max(1, min(cap, budget // per_sample)))


def _check_model(pyramid: SinGANPyramid, start_scale: int) -> None:
    plan = pyramid.plan
    if pyramid.num_trained != plan.num_scales:
        raise ValueError(f"the model has {pyramid.num_trained} of its {plan.num_scales} scales trained; "
                         "finish its training before generating")
    if not isinstance(start_scale, int) or not 0 <= start_scale <= plan.num_scales:
        raise ValueError(f"start_scale must be an int in 0..{plan.num_scales} (the model has {plan.num_scales} "
                         f"scales; {plan.num_scales} = the reconstruction), got {start_scale!r}")
    if pyramid.shareable and start_scale > 0:
        pyramid.z_opt(0)  # raises ShareableModelError, which says why only start scale 0 works


def _split(x: torch.Tensor, original_size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """4-channel output -> (N x 3 x H x W image in [-1, 1], N x H x W bool mask), on the CPU."""
    x = x.float().contiguous()
    if original_size is not None:
        h, w = x.shape[-2:]
        x = resize(x, (original_size[0] / h, original_size[1] / w), size=original_size)
    images = x[:, :3].clamp(-1, 1).cpu()
    masks = (x[:, 3] > 0).cpu()  # (x + 1) / 2 > 0.5
    return images, masks


def iter_sample_batches(pyramid: SinGANPyramid, seeds: Sequence[int], *, indices: Sequence[int] | None = None,
                        start_scale: int = 0, batch_size: int | None = None, original_size: bool = False,
                        precision: str = "float32", fuse: bool = True) -> Iterator[Samples]:
    """Generate one :class:`Samples` per batch of ``seeds``, on the pyramid's device.

    ``original_size``: outputs resized (the reference's bicubic resize, on the device) to the
    training image's original resolution; the mask is thresholded after resizing, so its
    edges follow the smooth upsampled channel instead of blocky pixels.
    """
    _check_model(pyramid, start_scale)
    plan, device = pyramid.plan, pyramid.device
    seeds = [int(s) for s in seeds]
    indices = list(range(len(seeds))) if indices is None else list(indices)
    if len(indices) != len(seeds):
        raise ValueError(f"{len(indices)} indices for {len(seeds)} seeds")
    batch_size = batch_size or default_batch_size(plan, device, original_size=original_size)
    model = sampling_copy(pyramid, precision=precision, fuse=fuse)
    layout = torch.channels_last if fuse else torch.contiguous_format
    size = tuple(plan.original_size) if original_size else None
    for i in range(0, len(seeds), batch_size):
        # yielded outside inference mode: a caller that stops iterating (an error while saving)
        # would otherwise stay in it until the generator is collected
        with torch.inference_mode():
            chunk = seeds[i:i + batch_size]
            per_sample = [sample_noises(plan, s, channels=pyramid.channels) for s in chunk]
            noises = [torch.stack([n[s] for n in per_sample]).to(device, memory_format=layout)
                      for s in range(start_scale, plan.num_scales)]
            out = model.generate(noises, start_scale=start_scale, batch=len(chunk))
            images, masks = _split(out, size)
        yield Samples(images, masks, chunk, indices[i:i + batch_size], start_scale)


def generate_from_seeds(pyramid: SinGANPyramid, seeds: Sequence[int], **kwargs) -> Samples:
    """All samples of ``seeds`` at once (see :func:`iter_sample_batches` for the options)."""
    return Samples.concat(list(iter_sample_batches(pyramid, seeds, **kwargs)))


def generate_samples(pyramid: SinGANPyramid, n: int, *, seed: int = 0, first: int = 0, start_scale: int = 0,
                     batch_size: int | None = None, original_size: bool = False, precision: str = "float32",
                     fuse: bool = True) -> Samples:
    """Samples ``first .. first + n - 1`` of base seed ``seed`` (sample k uses ``sample_seed(seed, k)``).

    Defined for notebook 02. Returns images N x 3 x H x W in [-1, 1] and masks N x H x W (bool) at
    the finest scale's size, or at the training image's size with ``original_size``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    indices = list(range(first, first + n))
    return generate_from_seeds(pyramid, [sample_seed(seed, k) for k in indices], indices=indices,
                               start_scale=start_scale, batch_size=batch_size, original_size=original_size,
                               precision=precision, fuse=fuse)


def start_scale_sweep(pyramid: SinGANPyramid, n: int, *, seed: int = 0, start_scales: Sequence[int] | None = None,
                      **kwargs) -> list[dict]:
    """The same ``n`` seeds at each start scale (default: 0 .. number of scales), and how much they vary.

    Defined for notebook 02. One dict per start scale: ``start_scale``, ``samples``
    (:class:`Samples`), ``image_sd`` (pixel-wise SD across the samples, averaged over pixels and
    channels; images in [-1, 1]) and ``mask_sd`` (:func:`mask_diversity`; needs n >= 2).
    """
    start_scales = range(pyramid.plan.num_scales + 1) if start_scales is None else start_scales
    rows = []
    for s in start_scales:
        samples = generate_samples(pyramid, n, seed=seed, start_scale=s, **kwargs)
        rows.append({"start_scale": s, "samples": samples,
                     "image_sd": float(samples.images.std(dim=0, correction=0).mean()) if n > 1 else 0.0,
                     "mask_sd": mask_diversity(samples.masks) if n > 1 else 0.0})
    return rows


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W in [-1, 1] -> N x H x W x 3 uint8, rounded to the nearest level."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


# --- what the samples show (paper Fig 5, 6, 10) -------------------------------------------------

def polyp_shares(masks: torch.Tensor) -> torch.Tensor:
    """Share of polyp pixels of each mask: N x H x W (bool or {0, 1}) -> N floats in [0, 1]."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be N x H x W, got shape {tuple(masks.shape)}")
    return masks.float().mean(dim=(1, 2))


def mask_mean_sd(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-wise mean and standard deviation of N masks (H x W each), as in the paper's Fig 5.

    The SD is the population SD (numpy's ``std``, which the paper's figure used): for binary
    masks ``sqrt(p (1 - p))``, 0 where all samples agree, 0.5 where half of them mark the pixel.
    """
    m = masks.float()
    if m.ndim != 3 or m.shape[0] < 2:
        raise ValueError(f"need N >= 2 masks as N x H x W, got shape {tuple(m.shape)}")
    return m.mean(dim=0), m.std(dim=0, correction=0)


def mask_diversity(masks: torch.Tensor) -> float:
    """One number for how much the masks of one model differ: the mean of the SD map over pixels."""
    return float(mask_mean_sd(masks)[1].mean())


def real_mask(reals: Sequence[torch.Tensor]) -> torch.Tensor:
    """The training mask at the finest scale (H x W bool) from a model's stored real pyramid.

    It is the mask exactly as the model saw it (resized with the image, then > 0.5 in [0, 1]),
    so its polyp share compares one to one with the generated masks.
    """
    if not reals:
        raise ValueError("the model stores no real images")
    finest = reals[-1]
    if finest.ndim != 4 or finest.shape[1] < 4:
        raise ValueError(f"the finest real image has shape {tuple(finest.shape)}; expected 1 x 4 x H x W")
    return (finest[0, 3] > 0).cpu()


def share_summary(shares: torch.Tensor | Sequence[float]) -> dict[str, float]:
    """Mean, SD, median and quartiles of polyp shares (fractions in [0, 1]) and how many."""
    s = torch.as_tensor(shares, dtype=torch.float64).flatten()
    if s.numel() == 0:
        raise ValueError("no polyp shares given")
    q = torch.quantile(s, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).tolist()
    return {"n": int(s.numel()), "mean": float(s.mean()), "sd": float(s.std(correction=0)),
            "q25": q[0], "median": q[1], "q75": q[2], "empty": float((s == 0).double().mean())}
