"""Figures of notebook 03 (published generators): reconstruction check, samples, statistics, comparison.

Images are tensors in [-1, 1]: a real or reconstructed 1 x 4 x H x W (RGB + mask channel), or
samples as ``images`` N x 3 x H x W with ``masks`` N x H x W (bool), the layout of
``generate.Samples``.
"""
from __future__ import annotations

import numpy as np
import torch

from singanseg_lib.viz.core import image_grid, new_figure, overlay_mask

__all__ = ["plot_reconstruction_check", "plot_samples", "plot_sample_statistics", "plot_published_vs_kit"]


def _split4(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1 x 4 x H x W -> (3 x H x W image, H x W bool mask), mask = channel 4 > 0 (0.5 in [0, 1])."""
    return x[0, :3], x[0, 3] > 0


def plot_reconstruction_check(check: dict):
    """Real | the reference's reconstruction | the kit's | their difference (mean |RGB|, x 5).

    ``check``: :func:`singanseg_lib.published.replay.compare_reconstructions`.
    """
    fig, axes = new_figure(1, 4, size=2.6)
    panels = [("real (finest scale)", check["real"]),
              (f"reference path\nRMSE to real {check['rmse_reference']:.3f}", check["reference"]),
              (f"kit path\nRMSE to real {check['rmse_kit']:.3f}", check["kit"])]
    for ax, (title, x) in zip(axes[0], panels):
        img, mask = _split4(x)
        ax.imshow(overlay_mask(img, mask))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    diff = (check["kit"] - check["reference"])[0, :3].abs().mean(0).numpy()
    im = axes[0][3].imshow(np.clip(diff * 5, 0, 1), cmap="magma", vmin=0, vmax=1)
    axes[0][3].set_title(f"|kit - reference| x 5\nRMSE {check['rmse_kit_vs_reference']:.3f}", fontsize=8)
    axes[0][3].axis("off")
    fig.colorbar(im, ax=axes[0][3], fraction=0.046)
    fig.tight_layout()
    return fig


def plot_samples(real: torch.Tensor, images: torch.Tensor, masks: torch.Tensor, *, per_row: int = 5,
                 title: str | None = None):
    """The real image, then the samples, each with its mask outlined."""
    rimg, rmask = _split4(real)
    tiles = [overlay_mask(rimg, rmask)] + [overlay_mask(i, m) for i, m in zip(images, masks)]
    names = ["real"] + [f"sample {k}  ({float(m.float().mean()):.0%} polyp)" for k, m in enumerate(masks)]
    rows = [tiles[i:i + per_row] for i in range(0, len(tiles), per_row)]
    titles = [names[i:i + per_row] for i in range(0, len(names), per_row)]
    return image_grid(rows, titles=titles, suptitle=title)


def plot_sample_statistics(real: torch.Tensor, images: torch.Tensor, masks: torch.Tensor):
    """Per-channel mean and SD of the samples against the real image; polyp share of each sample."""
    fig, axes = new_figure(1, 2, size=3.4)
    ax = axes[0][0]
    names = ["R", "G", "B"]
    x = np.arange(3)
    r_mean, r_sd = real[0, :3].mean(dim=(1, 2)).numpy(), real[0, :3].std(dim=(1, 2)).numpy()
    s_mean, s_sd = images.mean(dim=(0, 2, 3)).numpy(), images.std(dim=(2, 3)).mean(0).numpy()
    ax.bar(x - 0.2, r_mean, 0.4, yerr=r_sd, label="real", color="0.6", capsize=3)
    ax.bar(x + 0.2, s_mean, 0.4, yerr=s_sd, label="samples", color="tab:blue", capsize=3)
    ax.set_xticks(x, names)
    ax.set_ylabel("mean ± SD in [-1, 1]")
    ax.legend(fontsize=8)
    ax.set_title("colour statistics", fontsize=9)
    ax = axes[0][1]
    shares = masks.float().mean(dim=(1, 2)).numpy()
    ax.plot(np.arange(len(shares)), shares * 100, "o", color="tab:blue", label="samples")
    ax.axhline(float((real[0, 3] > 0).float().mean()) * 100, color="0.4", ls="--", label="real")
    ax.set_xlabel("sample")
    ax.set_ylabel("polyp share of the image (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("mask size", fontsize=9)
    fig.tight_layout()
    return fig


def plot_published_vs_kit(real: torch.Tensor, published: tuple[torch.Tensor, torch.Tensor],
                          kit: tuple[torch.Tensor, torch.Tensor], *, labels: tuple[str, str] = ("published", "kit"),
                          n: int = 4):
    """Two rows of samples of the same image: the published generator's and the kit-trained one's."""
    rimg, rmask = _split4(real)
    rows, names = [], []
    for label, (images, masks) in zip(labels, (published, kit)):
        rows.append([overlay_mask(rimg, rmask)] + [overlay_mask(i, m) for i, m in zip(images[:n], masks[:n])])
        names.append(["real"] + [f"{label} {k}" for k in range(min(n, len(images)))])
    return image_grid(rows, titles=names, row_labels=list(labels))
