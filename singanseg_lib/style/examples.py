"""What notebook 04 shows of styled sets: colour gaps to the real images, example grids (Fig 7)
and one image's (content, style) pair at the working size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from singanseg_lib.data.images import read_image, read_mask
from singanseg_lib.sampling.manifest import read_manifest
from singanseg_lib.style.transfer import _style_image, _to_tensor, _work_size

__all__ = ["colour_gaps", "style_examples", "example_pair"]


def colour_gaps(set_dir: str | Path, *, real_dir: str | Path | None = None,
                images: set[str] | None = None) -> dict[str, float]:
    """How far a set's colours are from its real images' (notebook 04).

    Mean over images (``images``: only these names) of |per-channel mean(synthetic) −
    mean(real)| and of the same for the per-channel SD, in grey levels (0-255); the real image
    is resized to the synthetic size as for style transfer.
    """
    set_dir = Path(set_dir)
    mean_gaps, sd_gaps = [], []
    for row in read_manifest(set_dir):
        if images is not None and row["image"] not in images:
            continue
        syn = read_image(set_dir / row["image"]).reshape(-1, 3).astype(np.float64)
        real = _style_image(set_dir, row, real_dir, read_image(set_dir / row["image"]).shape[:2])
        real = real.reshape(-1, 3).astype(np.float64)
        mean_gaps.append(np.abs(syn.mean(0) - real.mean(0)).mean())
        sd_gaps.append(np.abs(syn.std(0) - real.std(0)).mean())
    if not mean_gaps:
        raise ValueError(f"{set_dir}: no images to compare")
    return {"mean_gap": float(np.mean(mean_gaps)), "sd_gap": float(np.mean(sd_gaps)), "images": len(mean_gaps)}


def style_examples(set_dir: str | Path, styled: dict[str, str | Path], *, n: int = 4,
                   real_dir: str | Path | None = None) -> list[dict]:
    """The first ``n`` images styled in every set of ``styled`` ({ratio: folder}), for the Fig. 7 grid."""
    set_dir = Path(set_dir)
    done = [{r["image"] for r in read_manifest(d)} for d in styled.values()]
    rows = [r for r in read_manifest(set_dir) if all(r["image"] in names for names in done)][:n]
    examples = []
    for row in rows:
        generated = read_image(set_dir / row["image"])
        examples.append({"name": row["image"].removesuffix("_img.png"), "generated": generated,
                         "real": _style_image(set_dir, row, real_dir, generated.shape[:2]),
                         "styled": {ratio: read_image(Path(d) / row["image"]) for ratio, d in styled.items()},
                         "mask": read_mask(set_dir / row["mask"])})
    return examples


def example_pair(set_dir: str | Path, row: dict, *, size: int | None = None, real_dir: str | Path | None = None,
                 device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(content, style) of one manifest row as 1×3×h×w tensors in [0, 1], at the working size."""
    set_dir = Path(set_dir)
    image = read_image(set_dir / row["image"])
    hw = _work_size(image.shape[:2], size)
    real = _style_image(set_dir, row, real_dir, image.shape[:2])
    return _to_tensor(image, hw)[None].to(device), _to_tensor(real, hw)[None].to(device)
